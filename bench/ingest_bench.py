"""Ingest benchmark: the project's ingest path against the floor, measured in the same run.

Generates a mixed-type CSV (12 columns, about 125 bytes a row: 2,000,000 rows is ~250 MB), then
times, each in a fresh child process so peak RSS is measured per path:

- floor:  ``polars.read_csv(path).write_delta(table)`` with no checks;
- ingest: the project's path (sha256 of the input, streaming CSV read, contract enforcement with
  quarantine and duplicate detection, idempotent Delta commits of bronze and quarantine).

Prints wall time, CPU time (all threads), rows/s, peak RSS and the ratio to the floor. With
``--repeat N`` the two paths run N times each, alternating, and the table shows medians (the ratio
is the median of the N paired ratios): on a shared machine single runs are noise. Not a test: run
it by hand with ``make bench`` or
``.venv/bin/python bench/ingest_bench.py --rows 2000000 --rows 10000000 --repeat 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONTRACT = """
name: bench_events
version: 1.0.0
owner: bench@example.com
description: Synthetic mixed-type events for the ingest benchmark.
primary_key: [event_id]
columns:
  - {name: event_id, type: int64, nullable: false, constraints: {min: 1}}
  - {name: account_id, type: int64, nullable: false, constraints: {min: 1}}
  - {name: event_ts, type: timestamp, nullable: false}
  - {name: event_date, type: date, nullable: false}
  - {name: kind, type: string, nullable: false, constraints: {allowed_values: [view, click, buy, refund]}}
  - {name: country, type: string, nullable: false, constraints: {pattern: '^[A-Z]{2}$'}}
  - {name: amount, type: float64, nullable: true, constraints: {min: 0, max: 100000}}
  - {name: quantity, type: int32, nullable: false, constraints: {min: 0, max: 10000}}
  - {name: is_mobile, type: boolean, nullable: false}
  - {name: score, type: float64, nullable: true}
  - {name: session, type: string, nullable: false, constraints: {max_length: 64}}
  - {name: note, type: string, nullable: true}
"""


def generate(path: Path, rows: int, *, seed: int = 7, chunk: int = 500_000) -> None:
    """Write ``rows`` rows in chunks (bounded memory); about 1 in 1,000 rows breaks a rule."""
    import polars as pl

    rng = np.random.default_rng(seed)
    countries = np.array(["DE", "FR", "GB", "IE", "NL", "ES", "IT", "US"])
    kinds = np.array(["view", "click", "buy", "refund"])
    with open(path, "wb") as f:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start + 1, start + n + 1)
            ts = 1_790_000_000 + rng.integers(0, 86_400 * 30, n)
            amount = np.round(rng.gamma(2.0, 40.0, n), 2).astype(str)
            bad = rng.random(n) < 0.001
            amount[bad] = "n/a"
            df = pl.DataFrame(
                {
                    "event_id": ids,
                    "account_id": rng.integers(1, 200_000, n),
                    "event_ts": pl.from_epoch(pl.Series(ts), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "event_date": pl.from_epoch(pl.Series(ts), time_unit="s").dt.strftime("%Y-%m-%d"),
                    "kind": kinds[rng.integers(0, 4, n)],
                    "country": countries[rng.integers(0, 8, n)],
                    "amount": amount,
                    "quantity": rng.integers(0, 20, n),
                    "is_mobile": rng.random(n) < 0.6,
                    "score": np.round(rng.random(n), 6),
                    "session": [f"s-{x:016x}{y:016x}" for x, y in rng.integers(0, 2**62, (n, 2))],
                    "note": np.where(rng.random(n) < 0.7, "", "checked by the fraud rules"),
                }
            )
            df.write_csv(f, include_header=start == 0)


def run_floor(csv_path: str, table: str) -> dict:
    import polars as pl

    t0, c0 = time.perf_counter(), time.process_time()
    df = pl.read_csv(csv_path, ignore_errors=True)  # no checks: unparsable values become null
    df.write_delta(table)
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "rows": df.height}


def run_ingest(csv_path: str, lake_root: str, contract_path: str) -> dict:
    from connectors.csv import CsvSource, CsvSourceConfig
    from contracts.loader import load_contract
    from lake.delta import Lake
    from pipeline.ingest import ingest_object

    contract = load_contract(contract_path)
    t0, c0 = time.perf_counter(), time.process_time()
    src = CsvSource(CsvSourceConfig(name="bench_csv", dataset=contract.name, paths=[csv_path]))
    obj = src.discover()[0]
    result = ingest_object(src, obj, contract, Lake(root=lake_root))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "rows": result.counts.read, "summary": result.summary()}


def _child(mode: str, args: list[str]) -> dict:
    """Run one path in a fresh interpreter; return its result plus its own peak RSS."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"import bench.ingest_bench as b; r = b.run_{mode}(*{args!r}); "
        "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
        "print(json.dumps(r, default=str))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, action="append", help="rows to generate (repeatable)")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each path, alternating")
    args = parser.parse_args(argv)
    sizes = args.rows or [2_000_000]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="maestro-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    contract_path = work / "bench_events.yaml"
    contract_path.write_text(CONTRACT)
    results = []
    try:
        for rows in sizes:
            csv_path = work / f"events_{rows}.csv"
            if not csv_path.exists():
                print(f"generating {rows:,} rows -> {csv_path}", file=sys.stderr)
                generate(csv_path, rows)
            size_mb = csv_path.stat().st_size / 1e6
            floors, ingests = [], []
            for _ in range(max(1, args.repeat)):
                floors.append(_child("floor", [str(csv_path), str(work / f"floor_{rows}")]))
                lake = str(work / f"lake_{rows}")
                ingests.append(_child("ingest", [str(csv_path), lake, str(contract_path)]))
                shutil.rmtree(work / f"floor_{rows}", ignore_errors=True)
                shutil.rmtree(work / f"lake_{rows}", ignore_errors=True)
            floor_s = statistics.median(r["wall_s"] for r in floors)
            ingest_s = statistics.median(r["wall_s"] for r in ingests)
            ratios = [i["wall_s"] / f["wall_s"] for f, i in zip(floors, ingests, strict=True)]
            row = {
                "rows": rows,
                "csv_mb": round(size_mb, 1),
                "runs": len(floors),
                "floor_s": round(floor_s, 2),
                "floor_cpu_s": round(statistics.median(r["cpu_s"] for r in floors), 2),
                "floor_rss_mb": round(max(r["peak_rss_mb"] for r in floors)),
                "ingest_s": round(ingest_s, 2),
                "ingest_cpu_s": round(statistics.median(r["cpu_s"] for r in ingests), 2),
                "ingest_rows_per_s": round(rows / ingest_s),
                "ingest_rss_mb": round(max(r["peak_rss_mb"] for r in ingests)),
                "ratio_to_floor": round(statistics.median(ratios), 2),
                "floor_s_all": [round(r["wall_s"], 2) for r in floors],
                "ingest_s_all": [round(r["wall_s"], 2) for r in ingests],
                "committed": ingests[-1]["summary"]["rows_committed"],
                "quarantined": ingests[-1]["summary"]["rows_quarantined"],
            }
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'rows':>12} {'csv MB':>8} {'floor s':>8} {'ingest s':>9} {'ratio':>6} {'floor cpu':>10} "
        f"{'ingest cpu':>11} {'rows/s':>10} {'floor RSS':>10} {'ingest RSS':>11}"
    )
    for r in results:
        print(
            f"{r['rows']:>12,} {r['csv_mb']:>8} {r['floor_s']:>8} {r['ingest_s']:>9} "
            f"{r['ratio_to_floor']:>6} {r['floor_cpu_s']:>10} {r['ingest_cpu_s']:>11} "
            f"{r['ingest_rows_per_s']:>10,} {r['floor_rss_mb']:>7} MB {r['ingest_rss_mb']:>8} MB"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    _ = resource  # kept for the child processes' import
    _ = os
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
