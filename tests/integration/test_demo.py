"""The README's main command, end to end in a fresh home: builds the lake, and is idempotent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

REPO = Path(__file__).resolve().parents[2]


def _demo(home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAESTRO_HOME": str(home)}
    for var in ("MAESTRO_LAKE_URI", "MAESTRO_CATALOG_PATH", "MAESTRO_SOURCES", "DAGSTER_HOME"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "orchestration.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_the_main_command_builds_the_lake_and_a_second_run_commits_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _demo(home)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "main job succeeded" in first.stdout
    assert "Committed" in first.stdout and "new rows" in first.stdout and "Nothing new" not in first.stdout
    assert "Asset checks:" in first.stdout and "inputs_accepted" not in first.stdout
    assert str(home / "catalog.duckdb") in first.stdout
    # All five source kinds fed the lake, and the summary says which.
    for kind in ("(csv)", "(file_drop)", "(s3)", "(http_pull)", "(http_push)"):
        assert kind in first.stdout, kind
    # Quality, cost and SLOs: the history tables are in the catalog and the HTML report has plots.
    report = home / "reports" / "platform.html"
    assert f"file://{report}" in first.stdout
    assert report.read_text().count("data:image/png;base64,") >= 4

    versions = {p.name: DeltaTable(str(p)).version() for p in (home / "lake" / "bronze").iterdir()}
    # Before the second run, an unreadable file lands in the drop folder: rejected whole, named.
    garbage = home / "landing" / "drop" / "orders" / "orders_2026-11-09.csv"
    garbage.write_bytes(bytes(range(128, 256)) * 64 + b"\n")
    os.utime(garbage, (garbage.stat().st_mtime - 3600,) * 2)
    second = _demo(home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Nothing new: every input was already committed; no rows were added." in second.stdout
    rejected = [ln for ln in second.stdout.splitlines() if ln.startswith("input rejected whole (orders)")]
    assert len(rejected) == 1 and "orders_2026-11-09.csv" in rejected[0] and "utf-8" in rejected[0]
    assert "FAIL bronze/orders:inputs_accepted" in second.stdout
    assert {p.name: DeltaTable(str(p)).version() for p in (home / "lake" / "bronze").iterdir()} == versions

    # Every drop file was archived (twice now, with its manifest), none left behind or lost.
    drop = home / "landing" / "drop" / "orders"
    assert not list(drop.glob("*.csv"))
    archived = list((drop / "_archive").rglob("*.csv"))
    assert len(archived) == 6 and len(list((drop / "_archive").rglob("*.manifest.json"))) == 6

    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from metrics.cost").fetchone()[0] >= 5
        assert con.execute("select count(*) from metrics.slo").fetchone()[0] >= 5
        for layer in ("bronze", "quarantine"):
            for ds in ("customers", "orders", "payments", "products", "shipments"):
                delta_rows = DeltaTable(str(home / "lake" / layer / ds)).to_pyarrow_table().num_rows
                assert con.execute(f"select count(*) from {layer}.{ds}").fetchone()[0] == delta_rows
    finally:
        con.close()

    # Provenance: the lineage CLI answers from the ledger. Upstream of a mart reaches its bronze
    # table and the source files; a mart column's lineage names the source columns.
    def lineage(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "orchestration.cli", "lineage", *args],
                             cwd=REPO, env={**os.environ, "MAESTRO_HOME": str(home)},
                             capture_output=True, text=True, timeout=120, check=True)
        return json.loads(out.stdout)

    mart = f"duckdb://{home / 'catalog.duckdb'}/marts.daily_revenue"
    upstream = json.dumps(lineage("upstream", mart))
    assert str(home / "lake" / "bronze" / "orders") in upstream
    assert "_archive" in upstream and "orders_2026-11-01.csv" in upstream
    columns = lineage("columns", mart, "revenue_eur")
    sources = {(s["name"].rsplit("/", 1)[-1], s["field"]) for s in columns["sources"]}
    assert any(name.endswith("orders_2026-11-01.csv") and field == "amount" for name, field in sources)
    runs = lineage("runs", f"file://{home / 'lake' / 'bronze' / 'orders'}")
    assert runs["runs"], runs

    # The ledger verifies clean with the exported public key.
    verify = subprocess.run([sys.executable, "-m", "orchestration.cli", "ledger", "verify"], cwd=REPO,
                            env={**os.environ, "MAESTRO_HOME": str(home)}, capture_output=True, text=True,
                            timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
