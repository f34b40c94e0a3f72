"""Bounded retries of lake operations that failed on a transient object-store error.

delta-rs's object store retries a request that fails before its response starts, but not a
response body that is cut short or a connection reset mid-read ("error reading a body from
connection", "connection reset"): those surface as ``OSError`` from ``DeltaTable`` and
``write_deltalake``. Reading the lake is idempotent, and so is an ingest commit (an application
transaction keys it), so such operations are simply run again, a bounded number of times with
jittered exponential backoff. Anything else is raised at once.

>>> transient(OSError("Generic S3 error: error reading a body from connection"))
True
>>> transient(OSError("Schema error: field not found"))
False
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_TRANSIENT = (
    "error reading a body",
    "error sending request",
    "connection reset",
    "connection closed",
    "connection refused",
    "broken pipe",
    "incomplete message",
    "unexpected eof",
    "timed out",
    "timeout",
    "internalerror",
    "internal error",
    "service unavailable",
    "slowdown",
    "500 internal server error",
    "503",
    "body error",
)
ATTEMPTS = 10
BASE_DELAY_S = 0.2
MAX_DELAY_S = 5.0


def transient(err: BaseException) -> bool:
    """Whether ``err`` (or an error it was raised from) is a transient object-store failure."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError | ConnectionError | TimeoutError) or type(e).__name__ in (
            "DeltaError", "CommitFailedError", "LakeWriteError",
        ):
            text = str(e).lower()
            if isinstance(e, ConnectionError | TimeoutError) or any(t in text for t in _TRANSIENT):
                return True
        e = e.__cause__ or e.__context__
    return False


def retrying(op: Callable[[], T], *, attempts: int = ATTEMPTS, what: str = "lake operation") -> T:
    """``op()``, run again on a transient error (see :func:`transient`), at most ``attempts`` times."""
    for attempt in range(1, attempts + 1):
        try:
            return op()
        except Exception as err:
            if attempt == attempts or not transient(err):
                raise
            delay = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1))
            time.sleep(random.uniform(delay / 2, delay))
    raise AssertionError("unreachable")
