"""When the push sensor requests a run for a pending batch (the decision, without Dagster)."""

from __future__ import annotations

from connectors.http_push.pending import PastRun, decide

KEY = "psp:20261103T080000000000Z-1a2b3c4d:ab12"


def run(n: int, state: str = "finished", status: str = "FAILURE", at: float = 0.0) -> PastRun:
    key = KEY if n == 1 else f"{KEY}:r{n}"
    return PastRun(f"run-{n}", key, state, status, created_at=at, ended_at=at + 5)  # type: ignore[arg-type]


def test_a_new_batch_is_requested_under_its_base_key() -> None:
    assert decide(base_key=KEY, runs=[], now=100).run_key == KEY


def test_nothing_is_requested_while_a_run_for_the_batch_is_in_flight() -> None:
    assert decide(base_key=KEY, runs=[run(1, "in_flight", "STARTED")], now=10_000).run_key is None
    both = [run(1), run(2, "in_flight", "QUEUED", at=100)]
    assert decide(base_key=KEY, runs=both, now=10_000).run_key is None


def test_a_batch_still_pending_after_its_run_ended_is_requested_again_after_a_backoff() -> None:
    failed = [run(1, at=100)]
    assert decide(base_key=KEY, runs=failed, now=110).run_key is None  # 30 s after the end
    again = decide(base_key=KEY, runs=failed, now=136)
    assert again.run_key == f"{KEY}:r2" and again.give_up is None
    twice = [run(1, at=100), run(2, at=200)]
    assert decide(base_key=KEY, runs=twice, now=230).run_key is None  # 60 s after the second
    assert decide(base_key=KEY, runs=twice, now=266).run_key == f"{KEY}:r3"


def test_a_run_created_but_never_launched_is_launched_under_its_own_key() -> None:
    created = [run(1, "not_started", "NOT_STARTED", at=100)]
    assert decide(base_key=KEY, runs=created, now=110).run_key is None
    assert decide(base_key=KEY, runs=created, now=200).run_key == KEY


def test_after_three_runs_the_batch_is_given_up_naming_the_runs() -> None:
    runs = [run(1, at=100), run(2, at=200, status="SUCCESS"), run(3, at=300)]
    decision = decide(base_key=KEY, runs=runs, now=10_000)
    assert decision.run_key is None
    assert decision.give_up is not None
    assert "run-1 (FAILURE), run-2 (SUCCESS), run-3 (FAILURE)" in decision.give_up
