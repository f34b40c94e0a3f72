"""A sample of the kill-point campaign in the test suite (the whole campaign: ``python -m
tests.harness.killpoints``): for each path, the kill moments around its commits, then one re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.killpoints import SCENARIOS, plan, trial

pytestmark = [pytest.mark.slow, pytest.mark.network]

AROUND_COMMITS = ("ingest.after_bronze_commit", "ingest.after_quarantine_commit")


@pytest.mark.parametrize("name", ["drop", "pull", "s3-lake-ambiguous"])
def test_every_kill_around_a_commit_converges_on_the_first_rerun(name: str, tmp_path: Path) -> None:
    p = plan(SCENARIOS[name], tmp_path)
    chosen = [pt for pt in p.points if pt.rpartition("@")[0] in AROUND_COMMITS
              or pt.startswith(("drop.archive", "pipeline.pull.after_commit"))][:3]
    assert chosen, f"{name}: the clean run crossed none of {AROUND_COMMITS}: {p.points}"
    for point in chosen:
        t = trial(p, tmp_path, point=point)
        assert t.killed and t.landed == point, t
        assert t.ok, (point, t.violations)
