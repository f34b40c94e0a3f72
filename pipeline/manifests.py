"""What the lake records as committed: the manifests of a dataset's ingest commits.

Every input's manifest is in the commitInfo of its quarantine commit (the commit that marks the
input done, carrying its counts). An input whose *content* was already committed under another
name (an S3 object re-uploaded with the same bytes, a copy under a new key) commits no rows, yet
its own name must count as seen too, or a source that lists by name (S3: key and ETag) would fetch
it again on every run for ever: :func:`record_seen` writes an empty commit that carries only its
manifest (``maestro.seen``), once per name and version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from contracts.enforce import quarantine_schema
from contracts.model import Contract
from lake.delta import Lake, append_idempotent, open_table
from pipeline.ingest import IngestResult


def committed_manifests(lake: Lake, dataset: str) -> list[dict[str, Any]]:
    """The manifests of every input committed to ``dataset`` or seen with committed content."""
    dt = open_table(lake.table_uri("quarantine", dataset), storage_options=lake.options())
    if dt is None:
        return []
    out = []
    for info in dt.history():
        raw = info.get("maestro.manifest")
        if raw and (info.get("maestro.counts") or info.get("maestro.seen")):
            out.append(json.loads(raw) if isinstance(raw, str) else raw)
    return out


def record_seen(lake: Lake, contract: Contract, result: IngestResult) -> None:
    """Record ``result``'s manifest as seen (for an input found already committed); idempotent."""
    names = sorted((o.uri, o.etag or "", o.version_id or "", o.sha256) for o in result.manifest.objects)
    digest = hashlib.sha256(json.dumps(names).encode()).hexdigest()
    append_idempotent(
        lake.table_uri("quarantine", contract.name),
        [],
        schema=quarantine_schema(contract),
        app_id=f"maestro-seen:{contract.name}:{digest}",
        metadata={"maestro.manifest": result.manifest.to_dict(), "maestro.seen": True},
        storage_options=lake.options(),
    )
