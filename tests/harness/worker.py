"""The process the kill-point harness kills: one ingest run, as users run it.

``python -m tests.harness.worker <mode> <dataset>...`` with the environment of a Maestro home
(``MAESTRO_HOME``, ``MAESTRO_SOURCES``, ``MAESTRO_LAKE_URI`` ...), and ``MAESTRO_FAULTS`` /
``MAESTRO_FAULTS_LOG`` / ``MAESTRO_FAULTS_TRACE`` naming where to die (see :mod:`faults`).

Modes:

- ``pipeline``: :func:`pipeline.run.ingest_dataset` for each dataset (what the ingest asset calls);
- ``dagster``: the datasets' ingest assets as one Dagster run (``execute_in_process`` on the
  instance under ``$MAESTRO_HOME/dagster``: SQLite run and event storage, lineage into the ledger),
  as a sensor-requested run executes them.

Exit status 0 when every dataset ingested without a run failure, 1 otherwise; a killed worker
never exits, of course: the harness reads the fault log to learn where it died.
"""

from __future__ import annotations

import json
import sys


def _pipeline(datasets: list[str]) -> int:
    from config.settings import Settings
    from config.sources import load_sources
    from contracts.loader import load_contracts
    from pipeline.run import ingest_dataset

    settings = Settings.from_env()
    contracts = load_contracts(settings.contracts_dir)
    sources = load_sources(settings, datasets=set(contracts))
    failed = 0
    for ds in datasets:
        report = ingest_dataset(settings, contracts[ds], [s for s in sources if s.dataset == ds])
        failed += len(report.retryable_errors)
        print(json.dumps({"dataset": ds, "results": [r.summary() for r in report.results],
                          "errors": report.input_errors}, default=str), flush=True)
    return 1 if failed else 0


def _dagster(datasets: list[str]) -> int:
    from dagster import AssetKey, DagsterInstance

    from config.settings import Settings
    from orchestration.definitions import build_definitions
    from orchestration.demo import prepare_instance

    settings = Settings.from_env()
    prepare_instance(settings)
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    keys = [AssetKey([layer, ds]) for ds in datasets for layer in ("bronze", "quarantine")]
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=keys, raise_on_error=False)
    print(json.dumps({"run_id": result.run_id, "success": result.success}), flush=True)
    return 0 if result.success else 1


def main(argv: list[str]) -> int:
    mode, datasets = argv[0], argv[1:]
    return {"pipeline": _pipeline, "dagster": _dagster}[mode](datasets)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
