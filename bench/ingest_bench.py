"""Ingest benchmark: the project's ingest path against the floor, measured in the same run.

Generates a mixed-type CSV (12 columns, about 125 bytes a row: 2,000,000 rows is ~250 MB), then
times, each in a fresh child process so peak RSS is measured per path:

- floor:  ``polars.read_csv(path).write_delta(table)`` with no checks;
- ingest: the project's path (sha256 of the input, streaming CSV read, contract enforcement with
  quarantine and duplicate detection, idempotent Delta commits of bronze and quarantine);
- ingest+checks (``--with-checks``): the same ingest, then what the Dagster ingest asset runs after
  it (``orchestration/defs/ingest/assets.py``): :func:`pipeline.checks.evaluate_checks` with the
  run's counts and the committed total from the quarantine log, then ``import quality`` and
  :func:`quality.validate_table` (``mode="sample"``, ``since_version`` = the bronze version before
  the ingest, Data Docs built: the default, as the asset calls it).

Prints wall time, CPU time (all threads), rows/s, peak RSS and the ratio to the floor. With
``--repeat N`` the paths run N times each, alternating, and the table shows medians (ratios are the
medians of the N paired ratios): on a shared machine single runs are noise. Not a test: run
it by hand with ``make bench`` or
``.venv/bin/python bench/ingest_bench.py --rows 2000000 --rows 10000000 --repeat 3``.

The checks table splits ingest+checks into its parts, all timed in the same process: the ingest,
the DuckDB contract checks, ``import great_expectations`` (via ``import quality``) and the GX
validation (read / gx / docs as ``validate_table`` reports them). Each round's lake is new, but by
default its ``_quality`` folder is copied from a lake an earlier small ingest validated (the GX
context, Data Docs site and compiled templates exist, as in every run but a lake's first);
``--cold-quality`` times the first validation of a lake instead. ``checks s`` and ``+checks``
(checks / that process's ingest, the issue's budget: <= 0.5) EXCLUDE the GX import, which is paid
once per Python process whatever the data size; ``+import`` and ``w/ import`` include it. The
``ingest+checks`` wall and ratios in the main table exclude it too (``w/ import`` includes it).
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


def run_seed_quality(csv_path: str, lake_root: str, contract_path: str) -> dict:
    """Ingest and validate a small file: the lake's ``_quality`` folder as any earlier run leaves it."""
    from contracts.loader import load_contract
    from quality import validate_table

    r = run_ingest(csv_path, lake_root, contract_path)
    contract = load_contract(contract_path)
    validate_table(contract, str(Path(lake_root) / "bronze" / contract.name),
                   results_dir=Path(lake_root) / "_quality" / contract.name)
    return {"rows": r["rows"]}


def run_ingest_checks(csv_path: str, lake_root: str, contract_path: str, quality_seed: str = "") -> dict:
    """The ingest, then the contract checks and the GX validation exactly as the ingest asset runs them.

    ``quality_seed``: a ``_quality`` folder to start from (a lake validated before: the GX context,
    its Data Docs site and compiled templates exist); empty: the lake's first validation ever.
    """
    if quality_seed:
        shutil.copytree(quality_seed, Path(lake_root) / "_quality")
    from connectors.csv import CsvSource, CsvSourceConfig
    from contracts.loader import load_contract
    from lake.delta import Lake, table_facts
    from pipeline.checks import committed_rows_by_ingests, evaluate_checks
    from pipeline.ingest import ingest_object

    contract = load_contract(contract_path)
    lake = Lake(root=lake_root)
    bronze, quarantine = lake.table_uri("bronze", contract.name), lake.table_uri("quarantine", contract.name)
    marks = [(time.perf_counter(), time.process_time())]

    def mark() -> None:
        marks.append((time.perf_counter(), time.process_time()))

    before = table_facts(bronze, storage_options=lake.options()).get("version")
    src = CsvSource(CsvSourceConfig(name="bench_csv", dataset=contract.name, paths=[csv_path]))
    result = ingest_object(src, src.discover()[0], contract, lake)
    mark()
    new = result.status == "committed"  # DatasetReport.total counts committed inputs only
    kinds = ("read", "valid", "rejected", "duplicates")
    run_counts = {k: getattr(result.counts, k) if new else 0 for k in kinds}
    outcomes = evaluate_checks(
        contract, bronze, run_counts=run_counts, storage_options=lake.options(),
        committed_total=committed_rows_by_ingests(quarantine, storage_options=lake.options()),
    )
    mark()
    import quality  # the asset imports it lazily, in _validate: once per process

    mark()
    quality_result = quality.validate_table(
        contract, bronze, results_dir=Path(lake.root) / "_quality" / contract.name,
        storage_options=lake.options(), mode="sample", since_version=before,
    )
    mark()
    (w0, c0), (w1, c1), (w2, c2), (w3, c3), (w4, c4) = marks
    return {
        "wall_s": (w4 - w0) - (w3 - w2), "cpu_s": (c4 - c0) - (c3 - c2),
        "wall_with_import_s": w4 - w0, "ingest_s": w1 - w0, "ingest_cpu_s": c1 - c0,
        "duckdb_checks_s": w2 - w1, "gx_import_s": w3 - w2, "validate_s": w4 - w3,
        "validate_cpu_s": c4 - c3, "validate_parts": quality_result.statistics.get("seconds", {}),
        "rows": result.counts.read, "summary": result.summary(),
        "checks_failed": [o.name for o in outcomes if not o.passed],
        "gx_failed": quality_result.failed_rules, "data_docs": quality_result.docs_path,
    }


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


def _checks_summary(floors: list[dict], ingests: list[dict], checked: list[dict]) -> dict:
    """Medians of the ingest+checks runs; ratios paired with the floor and ingest of the same round."""

    def med(key: str, runs: list[dict] = checked, nd: int = 2) -> float:
        return round(statistics.median(r[key] for r in runs), nd)

    def paired(num: str, dens: list[dict], den: str = "wall_s") -> float:
        return round(statistics.median(c[num] / d[den] for c, d in zip(checked, dens, strict=True)), 2)

    parts = {p: round(statistics.median(c["validate_parts"].get(p, 0.0) for c in checked), 2)
             for p in ("read", "gx", "docs")}
    for c in checked:
        c["checks_s"] = c["duckdb_checks_s"] + c["validate_s"]
        c["checks_ratio"] = c["checks_s"] / c["ingest_s"]
        c["import_ratio"] = (c["checks_s"] + c["gx_import_s"]) / c["ingest_s"]
    return {
        "checked_s": med("wall_s"), "checked_cpu_s": med("cpu_s"),
        "checked_with_import_s": med("wall_with_import_s"),
        "checked_rss_mb": round(max(r["peak_rss_mb"] for r in checked)),
        "checked_ratio_to_floor": paired("wall_s", floors),
        "checked_ratio_to_floor_with_import": paired("wall_with_import_s", floors),
        "checked_ratio_to_ingest": paired("wall_s", ingests),
        "checks_ingest_s": med("ingest_s"), "duckdb_checks_s": med("duckdb_checks_s"),
        "gx_import_s": med("gx_import_s"), "validate_s": med("validate_s"),
        "validate_cpu_s": med("validate_cpu_s"), "validate_parts_s": parts,
        "checks_s": med("checks_s"), "checks_overhead": med("checks_ratio"),
        "checks_overhead_with_import": med("import_ratio"),
        "checked_s_all": [round(r["wall_s"], 2) for r in checked],
        "checks_overhead_all": [round(r["checks_ratio"], 2) for r in checked],
        "checks_failed": checked[-1]["checks_failed"], "gx_failed": checked[-1]["gx_failed"],
    }


def _print_checks(results: list[dict]) -> None:
    print(
        f"\n{'rows':>12} {'ingest+chk s':>13} {'/floor':>7} {'/ingest':>8} {'RSS':>8} | {'ingest':>7} "
        f"{'duckdb':>7} {'validate':>9} {'(read':>6} {'gx':>5} {'docs)':>6} {'checks s':>9} "
        f"{'+checks':>8} | {'gx import':>10} {'w/ import':>10} {'/floor':>7} {'+import':>8}"
    )
    for r in results:
        if "checks_s" not in r:
            continue
        p = r["validate_parts_s"]
        print(
            f"{r['rows']:>12,} {r['checked_s']:>13} {r['checked_ratio_to_floor']:>7} "
            f"{r['checked_ratio_to_ingest']:>8} {r['checked_rss_mb']:>5} MB | {r['checks_ingest_s']:>7} "
            f"{r['duckdb_checks_s']:>7} {r['validate_s']:>9} {p['read']:>6} {p['gx']:>5} {p['docs']:>6} "
            f"{r['checks_s']:>9} {r['checks_overhead']:>8} | {r['gx_import_s']:>10} "
            f"{r['checked_with_import_s']:>10} {r['checked_ratio_to_floor_with_import']:>7} "
            f"{r['checks_overhead_with_import']:>8}"
        )
    print("checks s / +checks: DuckDB contract checks + GX validation, and their ratio to the ingest "
          "timed in the same process (budget <= 0.5); both EXCLUDE the GX import (paid once per "
          "process), shown on its own and included in 'w/ import' and '+import'. Lake's _quality "
          f"folder: {results[0].get('quality_folder')} (--cold-quality: the lake's first validation).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, action="append", help="rows to generate (repeatable)")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each path, alternating")
    parser.add_argument("--with-checks", action="store_true",
                        help="also time ingest+checks (the asset's contract checks and GX validation)")
    parser.add_argument("--cold-quality", action="store_true",
                        help="ingest+checks into a lake never validated before (default: its _quality "
                        "folder is what an earlier small ingest left, as in every run but the first)")
    args = parser.parse_args(argv)
    sizes = args.rows or [2_000_000]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="maestro-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    contract_path = work / "bench_events.yaml"
    contract_path.write_text(CONTRACT)
    results = []
    seed = ""
    try:
        if args.with_checks and not args.cold_quality:
            small = work / "seed_1000.csv"
            generate(small, 1000, seed=99)
            shutil.rmtree(work / "seed_lake", ignore_errors=True)
            _child("seed_quality", [str(small), str(work / "seed_lake"), str(contract_path)])
            seed = str(work / "seed_lake" / "_quality")
        for rows in sizes:
            csv_path = work / f"events_{rows}.csv"
            if not csv_path.exists():
                print(f"generating {rows:,} rows -> {csv_path}", file=sys.stderr)
                generate(csv_path, rows)
            size_mb = csv_path.stat().st_size / 1e6
            floors, ingests, checked = [], [], []
            for _ in range(max(1, args.repeat)):
                floors.append(_child("floor", [str(csv_path), str(work / f"floor_{rows}")]))
                lake = str(work / f"lake_{rows}")
                ingests.append(_child("ingest", [str(csv_path), lake, str(contract_path)]))
                shutil.rmtree(work / f"floor_{rows}", ignore_errors=True)
                shutil.rmtree(work / f"lake_{rows}", ignore_errors=True)
                if args.with_checks:
                    checked.append(_child("ingest_checks", [str(csv_path), lake, str(contract_path), seed]))
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
            if checked:
                row.update(_checks_summary(floors, ingests, checked))
                row["quality_folder"] = "seeded" if seed else "cold"
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
    if any("checks_s" in r for r in results):
        _print_checks(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    _ = resource  # kept for the child processes' import
    _ = os
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
