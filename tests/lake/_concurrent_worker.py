"""Child process for the concurrent-commit test (importable under the spawn start method)."""

from __future__ import annotations

import pyarrow as pa

from lake.delta import append_idempotent

SCHEMA = pa.schema([("x", pa.int64())])


def append_same_input(uri: str, barrier) -> bool:  # noqa: ANN001
    def batches():  # noqa: ANN202
        barrier.wait(timeout=60)  # both writers are mid-write before either commits
        yield pa.record_batch([pa.array(range(1000))], schema=SCHEMA)

    return append_idempotent(uri, batches(), schema=SCHEMA, app_id="input-sha").committed
