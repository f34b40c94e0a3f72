"""The landing area: where pushed batches are made durable, and the API to consume them.

Layout (one folder per dataset under ``landing_root``)::

    <landing_root>/<dataset>/
        .tmp/                          bodies being received (never acknowledged)
        batches/<id>.<ext>[.gz]        landed body, bytes exactly as received
        batches/<id>.receipt.json      its receipt; a batch is *pending* once this exists
        processed/<id>.* + <id>.processed.json   after the ingest committed it
        quarantine/<id>.* + <id>.error.json      after the ingest gave up on it
        idempotency/<sha256>.json      Idempotency-Key record (receipt of the first push)

``<id>`` starts with the UTC receive time (``20240131T120000123456Z-1a2b3c4d``), so name order is
arrival order. ``<ext>`` is ``csv``, ``json`` or ``ndjson``; ``.gz`` when sent gzip-encoded.

Durability: the body is streamed to ``.tmp/``, fsynced, renamed into ``batches/``; the receipt is
written to a temp file, fsynced and renamed beside it; the directory is fsynced — all before the
service answers. Nothing is deleted: a batch moves to ``processed/`` or ``quarantine/`` with a
JSON record of why (record first, then receipt, then body), and :meth:`Landing.recover` finishes
a move interrupted by a crash.

Fault points (for the kill-point harness): ``push.landing.after_idempotency_record``,
``push.landing.after_body``, ``push.landing.after_receipt`` (receiving) and
``push.landing.after_record``, ``push.landing.after_receipt_move`` (marking).

Idempotency (:meth:`Landing.commit` with a key): the record, keyed by
sha256(dataset, caller, key) and holding the full receipt, is published with an exclusive
``link`` *before* the body is renamed into place. A retry finds it and gets the same receipt;
if the first attempt died before landing, the retry completes the batch under the recorded id.
A retry with a different body (decoded sha256 or content type) is an
:class:`~connectors.http_push.exceptions.IdempotencyConflictError`. Within one process, pushes
with the same key are serialised by a lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faults
from connectors.http_push.body import BodyWriter
from connectors.http_push.exceptions import IdempotencyConflictError, LandingError
from connectors.http_push.receipts import Receipt

log = logging.getLogger(__name__)

#: Media type -> file extension. These three are the only accepted bodies.
FORMATS: dict[str, str] = {
    "text/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
}
RECEIPT_SUFFIX = ".receipt.json"
_RECORD_SUFFIXES = (RECEIPT_SUFFIX, ".processed.json", ".error.json")
_STATES = ("batches", "processed", "quarantine")


@dataclass(frozen=True)
class PendingBatch:
    """A complete batch (body + receipt) waiting in ``batches/``."""

    dataset: str
    batch_id: str
    path: Path
    receipt_path: Path
    receipt: Receipt


@dataclass(frozen=True)
class CommitResult:
    receipt: Receipt
    replayed: bool


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_durably(path: Path, data: Mapping[str, Any], *, exclusive: bool = False) -> None:
    """Write JSON via temp file + fsync + rename (or ``link`` if ``exclusive``); fsync the dir.

    With ``exclusive`` an existing ``path`` is never replaced: FileExistsError is raised.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)


def new_batch_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


class Landing:
    """The landing area under ``root`` (see module docstring for the layout)."""

    def __init__(self, root: str | Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.root = Path(root)
        self._now = clock or (lambda: datetime.now(UTC))
        self._locks = [threading.Lock() for _ in range(64)]

    # -- layout ---------------------------------------------------------------------------
    def dir(self, dataset: str, state: str = "batches") -> Path:
        if not dataset or "/" in dataset or dataset.startswith("."):
            raise LandingError(f"landing {self.root}: {dataset!r} is not a dataset name")
        return self.root / dataset / state

    def open_body(
        self, dataset: str, *, content_type: str, gzip: bool, max_bytes: int, max_decoded_bytes: int
    ) -> BodyWriter:
        """Start receiving a body for ``dataset`` into ``.tmp/`` (see :class:`BodyWriter`)."""
        if content_type not in FORMATS:
            raise LandingError(f"landing: unsupported content type {content_type!r}")
        return BodyWriter(
            self.dir(dataset, ".tmp"),
            gzip=gzip,
            max_bytes=max_bytes,
            max_decoded_bytes=max_decoded_bytes,
        )

    # -- writing --------------------------------------------------------------------------
    def commit(
        self,
        dataset: str,
        body: BodyWriter,
        *,
        content_type: str,
        caller: str,
        idempotency_key: str | None = None,
        sign: Callable[[Receipt], Receipt] | None = None,
    ) -> CommitResult:
        """Land a finished body durably and return its receipt (blocking file I/O).

        With ``idempotency_key``, a body already landed under the same (dataset, caller, key)
        returns the first receipt (``replayed=True``) and this body is discarded.
        """
        try:
            if idempotency_key is None:
                receipt = self._receipt(dataset, body, content_type, caller, None, sign)
                self._land(receipt, body)
                return CommitResult(receipt, replayed=False)
            key_hash = hashlib.sha256(
                f"{dataset}\0{caller}\0{idempotency_key}".encode()
            ).hexdigest()
            with self._locks[int(key_hash[:4], 16) % len(self._locks)]:
                return self._commit_idempotent(dataset, body, content_type, caller, key_hash, sign)
        finally:
            body.discard()  # no-op once the temp file has been renamed into place

    def _commit_idempotent(
        self,
        dataset: str,
        body: BodyWriter,
        content_type: str,
        caller: str,
        key_hash: str,
        sign: Callable[[Receipt], Receipt] | None,
    ) -> CommitResult:
        idem_dir = self.dir(dataset, "idempotency")
        idem_dir.mkdir(parents=True, exist_ok=True)
        record_path = idem_dir / f"{key_hash}.json"
        digest = {"decoded_sha256": body.decoded_sha256, "content_type": content_type}
        for _ in range(3):  # another process may publish between our read and our link
            record = _read_json(record_path)
            if record is None:
                receipt = self._receipt(dataset, body, content_type, caller, key_hash, sign)
                try:
                    write_json_durably(
                        record_path,
                        {"request": digest, "receipt": receipt.to_dict()},
                        exclusive=True,
                    )
                except FileExistsError:
                    continue
                faults.point("push.landing.after_idempotency_record")
                self._land(receipt, body)
                return CommitResult(receipt, replayed=False)
            if record.get("request") != digest:
                raise IdempotencyConflictError(
                    f"Idempotency-Key already used by this caller for dataset {dataset!r} with a "
                    "different body; use a new key for a new batch"
                )
            first = Receipt.from_dict(record["receipt"])
            if self._find(dataset, first.batch_id) is not None:
                return CommitResult(first, replayed=True)
            batches = self.dir(dataset)
            if (batches / first.file).exists():
                # Crashed after landing the body, before its receipt: finish the first attempt.
                write_json_durably(batches / f"{first.batch_id}{RECEIPT_SUFFIX}", first.to_dict())
                return CommitResult(first, replayed=True)
            # Crashed before the body landed (never acknowledged): land this body under the
            # recorded batch id, with a receipt describing these bytes.
            receipt = self._receipt(
                dataset, body, content_type, caller, key_hash, sign, batch_id=first.batch_id
            )
            write_json_durably(record_path, {"request": digest, "receipt": receipt.to_dict()})
            self._land(receipt, body)
            return CommitResult(receipt, replayed=False)
        raise LandingError(f"landing {record_path}: idempotency record keeps changing; retry")

    def _receipt(
        self,
        dataset: str,
        body: BodyWriter,
        content_type: str,
        caller: str,
        key_hash: str | None,
        sign: Callable[[Receipt], Receipt] | None,
        batch_id: str | None = None,
    ) -> Receipt:
        now = self._now()
        batch_id = batch_id or new_batch_id(now)
        ext = FORMATS[content_type] + (".gz" if body.gzip else "")
        receipt = Receipt(
            batch_id=batch_id,
            dataset=dataset,
            sha256=body.sha256,
            bytes=body.size,
            content_type=content_type,
            content_encoding="gzip" if body.gzip else "identity",
            decoded_sha256=body.decoded_sha256,
            decoded_bytes=body.decoded_size,
            received_at=now.astimezone(UTC).isoformat(),
            caller=caller,
            file=f"{batch_id}.{ext}",
            idempotency_key_sha256=key_hash,
        )
        return sign(receipt) if sign else receipt

    def _land(self, receipt: Receipt, body: BodyWriter) -> None:
        batches = self.dir(receipt.dataset)
        batches.mkdir(parents=True, exist_ok=True)
        body.move_to(batches / receipt.file)
        faults.point("push.landing.after_body")  # landed, no receipt: not pending, not acknowledged
        write_json_durably(batches / f"{receipt.batch_id}{RECEIPT_SUFFIX}", receipt.to_dict())
        faults.point("push.landing.after_receipt")  # pending, the partner not yet answered
        log.info(
            "landed batch %s of %s (%d bytes) from %s",
            receipt.batch_id,
            receipt.dataset,
            receipt.bytes,
            receipt.caller,
        )

    # -- reading --------------------------------------------------------------------------
    def pending(self, dataset: str) -> list[PendingBatch]:
        """Complete batches (those with a receipt) waiting in ``batches/``, oldest first."""
        batches = self.dir(dataset)
        if not batches.is_dir():
            return []
        out = []
        for receipt_path in sorted(batches.glob(f"*{RECEIPT_SUFFIX}")):
            batch = self._load(dataset, receipt_path)
            if batch is not None:
                out.append(batch)
        return out

    def get(self, dataset: str, batch_id: str) -> PendingBatch:
        """The pending batch ``batch_id``; LandingError if it is not (or no longer) pending."""
        receipt_path = self.dir(dataset) / f"{_check_id(batch_id)}{RECEIPT_SUFFIX}"
        batch = self._load(dataset, receipt_path) if receipt_path.exists() else None
        if batch is None:
            where = self._find(dataset, batch_id)
            state = f"it is in {where}/" if where else "no such batch"
            raise LandingError(
                f"landing {self.root}: batch {batch_id!r} of {dataset!r} is not pending ({state})"
            )
        return batch

    def _load(self, dataset: str, receipt_path: Path) -> PendingBatch | None:
        try:
            receipt = Receipt.from_dict(json.loads(receipt_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as err:
            log.warning("landing: unreadable receipt %s (%s); skipping", receipt_path, err)
            return None
        path = receipt_path.parent / receipt.file
        if not path.exists():
            log.warning("landing: receipt %s has no body %s; skipping", receipt_path, path.name)
            return None
        return PendingBatch(dataset, receipt.batch_id, path, receipt_path, receipt)

    def _find(self, dataset: str, batch_id: str) -> str | None:
        for state in _STATES:
            if (self.dir(dataset, state) / f"{batch_id}{RECEIPT_SUFFIX}").exists():
                return state
        return None

    # -- consuming ------------------------------------------------------------------------
    def mark_processed(
        self, dataset: str, batch_id: str, *, details: Mapping[str, Any] | None = None
    ) -> Path:
        """Move a pending batch to ``processed/`` with a ``<id>.processed.json`` record."""
        record = {
            "batch_id": batch_id,
            "processed_at": self._now().isoformat(),
            "details": dict(details or {}),
        }
        return self._move(dataset, batch_id, "processed", ".processed.json", record)

    def mark_failed(
        self, dataset: str, batch_id: str, *, error: str, details: Mapping[str, Any] | None = None
    ) -> Path:
        """Move a pending batch to ``quarantine/`` with a ``<id>.error.json`` saying why."""
        record = {
            "batch_id": batch_id,
            "failed_at": self._now().isoformat(),
            "error": error,
            "details": dict(details or {}),
        }
        return self._move(dataset, batch_id, "quarantine", ".error.json", record)

    def _move(
        self, dataset: str, batch_id: str, state: str, suffix: str, record: dict[str, Any]
    ) -> Path:
        batch = self.get(dataset, batch_id)
        dest = self.dir(dataset, state)
        dest.mkdir(parents=True, exist_ok=True)
        record["receipt"] = batch.receipt.to_dict()
        record["file"] = str(dest / batch.path.name)  # where the body is from now on
        write_json_durably(dest / f"{batch_id}{suffix}", record)
        faults.point("push.landing.after_record")
        # Receipt first: the batch leaves the pending list atomically; recover() moves a body
        # left behind by a crash between the two renames.
        try:
            os.replace(batch.receipt_path, dest / batch.receipt_path.name)
        except FileNotFoundError as err:
            raise LandingError(
                f"landing: batch {batch_id!r} of {dataset!r} was moved concurrently; nothing to do"
            ) from err
        faults.point("push.landing.after_receipt_move")  # no longer pending, body not yet moved
        os.replace(batch.path, dest / batch.path.name)
        fsync_dir(dest)
        fsync_dir(batch.path.parent)
        log.info("batch %s of %s moved to %s", batch_id, dataset, state)
        return dest / batch.path.name

    def recover(self, dataset: str) -> dict[str, list[str]]:
        """Finish moves interrupted by a crash; report bodies that never got a receipt.

        Returns ``{"moved": [...], "orphans": [...], "partial_uploads": [...]}`` (file names).
        Orphans are bodies in ``batches/`` with no receipt anywhere (the push was never
        acknowledged, or will be completed by an idempotent retry); they are reported, not deleted.
        """
        report: dict[str, list[str]] = {"moved": [], "orphans": [], "partial_uploads": []}
        batches = self.dir(dataset)
        if batches.is_dir():
            for path in sorted(batches.iterdir()):
                if path.name.startswith(".") or path.name.endswith(_RECORD_SUFFIXES):
                    continue
                batch_id = path.name.split(".", 1)[0]
                state = self._find(dataset, batch_id)
                if state in ("processed", "quarantine"):
                    os.replace(path, self.dir(dataset, state) / path.name)
                    report["moved"].append(path.name)
                elif state is None:
                    report["orphans"].append(path.name)
        tmp = self.dir(dataset, ".tmp")
        if tmp.is_dir():
            report["partial_uploads"] = sorted(p.name for p in tmp.iterdir())
        return report


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise LandingError(f"landing: cannot read {path}: {err}; inspect or remove it") from err
    return data if isinstance(data, dict) else None


def _check_id(batch_id: str) -> str:
    if not batch_id or "/" in batch_id or batch_id.startswith(".") or "\\" in batch_id:
        raise LandingError(f"landing: {batch_id!r} is not a batch id")
    return batch_id
