"""What the lake records as committed: the manifests of a dataset's ingest commits."""

from __future__ import annotations

import json
from typing import Any

from lake.delta import Lake, open_table


def committed_manifests(lake: Lake, dataset: str) -> list[dict[str, Any]]:
    """The manifests of every input committed to ``dataset`` (from its quarantine commits)."""
    dt = open_table(lake.table_uri("quarantine", dataset), storage_options=lake.options())
    if dt is None:
        return []
    out = []
    for info in dt.history():
        raw = info.get("maestro.manifest")
        if raw and info.get("maestro.counts"):
            out.append(json.loads(raw) if isinstance(raw, str) else raw)
    return out
