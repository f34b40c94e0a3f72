"""File-drop sensors: a file that lands in a watched folder becomes exactly one ingest run.

Each tick lists the folder's *complete* files (see :class:`connectors.file_drop.FileDropConfig`)
and requests one run per file, with the run key ``<source>:<sha256>:<mtime_ns>``: the same file
seen on many ticks is one run (the cursor remembers requested keys while the file is still in the
folder, and Dagster's run-key de-duplication backs it up); the same bytes dropped again later are a
new run, which finds the content already committed, commits nothing and archives the file.
"""


import json

import dagster as dg

from config.settings import Settings
from config.sources import SourceSpec
from connectors.file_drop import DropFolder, FileDropConfig
from orchestration.defs.ingest.assets import bronze_key, ingest_op_name, quarantine_key


def build_drop_sensor(spec: SourceSpec, *, downstream: bool = True) -> dg.SensorDefinition:
    """The sensor watching ``spec``'s drop folder."""
    selection = dg.AssetSelection.assets(bronze_key(spec.dataset), quarantine_key(spec.dataset))
    if downstream:
        selection = selection.downstream()

    @dg.sensor(
        name=f"{spec.name}_sensor",
        description=f"Ingests files dropped into the {spec.dataset} drop folder ({spec.name}).",
        asset_selection=selection,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        settings = Settings.from_env()
        folder = DropFolder(FileDropConfig.from_dict(spec.as_config()), base_dir=settings.repo_root)
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        present: dict[str, str] = {}
        run_requests = []
        for f in folder.complete_files():
            key = f"{spec.name}:{f.run_key}"
            present[key] = f.path.name
            if key in requested:
                continue
            run_requests.append(
                dg.RunRequest(
                    run_key=key,
                    run_config={"ops": {ingest_op_name(spec.dataset): {"config": {"files": [str(f.path)]}}}},
                    tags={"maestro/source": spec.name, "maestro/file": f.path.name,
                          "maestro/sha256": f.sha256},
                )
            )
        # Forget keys of files that have left the folder (claimed, archived or quarantined).
        return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(present, sort_keys=True))

    return _sensor
