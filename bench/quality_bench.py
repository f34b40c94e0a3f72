"""Quality benchmark: what the GX validation of one ingest costs, per mode, against that ingest.

Generates the ingest benchmark's 12-column CSV (``bench/ingest_bench.py``: same generator, same
contract), ingests ``--history`` earlier files (so the table already holds older inputs, as in
production), then ingests the measured file and times, each in a fresh child process:

- ``ingest``: the project's ingest of the measured file (``run_ingest`` of the ingest benchmark);
- ``validate``: :func:`quality.validate_table` on the bronze table right after that ingest, in each
  mode: ``full`` (the whole table), ``new_files`` (every row of the new commit) and ``sample`` at
  each ``--sample-rows`` (row rules and, above ``full_key_rows`` new rows, the primary key on a
  deterministic key sample; ``unique`` columns on every new row).

Each of ``--repeat`` rounds copies the lake with history, ingests, then validates in every mode, so
each validation is divided by an ingest timed moments before it (the machine's load drifts); the
table shows medians and the per-round ratios. The budget under test: validation adds at most 50%
to the ingest (``validate / ingest <= 0.5``).
The one-off ``import great_expectations`` (paid once per Python process) is shown on its own.
Not a test: run it by hand, e.g. ``.venv/bin/python bench/quality_bench.py --rows 2000000``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest_bench import CONTRACT, generate, run_ingest  # noqa: E402

BUDGET = 0.5


def run_validate(contract_path: str, table_uri: str, results_dir: str, mode: str, sample_rows: int,
                 since_version: int) -> dict:
    """One validation in this (fresh) process; the import of GX is timed on its own."""
    t0 = time.perf_counter()
    from contracts.loader import load_contract
    from quality import validate_table

    contract = load_contract(contract_path)
    imported = time.perf_counter()
    result = validate_table(contract, table_uri, results_dir=results_dir, mode=mode,  # type: ignore[arg-type]
                            sample_rows=sample_rows, since_version=since_version)
    done = time.perf_counter()
    return {"import_s": imported - t0, "wall_s": done - imported, "success": result.success,
            "failed": result.failed_rules, "stats": result.statistics}


def _child(func: str, args: list) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); import bench.quality_bench as b; "
        f"print(json.dumps(b.{func}(*{args!r}), default=str))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ingest_child(csv_path: str, lake: str, contract_path: str) -> dict:
    r = run_ingest(csv_path, lake, contract_path)
    return {"wall_s": r["wall_s"], "rows": r["rows"], "bronze_version": r["summary"]["bronze_version"],
            "committed": r["summary"]["rows_committed"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in the measured file")
    parser.add_argument("--history", type=int, default=1,
                        help="earlier files of the same size ingested first")
    parser.add_argument("--sample-rows", type=int, action="append", help="sample sizes (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median is shown)")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    samples = args.sample_rows or [100_000, 50_000]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="maestro-qbench-"))
    work.mkdir(parents=True, exist_ok=True)
    contract_path = work / "bench_events.yaml"
    contract_path.write_text(CONTRACT)
    history = work / "history_lake"
    shutil.rmtree(history, ignore_errors=True)
    plans = [("full", 0), ("new_files", 0)] + [("sample", n) for n in samples]
    ingests: list[float] = []
    runs: dict[tuple[str, int], list[dict]] = {p: [] for p in plans}
    try:
        for h in range(args.history):
            path = work / f"history_{h}_{args.rows}.csv"
            if not path.exists():
                generate(path, args.rows, seed=100 + h)
            _child("run_ingest_child", [str(path), str(history), str(contract_path)])
        measured = work / f"events_{args.rows}.csv"
        if not measured.exists():
            print(f"generating {args.rows:,} rows -> {measured}", file=sys.stderr)
            generate(measured, args.rows)
        # Each round: a fresh copy of the lake with history, the measured ingest, then every mode
        # on that commit — so each validation is compared with an ingest timed moments before it,
        # under the same machine load.
        for i in range(args.repeat):
            lake = work / f"lake_{i}"
            shutil.rmtree(lake, ignore_errors=True)
            if history.exists():
                shutil.copytree(history, lake)
            ingest = _child("run_ingest_child", [str(measured), str(lake), str(contract_path)])
            ingests.append(ingest["wall_s"])
            table = str(lake / "bronze" / "bench_events")
            results_dir = str(lake / "_quality" / "bench_events")
            since = int(ingest["bronze_version"]) - 1
            for mode, n in plans:
                r = _child("run_validate", [str(contract_path), table, results_dir, mode, n or 1, since])
                r["ratio"] = r["wall_s"] / ingest["wall_s"]
                runs[(mode, n)].append(r)
            shutil.rmtree(lake, ignore_errors=True)
            print(f"round {i + 1}: ingest {ingest['wall_s']:.2f} s; " + ", ".join(
                f"{m} {n or ''} {runs[(m, n)][-1]['wall_s']:.2f} s" for m, n in plans), file=sys.stderr)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    ingest_s = med(ingests)
    rows = []
    for (mode, n), rs in runs.items():
        ratio = statistics.median(r["ratio"] for r in rs)
        rows.append({
            "mode": mode if mode != "sample" else f"sample {n:,}",
            "rows_in_scope": rs[-1]["stats"]["rows_in_scope"],
            "rows_validated": rs[-1]["stats"]["rows_validated"],
            "validate_s": med([r["wall_s"] for r in rs]),
            **{f"{part}_s": med([r["stats"]["seconds"][part] for r in rs])
               for part in ("read", "gx", "docs")},
            "import_s": med([r["import_s"] for r in rs]),
            "ratio": round(ratio, 2), "ratios": [round(r["ratio"], 2) for r in rs],
            "within_budget": ratio <= BUDGET, "success": rs[-1]["success"],
        })
    print(f"ingest of {args.rows:,} rows: median {ingest_s:.2f} s of {[round(x, 2) for x in ingests]}; "
          f"table holds {args.history + 1} inputs; budget: validate <= {BUDGET:.0%} of ingest")
    print(f"{'mode':>14} {'in scope':>10} {'validated':>10} {'validate s':>11} {'read':>6} {'gx':>6} "
          f"{'docs':>6} {'/ingest':>8} {'budget':>7} {'+import':>8}  per-round ratios")
    for r in rows:
        print(f"{r['mode']:>14} {r['rows_in_scope']:>10,} {r['rows_validated']:>10,} {r['validate_s']:>11} "
              f"{r['read_s']:>6} {r['gx_s']:>6} {r['docs_s']:>6} {r['ratio']:>8} "
              f"{'ok' if r['within_budget'] else 'OVER':>7} {r['import_s']:>8}  {r['ratios']}")
    if args.json:
        report = {"ingest_s": ingest_s, "ingests_s": ingests, "rows": args.rows,
                  "history": args.history, "modes": rows}
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
