"""The main job, end to end on embedded defaults, with a summary of what it built.

``python -m orchestration.demo`` (the README's first command runs it after set-up):

1. puts the sample order exports into the file-drop folder (the CSV source reads
   ``data/samples/customers.csv`` where it lies), and starts on loopback an S3-compatible server
   holding carrier shipment files, the catalogue API the products pull reads, and the push
   endpoint, to which a demo partner posts a signed payments batch (``sandbox/``);
2. runs the ``main`` job — every ingest, the dbt build, the catalog — in this process, recorded in
   the Dagster instance under ``$MAESTRO_HOME/dagster`` (SQLite), so the run shows in the UI;
3. prints what it built, counted from the lake's new commits (not from what the run believed):
   tables, new inputs and their rows, quarantined rows and why, inputs rejected whole and why,
   failed steps and checks, the DuckDB file, the ledger, the UI.

Run twice, the second run finds every input already committed and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path
from typing import Any

from config.settings import Settings
from config.sources import load_sources, resolve_path


def seed_drop_folders(settings: Settings) -> list[Path]:
    """Copy the sample exports into each file-drop folder (keeping their old mtimes, so complete)."""
    samples = settings.repo_root / "data" / "samples"
    copied = []
    for spec in load_sources(settings):
        if spec.kind != "file_drop":
            continue
        sample_dir = samples / spec.dataset
        if not sample_dir.is_dir():
            continue
        folder = resolve_path(settings, spec.options["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        for f in sorted(sample_dir.glob("*.csv")):
            dest = folder / f.name
            shutil.copy2(f, dest)
            copied.append(dest)
    return copied


def run_main_job(settings: Settings) -> Any:
    from dagster import DagsterInstance

    from orchestration.definitions import MAIN_JOB, build_definitions
    from orchestration.instance import prepare_instance
    from orchestration.launcher import HOST_TAG, this_host

    prepare_instance(settings)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(MAIN_JOB)
    log_dir = settings.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "main-job.log"
    print(f"running the main job (dbt output: {log_path}) ...", file=sys.stderr)
    # Dagster's console log shows warnings and errors; dbt's own chatter goes to the log file.
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with DagsterInstance.get() as instance, open(log_path, "w") as log, contextlib.redirect_stdout(log):
        # Tagged with this host: run monitoring (when a daemon runs) can tell if this process died.
        return job.execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False, tags={HOST_TAG: this_host()}
        )


def _ledger_line(settings: Settings) -> str:
    """Where the provenance ledger is, its signed size and root, and the key that verifies it."""
    from provenance.lineage import LineageSettings

    ls = LineageSettings.from_settings(settings)
    try:
        with ls.open_ledger(read_only=True) as ledger:
            cp = ledger.latest_checkpoint()
            vkey = ledger.verifier.vkey
    except Exception as err:  # the summary must not hide the run's own outcome
        return f"Ledger:    {ls.ledger_dir} (not readable: {err})"
    signed = (
        f"checkpoint {cp.number}: {cp.checkpoint.size} entries, root {cp.checkpoint.root.hex()[:16]}…"
        if cp
        else "no checkpoint yet"
    )
    return (
        f"Ledger:    {ls.ledger_dir} ({signed})\n"
        f"           verify: .venv/bin/maestro ledger verify   public key: {vkey}\n"
        f"           lineage: .venv/bin/maestro lineage upstream "
        f"duckdb://{settings.catalog_path}/marts.daily_revenue"
    )


def fed_datasets(settings: Settings) -> list[str]:
    """The datasets some configured source feeds (those the main job ingests)."""
    from contracts.loader import load_contracts

    contracts = load_contracts(settings.contracts_dir)
    return sorted({s.dataset for s in load_sources(settings, datasets=set(contracts))})


def summarize(settings: Settings, result: Any, before: dict[tuple[str, str], int | None]) -> str:
    """What the run built, counted from the lake's commits since ``before`` (see ``summary.py``)."""
    from lake.catalog import catalog_tables
    from orchestration.summary import summarize as run_lines

    lines = [
        "",
        "=" * 78,
        "Maestro Conductor — main job " + ("succeeded" if result.success else "FAILED"),
        "=" * 78,
        *run_lines(settings, result, before),
    ]
    lines.append("")
    lines.append(f"DuckDB catalog: {settings.catalog_path}")
    for t in catalog_tables(settings.catalog_path):
        lines.append(f"  {t['table']:<36}{t['rows']:>8} rows")
    lines.append("")
    lines.append(
        f"Query it:  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{settings.catalog_path}', "
        "read_only=True).sql('select * from marts.customer_revenue limit 5'))\""
    )
    lines.append(f"Lake:      {settings.lake_uri}")
    lines.append(_ledger_line(settings))
    report = settings.home / "reports" / "platform.html"
    if report.exists():
        lines.append(f"Report:    file://{report}  (quality, cost and SLOs per dataset, with plots)")
    lines.append(
        "Open the UI (assets, checks, metadata, the file-drop sensor):  make ui  -> http://127.0.0.1:3000"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="maestro demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-seed", action="store_true", help="do not copy sample files into drop folders")
    parser.add_argument(
        "--no-servers",
        action="store_true",
        help="do not start the loopback S3, catalogue API and push endpoint",
    )
    args = parser.parse_args(argv)
    from orchestration.home import private_umask, secure_home
    from orchestration.summary import lake_versions

    private_umask()
    settings = Settings.from_env()
    secure_home(settings)
    if not args.no_seed:
        copied = seed_drop_folders(settings)
        print(f"placed {len(copied)} sample file(s) in the drop folder(s)", file=sys.stderr)
    before = lake_versions(settings, fed_datasets(settings))
    if args.no_servers:
        result = run_main_job(settings)
    else:
        from contracts.loader import load_contracts
        from sandbox.environment import demo_environment

        with demo_environment(settings, sorted(load_contracts(settings.contracts_dir))) as env:
            print(
                f"loopback stand-ins: S3 {env.s3_endpoint} ({len(env.uploaded)} objects), catalogue API "
                f"{env.api_url}, push endpoint {env.push_url} ({len(env.receipts)} batch pushed)",
                file=sys.stderr,
            )
            result = run_main_job(settings)
    print(summarize(settings, result, before))
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
