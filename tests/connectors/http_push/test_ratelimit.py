"""Token buckets per caller, on an injected clock."""

from __future__ import annotations

from connectors.http_push.ratelimit import RateLimiter, retry_after_header


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_burst_is_allowed_then_refused_with_the_wait_until_the_next_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_s=2, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == 0.5
    clock.t += 0.5
    assert limiter.acquire("a") == 0.0


def test_callers_have_separate_buckets() -> None:
    limiter = RateLimiter(requests_per_s=1, burst=1, clock=FakeClock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_bucket_never_refills_beyond_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_s=10, burst=2, clock=clock)
    limiter.acquire("a")
    clock.t += 3600
    assert [limiter.acquire("a") > 0 for _ in range(3)] == [False, False, True]


def test_idle_buckets_are_evicted_to_bound_memory() -> None:
    limiter = RateLimiter(requests_per_s=1, burst=1, max_keys=2, clock=FakeClock())
    for key in ("a", "b", "c"):
        limiter.acquire(key)
    assert len(limiter._buckets) == 2


def test_retry_after_is_whole_seconds_and_never_zero() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.2) == "2"
