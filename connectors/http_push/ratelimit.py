"""Per-caller token buckets.

Each caller (token ``sub``) owns a bucket of ``burst`` tokens refilled at ``requests_per_s``.
:meth:`RateLimiter.acquire` takes one token and returns ``0.0``, or — when the bucket is empty —
the seconds until a token is available (the ``Retry-After`` value); nothing is taken then.
Buckets are kept in memory per process (a restart refills them) and idle ones are evicted so
the map stays bounded. Thread-safe.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per key; ``clock`` is injectable for tests."""

    def __init__(
        self,
        *,
        requests_per_s: float,
        burst: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_s <= 0 or burst < 1:
            raise ValueError("requests_per_s must be > 0 and burst >= 1")
        self.rate = requests_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, key: str) -> float:
        """Take a token for ``key``: 0.0 if allowed, else seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.pop(key, None) or _Bucket(tokens=float(self.burst), updated=now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets[key] = bucket  # most recently used last
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """``Retry-After`` wants whole seconds; never advertise 0 for a refused request."""
    return str(max(1, math.ceil(wait_s)))
