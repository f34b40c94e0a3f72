"""File drop: claim each complete file atomically, ingest it, then archive or quarantine it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from connectors.base import Source
from connectors.csv.reader import describe_file
from contracts.model import Contract
from lake.delta import Lake
from pipeline.inputs import SpooledSource, ingest_one
from pipeline.report import DatasetReport


def ingest_drop_folder(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, files: Sequence[str] | None
) -> None:
    from connectors.file_drop import FileDropSource

    assert isinstance(source, FileDropSource)
    folder = source.folder
    folder.ensure()
    folder.recover_stale()
    candidates = [Path(f) for f in files] if files else [f.path for f in folder.complete_files()]
    for path in candidates:
        claimed = folder.claim(path)
        if claimed is None:
            continue  # another run claimed it first, or it was already processed
        read_obj = describe_file(str(claimed))
        # The manifest names the file where it will stay (its archive path), not the claim folder.
        dest = folder.archive_destination(claimed, sha256=read_obj.sha256)
        obj = replace(read_obj, uri=dest.resolve().as_uri())
        spooled = SpooledSource(source, lambda n, o=read_obj: source.read(o, batch_rows=n))
        result = ingest_one(spooled, obj, contract, lake, report)
        if result is not None and result.status in ("committed", "already_committed"):
            folder.archive_file(
                claimed,
                dest=dest,
                sha256=obj.sha256,
                record={
                    "manifest": result.manifest.to_dict(),
                    **result.summary(),
                    "original_name": path.name,
                },
            )
        else:
            error = result.error if result is not None else report.input_errors[-1]["error"]
            # The error names the file where it really ends up: the drop folder's quarantine.
            qpath = folder.quarantine_destination(claimed, sha256=obj.sha256)
            error = (error or "unknown error").replace(obj.uri, str(qpath)).replace(str(dest), str(qpath))
            for entry in report.input_errors:
                if entry["input"] == obj.uri:
                    entry["input"], entry["error"] = str(qpath), error
            if result is not None:
                result.error = error
            folder.quarantine_file(
                claimed,
                dest=qpath,
                sha256=obj.sha256,
                error=error,
                detail={
                    "dataset": contract.name,
                    "source": source.name,
                    "contract_version": contract.version,
                    "original_name": path.name,
                },
            )
