"""HTTP pull: resume from the lake's cursor, fetch, commit rows and new cursor in one commit.

One pull of a source, holding the source's spool lock (one pull of a source at a time):

1. ``committed = committed_cursor(...)``: the newest cursor the source recorded in the lake
   (:mod:`pipeline.kinds.pull_state`; the local cursor file is only a cache).
2. Leftovers of a killed pull are settled: unfinished spools are deleted; a finished spool with
   its description (authenticated by an HMAC with the pull key, :mod:`pipeline.kinds.pull_key`;
   its sha256 intact) is committed if its content already reached bronze
   (finishing its quarantine commit) or if it starts where the lake's cursor is (it is the pull
   this run would make, read earlier); one that began before the lake's cursor is cut down to its
   records after that cursor (versions newer than what the lake holds) and committed; any other
   is stale and deleted. A spool is never ingested otherwise.
3. ``fetch(since=committed)`` spools every page (pagination stays complete while the API changes,
   see ``connectors/http_pull/README.md``).
4. The rows and the ``maestro.pull`` entry (the new cursor) go into the same atomic Delta commits
   (``ingest_object(commit_metadata=...)``). A crash before the commit leaves the old cursor, a
   crash after it the new one: never the rows without their cursor or the cursor without them.
5. The cache is updated and the spool deleted.

A re-run after a crash after step 4 therefore starts after the committed records, whatever the
API answers meanwhile. A pull with no new record commits nothing (except, rarely, an empty commit
re-recording the cursor before the log could expire it). A pull whose content is already
committed (same bytes) commits nothing. A whole-input failure (records that do not fit the
contract's columns) commits nothing, keeps the spool under ``<spool_dir>/_rejected/`` with an
``.error.json``, and leaves the cursor where it was.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import faults
from config.settings import Settings
from connectors.base import Manifest, Source, sha256_file
from connectors.exceptions import ConnectorError, SourceUnavailableError
from contracts.model import Contract
from lake.delta import Lake, open_table
from pipeline import ingest
from pipeline.ingest import IngestResult, app_id_for
from pipeline.inputs import SpooledSource
from pipeline.kinds.pull_key import pull_key
from pipeline.kinds.pull_state import (
    CommittedCursor,
    committed_cursor,
    log_retention,
    pull_metadata,
    record_cursor,
    refresh_due,
)
from pipeline.report import DatasetReport, input_error

if TYPE_CHECKING:  # the connector (httpx, pydantic) is imported when a pull runs
    from deltalake import DeltaTable

    from connectors.http_pull import Cursor, HttpPullSource, PullResult

LOCK_WAIT_S = 60.0


def ingest_pull(
    source: Source, contract: Contract, lake: Lake, report: DatasetReport, *, keys_dir: Path | None = None
) -> None:
    """Pull ``source`` into ``contract``'s tables (see the module docstring).

    ``keys_dir`` holds the pull key (:mod:`pipeline.kinds.pull_key`; default: the settings' one).
    """
    from connectors.http_pull import HttpPullSource, SpoolBusyError, SpoolLock

    assert isinstance(source, HttpPullSource) and source.spool_dir is not None
    try:
        key = pull_key(keys_dir or Settings.from_env().keys_dir)
    except ConnectorError as err:
        report.input_errors.append(input_error(source.name, source.config.url, err))
        return
    try:
        with SpoolLock(source.spool_dir, wait_s=LOCK_WAIT_S):
            _Pull(source, contract, lake, report, key).run()
    except SpoolBusyError as err:
        busy = SourceUnavailableError(
            f"source {source.name!r}: another pull of this source is still running ({err}); this "
            "run pulled nothing, the next one continues from the committed cursor"
        )
        report.input_errors.append(input_error(source.name, source.config.url, busy))


class _Pull:
    """One pull of one source, under its lock (the steps of the module docstring)."""

    def __init__(
        self, source: HttpPullSource, contract: Contract, lake: Lake, report: DatasetReport, key: bytes
    ) -> None:
        assert source.spool_dir is not None
        self.source, self.contract, self.lake, self.report, self.key = source, contract, lake, report, key
        self.spool_dir: Path = source.spool_dir
        self.cache = source.cursor_store
        self.incremental = source.config.incremental is not None

    def run(self) -> None:
        from connectors.http_pull import CursorStateError

        try:
            self._run()
        except CursorStateError as err:  # the lake's cursor cannot be trusted or found: stop here
            self._error(err)

    def _run(self) -> None:
        from connectors.http_pull import clear_unfinished, remove_pull

        committed = self._committed()
        clear_unfinished(self.spool_dir)
        committed = self._settle_leftovers(committed)
        self._check_complete(committed)
        try:
            pulled = self.source.fetch(self.spool_dir, since=committed.cursor, sign_with=self.key)
        except ConnectorError as err:
            self._error(err)
            return
        faults.point("pipeline.pull.after_fetch")
        if pulled.records == 0:
            remove_pull(pulled.spool_path)
            self._keep_alive(committed)
            return
        self._commit(pulled)

    # -- helpers ----------------------------------------------------------------------------

    def _error(self, err: Exception, where: str | None = None) -> None:
        self.report.input_errors.append(input_error(self.source.name, where or self.source.config.url, err))

    def _committed(self) -> CommittedCursor:
        return committed_cursor(self.lake, self.contract.name, self.source.name, self.cache, key=self.key)

    def _table(self, layer: str) -> DeltaTable | None:
        return open_table(self.lake.table_uri(layer, self.contract.name), storage_options=self.lake.options())

    def _app_id(self, pulled: PullResult) -> str:
        manifest = Manifest(source=self.source.name, kind=self.source.kind, dataset=self.contract.name,
                            objects=(pulled.source_object(),))
        return app_id_for(self.contract.name, manifest)

    # -- steps ------------------------------------------------------------------------------

    def _settle_leftovers(self, committed: CommittedCursor) -> CommittedCursor:
        """Commit, narrow or discard the finished spools killed pulls left (module docstring, 2)."""
        from connectors.http_pull import PullResult, finished_pulls, narrow_pull, remove_pull

        for sidecar in finished_pulls(self.spool_dir):
            spool = sidecar.with_name(sidecar.name.removesuffix(".pull.json"))
            try:
                left = PullResult.load(sidecar, key=self.key)
            except ValueError as err:
                remove_pull(spool)  # never mistaken for data: reported, and the window read again
                self._error(ConnectorError(f"source {self.source.name!r}: discarded {spool.name}: {err}"),
                            str(sidecar))
                continue
            app_id = self._app_id(left)
            bronze = self._table("bronze")
            in_bronze = bronze is not None and bronze.transaction_version(app_id) is not None
            if left.source != self.source.name or left.records == 0:
                remove_pull(spool)
                continue
            if sha256_file(str(spool)) != (left.sha256, left.size):
                remove_pull(spool)  # not what was pulled: never mistaken for data
                if in_bronze:
                    self._error(ConnectorError(
                        f"source {self.source.name!r}: the spool of a pull whose rows reached bronze "
                        f"({app_id}) does not match its sha256 any more, so the rows it rejected "
                        "cannot be recorded in quarantine; its valid rows are committed"), str(spool))
                continue
            start = committed.cursor or self.source.initial_cursor()
            if not in_bronze and left.since != start:
                if start is None or _ahead(left.since, start) or not _ahead(left.new_cursor, start):
                    remove_pull(spool)  # stale: nothing in it is newer than the lake's cursor
                    continue
                # It began before the lake's cursor (another pull committed since): what it holds
                # after that cursor is new, the rest the lake already has.
                narrowed = narrow_pull(self.source.config, left, after=start, key=self.key)
                if narrowed is None:
                    continue
                left = narrowed
            faults.point("pipeline.pull.before_leftover_commit")
            self._commit(left)
            committed = self._committed()
        return committed

    def _check_complete(self, committed: CommittedCursor) -> None:
        """Report a pull whose rows reached bronze but whose quarantine commit never came."""
        app_id = committed.app_id
        if committed.origin != "lake" or not app_id or not app_id.startswith("maestro-ingest:"):
            return
        quarantine = self._table("quarantine")
        if quarantine is None or quarantine.transaction_version(app_id) is None:
            self._error(ConnectorError(
                f"source {self.source.name!r}: bronze version {committed.version} holds a pull ({app_id}) "
                "whose quarantine commit is missing and whose spool is gone: the rows it rejected are "
                "not recorded; its valid rows are committed and the pull continues after them"))

    def _commit(self, pulled: PullResult) -> IngestResult | None:
        """Commit a pull's rows with its cursor; then cache the cursor and delete the spool."""
        from connectors.http_pull import read_spool, remove_pull

        if self.cache is not None and pulled.new_cursor is not None:
            self.cache.set_pending(self.source.name, pulled.new_cursor, app_id=self._app_id(pulled))
        spooled = SpooledSource(
            self.source, lambda n: read_spool(pulled.spool_path, n, columns=list(pulled.columns))
        )
        obj = pulled.source_object()
        try:
            result = ingest.ingest_object(
                spooled, obj, self.contract, self.lake, commit_metadata=pull_metadata(pulled, key=self.key)
            )
        except ConnectorError as err:
            self._error(err, obj.uri)
            return None
        self.report.results.append(result)
        if result.status == "failed":
            self._error(ConnectorError(result.error or "unknown error"), obj.uri)
            self._reject(pulled, result.error or "unknown error")
            return result
        faults.point("pipeline.pull.after_commit")
        if self.incremental:
            found = self._committed()
            if result.status == "already_committed" and _ahead(pulled.new_cursor, found.cursor):
                # Same bytes as a pull committed before (with another start): its records are in
                # the lake, so the cursor may move to where this pull ended.
                assert pulled.new_cursor is not None
                done = record_cursor(self.lake, self.contract, self.source.name, pulled.new_cursor,
                                     key=self.key, reason="already_committed")
                found = CommittedCursor(pulled.new_cursor, "lake", app_id=done.metadata.get("maestro.app_id"))
            if self.cache is not None and found.cursor is not None:
                self.cache.set(self.source.name, found.cursor, app_id=found.app_id)
        faults.point("pipeline.pull.after_cursor_cache")
        remove_pull(pulled.spool_path)
        return result

    def _reject(self, pulled: PullResult, error: str) -> None:
        """Keep a spool that cannot be ingested (the original) beside an error record."""
        folder = self.spool_dir / "_rejected"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.source.name}-{pulled.sha256[:16]}"
        record = {"source": self.source.name, "dataset": self.contract.name, "error": error,
                  "pull": pulled.to_dict(), "rejected_at": datetime.now(UTC).isoformat()}
        (folder / f"{stem}.error.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(pulled.spool_path, folder / f"{stem}.ndjson")
        pulled.sidecar_path.unlink(missing_ok=True)

    def _keep_alive(self, committed: CommittedCursor) -> None:
        """Nothing new: re-record the cursor if the log could otherwise expire it; sync the cache."""
        cursor = committed.cursor
        if cursor is None:
            return
        if refresh_due(committed, log_retention(self.lake, self.contract.name), datetime.now(UTC)):
            done = record_cursor(self.lake, self.contract, self.source.name, cursor, key=self.key,
                                 reason="keepalive")
            committed = CommittedCursor(cursor, "lake", app_id=done.metadata.get("maestro.app_id"))
            faults.point("pipeline.pull.after_keepalive")
        if self.cache is None:
            return
        from connectors.http_pull import CursorStateError

        try:
            cached = self.cache.load(self.source.name)
        except CursorStateError:
            cached = None  # an unreadable cache is replaced: the lake has the answer
        if cached is None or (cached.cursor, cached.app_id) != (cursor, committed.app_id) or cached.pending:
            self.cache.set(self.source.name, cursor, app_id=committed.app_id)


def _ahead(new: Cursor | None, old: Cursor | None) -> bool:
    """Whether position ``new`` is after ``old`` (``None``: no position)."""
    from connectors.http_pull import CursorMax

    if new is None:
        return False
    if old is None:
        return True
    top = CursorMax(old)
    top.update(new.value, new.id)
    return top.cursor != old
