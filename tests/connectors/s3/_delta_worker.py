"""Run in a separate (spawned) process: append rows to one s3:// Delta table, one commit each.

Kept apart from the test module so the child imports only what it needs (deltalake, pyarrow).
"""

from __future__ import annotations

from typing import Any


def append_rows(
    table_uri: str, storage_options: dict[str, str], writer: str, n: int, start: Any
) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    start.wait(timeout=60)  # both writers begin together, so their commits really race
    for seq in range(n):
        rows = pa.table({"writer": [writer], "seq": pa.array([seq], pa.int64())})
        write_deltalake(table_uri, rows, mode="append", storage_options=storage_options)
