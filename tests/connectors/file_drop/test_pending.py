"""When the drop sensor requests a run (again): never twice at once, again when a run failed, died
or never started, with backoff; ignored entries reported once."""

from __future__ import annotations

from pathlib import Path

from connectors.file_drop import DroppedFile, IgnoredEntry
from connectors.file_drop.pending import DropCursor, PastRun, decide

KEY = "drop:abc:1"
T = 30.0


def _decide(runs: list[PastRun], *, now: float = 1000.0, requested_at: float | None = None,
            stranded: bool = False) -> str | None:
    return decide(drop_key=KEY, requested_at=requested_at, runs=runs, now=now, retry_after=T,
                  stranded=stranded).run_key


def test_a_new_file_is_requested_under_its_drop_key_once() -> None:
    assert _decide([]) == KEY
    assert _decide([], requested_at=990.0) is None  # the daemon is still creating its run


def test_a_file_whose_run_is_queued_or_running_is_never_requested_again() -> None:
    running = PastRun(KEY, "in_flight", created_at=0.0)
    assert _decide([running], now=100_000.0) is None


def test_a_requested_run_that_never_started_is_requested_again_after_the_bound() -> None:
    assert _decide([], now=1000.0, requested_at=1000.0 - T - 1) == KEY  # the run was never created
    created = PastRun(KEY, "not_started", created_at=990.0)
    assert _decide([created]) is None
    assert _decide([created], now=990.0 + T + 1) == KEY  # its own key: Dagster launches that run


def test_a_file_back_in_the_folder_after_a_failed_run_is_requested_with_a_new_key_and_backoff() -> None:
    failed = PastRun(KEY, "finished", created_at=900.0, ended_at=950.0)
    assert _decide([failed], now=960.0) is None
    assert _decide([failed], now=950.0 + T + 1) == f"{KEY}:r2"
    retried = PastRun(f"{KEY}:r2", "finished", created_at=990.0, ended_at=1000.0)
    assert _decide([failed, retried], now=1000.0 + T + 1) is None  # the second wait is twice as long
    assert _decide([failed, retried], now=1000.0 + 2 * T + 1) == f"{KEY}:r3"


def test_a_stranded_file_is_requested_although_dagster_still_thinks_its_run_is_running() -> None:
    dead = PastRun(KEY, "in_flight", created_at=900.0)
    assert _decide([dead], stranded=True) == f"{KEY}:r2"


def test_the_cursor_remembers_hashes_and_forgets_files_that_left() -> None:
    cursor = DropCursor()
    f = DroppedFile(Path("/d/a.csv"), 10, 5, "f" * 64, dev=1, ino=2)
    gone = DroppedFile(Path("/d/b.csv"), 10, 5, "e" * 64, dev=1, ino=3)
    for g in (f, gone):
        assert cursor.due(g, 100.0)
        cursor.record(g, decide(drop_key=KEY, requested_at=None, runs=[], now=100.0, retry_after=T), 100.0)
    again = DropCursor.load(cursor.dump())
    assert again.known_hashes() == {f.ident: "f" * 64, gone.ident: "e" * 64}
    assert not again.due(f, 110.0) and again.due(f, 100.0 + T)
    assert again.requested_at(f) == 100.0
    assert DropCursor.load(again.dump()).known_hashes() == {f.ident: "f" * 64}


def test_each_ignored_entry_is_reported_once_while_it_stays() -> None:
    note = IgnoredEntry(Path("/d/notes.txt"), "no pattern", "1:9:notes.txt")
    cursor = DropCursor()
    assert cursor.to_report([note]) == [note]
    cursor = DropCursor.load(cursor.dump())
    assert cursor.to_report([note]) == []
    cursor = DropCursor.load(cursor.dump())
    assert cursor.to_report([]) == []
    assert DropCursor.load(cursor.dump()).to_report([note]) == [note]  # it left and came back
    assert DropCursor.load("{not json").files == {} and DropCursor.load('{"drop:x": "a.csv"}').files == {}
