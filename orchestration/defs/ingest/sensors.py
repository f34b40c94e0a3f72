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
                    run_config={"ops": {ingest_op_name(spec.dataset): {"config": {"inputs": [str(f.path)]}}}},
                    tags={
                        "maestro/source": spec.name,
                        "maestro/file": f.path.name,
                        "maestro/sha256": f.sha256,
                    },
                )
            )
        # Forget keys of files that have left the folder (claimed, archived or quarantined).
        return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(present, sort_keys=True))

    return _sensor


def build_push_sensor(spec: SourceSpec, *, downstream: bool = True) -> dg.SensorDefinition:
    """The sensor turning batches landed by the push endpoint into ingest runs (one per batch)."""
    from connectors.http_push.landing import Landing

    selection = dg.AssetSelection.assets(bronze_key(spec.dataset), quarantine_key(spec.dataset))
    if downstream:
        selection = selection.downstream()

    @dg.sensor(
        name=f"{spec.name}_sensor",
        description=f"Ingests batches partners push to the {spec.dataset} endpoint ({spec.name}).",
        asset_selection=selection,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        from config.sources import resolve_path

        settings = Settings.from_env()
        landing = Landing(resolve_path(settings, str(spec.options["landing_root"])))
        run_requests = [
            dg.RunRequest(
                run_key=f"{spec.name}:{b.batch_id}:{b.receipt.sha256}",
                run_config={"ops": {ingest_op_name(spec.dataset): {"config": {"inputs": [b.batch_id]}}}},
                tags={
                    "maestro/source": spec.name,
                    "maestro/batch": b.batch_id,
                    "maestro/sha256": b.receipt.sha256,
                },
            )
            for b in landing.pending(spec.dataset)
        ]
        return dg.SensorResult(run_requests=run_requests)

    return _sensor


def build_s3_sensor(spec: SourceSpec, *, downstream: bool = True) -> dg.SensorDefinition:
    """The sensor requesting one run per new S3 object version (run key from key, ETag, version).

    What counts as ingested is read from the lake's own commits each tick, so a crash between a
    commit and any cursor save neither loses nor repeats an object; Dagster's run-key
    de-duplication stops a re-listed object from being requested twice.
    """
    selection = dg.AssetSelection.assets(bronze_key(spec.dataset), quarantine_key(spec.dataset))
    if downstream:
        selection = selection.downstream()

    @dg.sensor(
        name=f"{spec.name}_sensor",
        description=f"Ingests new or changed objects under the {spec.dataset} S3 prefix ({spec.name}).",
        asset_selection=selection,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        from connectors.exceptions import ConnectorError
        from connectors.s3.source import S3Source
        from connectors.s3.state import ingested_from_manifests, run_key
        from pipeline.run import committed_manifests, lake_for

        settings = Settings.from_env()
        lake = lake_for(settings)
        source = S3Source.from_dict(
            spec.as_config(), ingested=ingested_from_manifests(committed_manifests(lake, spec.dataset))
        )
        try:
            objects = source.discover()
        except ConnectorError as err:  # the daemon keeps running; the tick says why
            return dg.SkipReason(str(err))
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{spec.name}:{run_key(obj)}",
                    run_config={"ops": {ingest_op_name(spec.dataset): {"config": {"inputs": [obj.uri]}}}},
                    tags={
                        "maestro/source": spec.name,
                        "maestro/object": obj.uri,
                        "maestro/etag": (obj.etag or "").strip('"'),
                    },
                )
                for obj in objects
            ]
        )

    return _sensor
