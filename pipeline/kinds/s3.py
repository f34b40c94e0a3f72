"""S3: new or changed objects (by key and ETag, against what the lake records as committed)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

from connectors.base import Source
from connectors.exceptions import ConnectorError
from contracts.model import Contract
from lake.delta import Lake
from pipeline.inputs import SpooledSource, ingest_one
from pipeline.manifests import committed_manifests, record_seen
from pipeline.report import DatasetReport, input_error


def ingest_s3(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, only: Sequence[str] | None
) -> None:
    from connectors.s3.source import S3Source
    from connectors.s3.state import ingested_from_manifests

    assert isinstance(source, S3Source)
    source._ingested = ingested_from_manifests(committed_manifests(lake, contract.name))
    wanted = set(only or [])
    try:
        objects = source.discover()
    except ConnectorError as err:
        report.input_errors.append(input_error(source.name, source.config.uri, err))
        return
    for obj in objects:
        if wanted and obj.uri not in wanted:
            continue
        with tempfile.TemporaryDirectory(prefix="maestro-s3-") as spool:
            try:
                fetched = source.fetch(obj, spool)
            except ConnectorError as err:
                report.input_errors.append(input_error(source.name, obj.uri, err))
                continue
            spooled = SpooledSource(
                source, lambda n, o=obj, p=fetched.path: source.read_spool(o, p, batch_rows=n)
            )
            entry = fetched.manifest_object(obj, limits=source.config.limits)  # + decoded content hash
            result = ingest_one(spooled, entry, contract, lake, report)
            if result is not None and result.status == "already_committed":
                # Same bytes as an input already committed: remember this key and ETag too.
                record_seen(lake, contract, result)
