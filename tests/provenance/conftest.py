"""Fixtures for the provenance ledger tests: realistic entries and ready-made ledgers."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance.ledger import Ledger, SignedCheckpoint


def make_entry(i: int) -> bytes:
    """A ~500-byte entry shaped like a real one: references and hashes, no row values."""
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    doc = {
        "kind": "openlineage.RunEvent",
        "eventType": "COMPLETE",
        "runId": f"01890f2e-{i:04x}-7000-8000-{i:012x}",
        "job": "maestro://orchestration/defs/ingest/bronze_orders",
        "output": f"delta://lake/bronze/orders@v{i}",
        "outputSha256": digest,
        "contract": "contracts/datasets/orders.yaml@1.4.0",
        "policyBundleSha256": hashlib.sha256(digest.encode()).hexdigest(),
        "rowCount": i * 7,
    }
    return json.dumps(doc, sort_keys=True).encode()


@dataclass
class BuiltLedger:
    """A closed ledger on disk, with its key directory and what was written to it."""

    path: Path
    key_dir: Path
    entries: list[bytes]
    checkpoints: list[SignedCheckpoint]

    def open(self, **kwargs: object) -> Ledger:
        return Ledger.open(self.path, key_dir=self.key_dir, **kwargs)  # type: ignore[arg-type]

    @property
    def log(self) -> Path:
        return self.path / "entries.log"

    def checkpoint_file(self, number: int) -> Path:
        return self.path / "checkpoints" / f"{number:010d}.note"


def record_spans(log: Path) -> list[tuple[int, int]]:
    """(start, end) byte spans of each record in an entry log, read independently of the store."""
    data = log.read_bytes()
    spans, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        spans.append((pos, pos + 8 + length))
        pos += 8 + length
    return spans


@pytest.fixture
def build_ledger(tmp_path: Path) -> Callable[..., BuiltLedger]:
    """Build a ledger of `n` entries, signing checkpoints at the given sizes."""

    def build(n: int, checkpoint_at: tuple[int, ...] = (), batch: int = 100) -> BuiltLedger:
        path, key_dir = tmp_path / "ledger", tmp_path / "keys"
        entries = [make_entry(i) for i in range(n)]
        signed: list[SignedCheckpoint] = []
        with Ledger.open(path, key_dir=key_dir, origin="example.com/ledger/test") as ledger:
            stops = sorted({*checkpoint_at, n})
            start = 0
            for stop in stops:
                for i in range(start, stop, batch):
                    ledger.append_many(entries[i : min(i + batch, stop)])
                if stop in checkpoint_at:
                    signed.append(ledger.checkpoint())
                start = stop
        return BuiltLedger(path, key_dir, entries, signed)

    return build
