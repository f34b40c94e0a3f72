"""File drop: claim each requested (or complete) file, read exactly that file, then archive it,
quarantine it or put it back. Nothing is ever overwritten, deleted or left claimed by a live run.

For every file:

1. **confine** — a requested path must be an entry of the source's folder matching its patterns;
   anything else is refused with an error and never touched;
2. **claim** — moved into a claim of this process (no-clobber; its lock is held until settled);
   claims of processes that are gone are put back first (:meth:`DropFolder.recover_stale`);
3. **open** — once, following no link; a link, a hard link, a FIFO or a device is quarantined
   unread, with an ``.error.json`` saying why;
4. **ingest** — the reader reads the opened file; when its stream ends the file must be exactly as
   hashed (``fstat`` and sha256), else the stream raises :class:`FileChangedError` instead of
   ending, so nothing is committed (the lake commits only a stream that ends cleanly);
5. **settle** — committed: archived where the commit's manifest says (read back from the lake when
   an earlier attempt committed it), so every row's source pointer resolves; rejected whole:
   quarantined with a report naming where it is; anything else (a retryable error, the lake down,
   a bug, the run being stopped): put back into the folder unchanged, for a later run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlparse

import pyarrow as pa

import faults
from connectors.archive import is_archive, member_uri, split_member
from connectors.base import Manifest, Source, SourceObject
from connectors.decode import content_digest
from connectors.exceptions import ConnectorError
from connectors.file_drop import FileDropSource
from connectors.file_drop.claims import Claim
from connectors.file_drop.exceptions import DropPathError, UnsafeEntryError
from connectors.file_drop.fsops import VerifiedFile, make_dirs, move_noclobber, shown, split_ext
from contracts.model import Contract
from lake.delta import Lake, find_commit, open_table
from pipeline.inputs import SpooledSource, ingest_one
from pipeline.report import DatasetReport, input_error

log = logging.getLogger(__name__)
Outcome = tuple[SourceObject, Any, "dict[str, Any] | None"]  # (input, its result, its connector error)


def ingest_drop_folder(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, files: Sequence[str] | None
) -> None:
    assert isinstance(source, FileDropSource)
    folder = source.folder
    folder.ensure()
    recovered = folder.recover_stale()
    paths: list[Path] = []
    if files:
        for ref in files:
            try:
                paths.append(folder.confine(ref))
            except DropPathError as err:
                report.input_errors.append(input_error(source.name, ref, err))
        # A stranded file requested by its name but put back beside a newer one of that name
        # (as x~2.csv) is still what was asked for: this run ingests both.
        paths += [p for p in recovered if p.parent / _original(p.name) in paths]
    else:
        paths = [f.path for f in folder.scan(hash_new=False).ready]
    for path in dict.fromkeys(paths):
        try:
            claim = folder.claim(path)
        except DropPathError as err:
            report.input_errors.append(input_error(source.name, shown(path), err))
            continue
        if claim is None:
            continue  # another run claimed it first, or it was already processed
        try:
            _ingest_claimed(source, claim, contract, lake, report)
        finally:
            folder.forget(claim)
            claim.close()


def _original(name: str) -> str:
    """``x.csv`` for a put-back variant ``x~2.csv``."""
    stem, ext = split_ext(name)
    base, sep, n = stem.rpartition("~")
    return f"{base}{ext}" if sep and n.isdigit() else name


def _ingest_claimed(
    source: FileDropSource, claim: Claim, contract: Contract, lake: Lake, report: DatasetReport
) -> None:
    folder = source.folder
    olds = [str(claim.path), shown(claim.path)]
    try:
        try:
            opened = folder.open_claimed(claim)
        except UnsafeEntryError as err:
            _quarantine(source, claim, contract, report, None, err.code, err.reason, olds)
            return
        faults.point("drop.after_open")
        olds += [opened.read_path, claim.path.as_uri()]
        mtime = datetime.fromtimestamp(opened.stat.st_mtime, tz=UTC)
        read_obj = SourceObject(uri=claim.path.as_uri(), sha256=opened.sha256, size=opened.size, mtime=mtime)
        try:
            inputs = _inputs(source, claim, read_obj)  # the file itself, or each member of a zip
        except ConnectorError as err:  # an archive that cannot be read as a whole
            _quarantine(source, claim, contract, report, read_obj, "unreadable", str(err), olds)
            return
        dest = _destination(folder, lake, contract, source, inputs, claim.name)
        olds += [str(dest), shown(dest), dest.as_uri()]
        outcomes: list[Outcome] = []
        for member in inputs:
            name = split_member(member.uri)[1]
            obj = replace(member, uri=dest.as_uri() if name is None else member_uri(dest.as_uri(), name))

            def read(batch_rows: int, o: SourceObject = member) -> Iterator[pa.RecordBatch]:
                yield from source.read(o, batch_rows=batch_rows)
                # Before the stream ends: a file that changed while it was read is never committed.
                opened.verify_unchanged(shown(claim.path))
                faults.point("drop.after_read")

            result = ingest_one(SpooledSource(source, read), obj, contract, lake, report)
            outcomes.append((obj, result, report.input_errors[-1] if result is None else None))
            faults.point("pipeline.drop.after_input")
        retry = next((e for _, r, e in outcomes if e is not None and e.get("retryable")), None)
        done = [r for _, r, _ in outcomes if r is not None and r.status in ("committed", "already_committed")]
        if retry is not None:  # a connector error that may pass: the whole file goes back
            _put_back(folder, claim, report, retry, olds)
        elif done:
            # Errors of members that failed name them where the archive will be.
            for _, result, entry in outcomes:
                if entry is not None:
                    entry["error"] = _renamed(entry["error"], olds, dest.as_uri())
                elif result is not None and result.error:
                    result.error = _renamed(result.error, olds, dest.as_uri())
            faults.point("drop.after_commit")
            _archive(folder, claim, opened, dest, done[0], report, olds, inputs=_summary(outcomes))
        else:
            # Rejected whole: one error entry, naming where the file ends up.
            mine = {o.uri for o, _, _ in outcomes}
            report.input_errors[:] = [e for e in report.input_errors if e.get("input") not in mine]
            obj, result, entry = outcomes[0]
            code = "unreadable" if result is None else "rejected"
            error = "; ".join(_error_of(r, e) for _, r, e in outcomes)
            _quarantine(source, claim, contract, report, obj, code, error, olds, result=result)
    except BaseException as err:
        if not claim.holds_file():
            raise
        if not isinstance(err, ConnectorError):
            log.exception("%s: unexpected error; the file goes back into the drop folder", claim.path)
        entry = {"source": source.name, "input": shown(claim.path), "error": f"{type(err).__name__}: {err}",
                 "retryable": True}
        _put_back(folder, claim, report, entry, olds, append=True)
        if not isinstance(err, Exception):
            raise  # the run is being stopped: the file is back, let it stop


def _inputs(source: FileDropSource, claim: Claim, read_obj: SourceObject) -> list[SourceObject]:
    """The inputs of the opened file: itself (with the hash of its decoded content when it is
    compressed), or one per file member of a zip archive (named ``<claim uri>#member=<name>``)."""
    if not is_archive(claim.name):
        path = source.folder.readable_path(str(claim.path))
        content = content_digest(path, label=read_obj.uri, limits=source.config.limits)
        return [replace(read_obj, content_sha256=content)]
    members = source.inputs(claim.path)
    return [replace(m, sha256=read_obj.sha256, mtime=read_obj.mtime) for m in members]


def _error_of(result: Any, entry: dict[str, Any] | None) -> str:
    if result is not None:
        return str(result.error or "rejected")
    return str((entry or {}).get("error") or "unreadable")


def _summary(outcomes: list[Outcome]) -> list[dict[str, Any]] | None:
    """Each member's outcome, for the manifest beside an archived zip (None for a single file)."""
    if len(outcomes) == 1 and split_member(outcomes[0][0].uri)[1] is None:
        return None
    return [
        {"input": o.uri, "status": r.status if r is not None else "failed",
         "error": None if r is not None and r.status != "failed" else _error_of(r, e)}
        for o, r, e in outcomes
    ]


def _put_back(folder: Any, claim: Any, report: DatasetReport, entry: dict[str, Any], olds: list[str],
              *, append: bool = False) -> None:
    back = folder.release(claim)
    entry["input"] = shown(back)
    renamed = _named(_renamed(entry["error"], olds, shown(back)), back)
    entry["error"] = f"{renamed} (put back into the drop folder: retried later)"
    if append:
        report.input_errors.append(entry)


def _archive(folder: Any, claim: Any, opened: Any, dest: Path, result: Any, report: DatasetReport,
             olds: list[str], *, inputs: list[dict[str, Any]] | None = None) -> None:
    record = {"manifest": result.manifest.to_dict(), **result.summary(), "original_name": claim.name}
    if inputs is not None:
        record["inputs"] = inputs  # each member of a zip archive and what became of it
    changed = opened.changes()
    if not changed:
        folder.archive_file(claim, dest=dest, record=record)
        return
    # Written to after its read was verified (a writer ignoring the settle time): keep the bytes
    # that were committed where the manifest says, and put the new content back to be read whole.
    kept = _copy_committed_bytes(opened, claim, dest)
    note = "the file changed after its commit (" + ", ".join(changed) + "): "
    note += ("the committed bytes are kept here; the changed file went back into the drop folder" if kept
             else "the committed bytes could not be kept (rewritten in place); the changed file went back")
    folder.write_record(dest, ".manifest.json", {**record, "note": note, "archived": kept})
    back = folder.release(claim)
    report.input_errors.append({"source": result.source, "input": shown(back), "retryable": True,
                                "error": f"{shown(back)}: {note}"})


def _copy_committed_bytes(opened: VerifiedFile, claim: Claim, dest: Path) -> bool:
    """Copy the first ``opened.size`` bytes (what was committed, if the file was only appended to
    since) to ``dest`` (never replacing anything there); True if they hash to the committed sha256."""
    tmp = claim.tmp_dir() / f".tmp-{os.getpid()}-copy"  # removed with the claim if we die here
    h, offset = hashlib.sha256(), 0
    try:
        with open(tmp, "xb") as out:
            while offset < opened.size:
                block = os.pread(opened.fd, min(4 << 20, opened.size - offset), offset)
                if not block:
                    break
                h.update(block)
                out.write(block)
                offset += len(block)
        if offset != opened.size or h.hexdigest() != opened.sha256:
            return False
        make_dirs(dest.parent)
        move_noclobber(tmp, dest)
        return True
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # our own copy when it was not moved into place


def _quarantine(source: Any, claim: Any, contract: Contract, report: DatasetReport, obj: SourceObject | None,
                code: str, error: str, olds: list[str], *, result: Any = None) -> None:
    """Quarantine the claimed entry; the report, the run's errors and the result's manifest all
    name the path where it lands."""
    folder = source.folder
    prefix = obj.sha256[:16] if obj is not None else code
    final: dict[str, str] = {}

    def report_for(dest: Path) -> dict[str, Any]:
        final["error"] = _named(_renamed(error, olds, shown(dest)), dest)
        return {"sha256": obj.sha256 if obj else None, "error": final["error"], "reason": code,
                "dataset": contract.name, "source": source.name, "contract_version": contract.version,
                "original_name": claim.name}

    qpath = folder.quarantine_file(claim, prefix=prefix, report=report_for)
    uris = {o for o in (obj.uri if obj else None, str(claim.path), shown(claim.path)) if o}
    for entry in report.input_errors:
        if entry["input"] in uris:
            entry["input"], entry["error"] = shown(qpath), final["error"]
    if not any(e["input"] == shown(qpath) for e in report.input_errors):
        report.input_errors.append({"source": source.name, "input": shown(qpath), "error": final["error"],
                                    "retryable": False})
    if result is not None:
        result.error = final["error"]
        moved = tuple(replace(o, uri=qpath.as_uri()) for o in result.manifest.objects)
        result.manifest = replace(result.manifest, objects=moved)


def _renamed(text: str, olds: list[str], new: str) -> str:
    """``text`` with every name the input had on its way (claim, descriptor, archive) replaced by
    where it really is now."""
    for old in sorted(set(olds), key=len, reverse=True):
        text = text.replace(old, new)
    return text


def _named(text: str, path: Path) -> str:
    """``text`` starting with the path it is about (every error names its input)."""
    return text if text.startswith(shown(path)) else f"{shown(path)}: {text}"


def _destination(folder: Any, lake: Lake, contract: Contract, source: Source, inputs: list[SourceObject],
                 name: str) -> Path:
    """Where the file is archived after its commit: where an earlier attempt's commit of one of its
    inputs says (rows already point there), else a new free archive path."""
    for obj in inputs:
        committed = _committed_path(lake, contract, source, obj)
        if committed is not None and _is_ours(committed, folder.archive, obj.sha256, name) \
                and not os.path.lexists(committed):
            return committed
    return folder.archive_destination(name, sha256=inputs[0].sha256)


def _committed_path(lake: Lake, contract: Contract, source: Source, obj: SourceObject) -> Path | None:
    from pipeline.ingest import app_id_for

    manifest = Manifest(source=source.name, kind=source.kind, dataset=contract.name, objects=(obj,))
    app_id = app_id_for(contract.name, manifest)
    for layer in ("bronze", "quarantine"):
        dt = open_table(lake.table_uri(layer, contract.name), storage_options=lake.options())
        info = find_commit(dt, app_id) if dt is not None else None
        raw = (info or {}).get("maestro.manifest")
        if raw:
            recorded = json.loads(raw) if isinstance(raw, str) else raw
            uri = (recorded.get("objects") or [{}])[0].get("uri", "")
            if uri.startswith("file://"):
                return Path(os.fsdecode(unquote_to_bytes(urlparse(uri).path)))
    return None


def _is_ours(path: Path, archive: Path, sha256: str, name: str) -> bool:
    """Whether ``path`` is in this folder's archive and named for this content and file name."""
    inside = os.path.realpath(path.parent).startswith(os.path.realpath(archive) + os.sep)
    stem, ext = split_ext(name)
    prefix = f"{sha256[:16]}__"
    return inside and path.name.startswith(prefix + stem[:32]) and path.name.endswith(ext)
