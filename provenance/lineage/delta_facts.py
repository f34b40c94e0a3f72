"""Facts about Delta tables and single commits, read from the Delta log (no data scan).

:func:`commit_stats` answers "how many rows and bytes did commit *v* add?" by comparing the files
of versions *v - 1* and *v*; the ingest's commits are appends, so the difference is what the
commit wrote. Works for local and ``s3://`` tables alike (``storage_options`` as for
:mod:`lake.delta`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CommitStats", "commit_stats"]


@dataclass(frozen=True)
class CommitStats:
    rows: int
    bytes: int
    files: int


def _files(
    table_uri: str, version: int, options: dict[str, str] | None
) -> dict[str, tuple[int, int]]:
    import pyarrow as pa
    from deltalake import DeltaTable

    if version < 0:
        return {}
    dt = DeltaTable(table_uri, version=version, storage_options=options)
    tbl = pa.table(dt.get_add_actions(flatten=True))
    if not tbl.num_rows:
        return {}
    paths = tbl.column("path").to_pylist()
    sizes = tbl.column("size_bytes").to_pylist()
    rows = (
        tbl.column("num_records").to_pylist()
        if "num_records" in tbl.column_names
        else [0] * len(paths)
    )
    return {p: (int(s or 0), int(r or 0)) for p, s, r in zip(paths, sizes, rows, strict=True)}


def commit_stats(
    table_uri: str, version: int, *, storage_options: Mapping[str, str] | None = None
) -> CommitStats | None:
    """Rows, bytes and files that commit ``version`` of the table added (None if unreadable)."""
    from deltalake.exceptions import DeltaError

    options = dict(storage_options or {}) or None
    try:
        after = _files(table_uri, version, options)
        before = _files(table_uri, version - 1, options)
    except (DeltaError, OSError, ValueError):
        return None
    added = [after[p] for p in after.keys() - before.keys()]
    return CommitStats(
        rows=sum(r for _, r in added), bytes=sum(s for s, _ in added), files=len(added)
    )
