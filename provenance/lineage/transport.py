"""An openlineage-python transport that appends every event to the provenance ledger.

Contract for users of ``LedgerTransport`` (kind ``maestro_ledger``):

- ``emit(event)`` validates the event (unless ``validate: false``), turns it into its ledger entry
  (:func:`provenance.lineage.entry.to_ledger_entry`: value-free canonical JSON, no row values —
  PII never enters the ledger), appends it durably and returns the entry's ledger index; the
  indexes are also kept in ``transport.indexes``. An invalid event raises
  :class:`~provenance.lineage.exceptions.EventInvalidError` and nothing is appended.
- ``ledger_dir`` is a local directory or an ``s3://bucket/prefix`` URI (kept a string; see
  :mod:`provenance.lineage.location`); ``endpoint_url`` overrides the AWS default chain's S3
  endpoint (which already honours ``AWS_ENDPOINT_URL``). Within a process, appends to one
  location take turns (a lock keyed by the location's text).
- A local ledger has one writer at a time: each emit opens it, appends and closes it, waiting
  (bounded, ``lock_timeout_s``) while another process holds it; past that the ledger's
  retryable :class:`~provenance.exceptions.LedgerBusyError` is raised. An S3 ledger has no
  lock (concurrent writers are safe) and opening one downloads all of it, so it stays open for
  the life of the process and each emit costs one PUT; an append that fails drops it (the next
  one reopens). Writers that keep beating this one are waited out like the lock, up to
  ``lock_timeout_s``; an unreachable store (its own retries spent) raises the retryable
  ``LedgerUnavailableError`` at once: retrying the append here could store it twice if the
  lost request lands late. Pass an open :class:`~provenance.ledger.Ledger`
  (``LedgerTransport(config, ledger=...)``) to manage one yourself.
- With ``forward_url`` set, the event is also posted to an OpenLineage HTTP backend (Marquez)
  with the client's own ``HttpTransport`` (bounded retries, timeout). Forwarding is best-effort:
  the ledger is the record; a failed forward is logged and counted in ``forward_failures``
  (set ``forward_required: true`` to raise instead). The forwarded event is the redacted one
  unless ``forward_unredacted: true``.

Config (``from_dict`` validates at once and names the bad field)::

    {"type": "maestro_ledger", "ledger_dir": ".maestro/ledger", "key_dir": null,
     "endpoint_url": null, "spec_dir": null, "validate": true, "lock_timeout_s": 30,
     "forward_url": null, "forward_endpoint": "api/v1/lineage", "forward_api_key": null,
     "forward_timeout_s": 5, "forward_required": false, "forward_unredacted": false}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attr
from openlineage.client.transport import register_transport
from openlineage.client.transport.transport import Config, Transport

from provenance.exceptions import LedgerBusyError, LedgerConfigError
from provenance.ledger import Ledger
from provenance.ledger.s3_io import LedgerUnavailableError
from provenance.lineage.entry import redact_event, to_ledger_entry
from provenance.lineage.exceptions import LineageConfigError
from provenance.lineage.location import is_uri, ledger_location, location_key, open_ledger
from provenance.lineage.settings import DEFAULT_SPEC_DIR
from provenance.lineage.validate import EventValidator, event_dict

__all__ = ["LedgerTransport", "LedgerTransportConfig", "append_entry", "close_shared_ledgers"]

log = logging.getLogger(__name__)
_KNOWN = {
    "type",
    "name",
    "priority",
    "ledger_dir",
    "key_dir",
    "endpoint_url",
    "spec_dir",
    "validate",
    "lock_timeout_s",
    "forward_url",
    "forward_endpoint",
    "forward_api_key",
    "forward_timeout_s",
    "forward_required",
    "forward_unredacted",
}
# One writer per ledger location inside this process (keyed by the location's text); the flock
# of a local ledger handles other processes, an S3 ledger's conditional puts need no lock.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
# S3 ledgers kept open per (location, endpoint): reopening one downloads every batch object.
_SHARED: dict[tuple[str, str | None], Ledger] = {}


def _process_lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def append_entry(
    ledger_dir: str | Path,
    entry: bytes,
    *,
    key_dir: Path | None = None,
    lock_timeout_s: float = 30.0,
    endpoint_url: str | None = None,
) -> int:
    """Append ``entry`` durably to the ledger at ``ledger_dir`` (path or ``s3://`` URI); return
    the entry's index.

    A local ledger is opened and closed around the append, waiting with backoff while another
    process holds the writer lock, up to ``lock_timeout_s``. An S3 ledger stays open in this
    process (see the module doc); conflicts with other writers are retried likewise.
    """
    location = ledger_location(ledger_dir)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.01
    with _process_lock(location_key(location)):
        while True:
            try:
                if is_uri(location):
                    return _append_shared(str(location), entry, key_dir, endpoint_url)
                with Ledger.open(location, key_dir=key_dir) as ledger:
                    return ledger.append(entry)
            except LedgerBusyError as err:
                if isinstance(err, LedgerUnavailableError) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)


def close_shared_ledgers() -> None:
    """Close the S3 ledgers this process keeps open for appends (they reopen when next used)."""
    for key in list(_SHARED):  # a snapshot; each is closed under its location's lock
        with _process_lock(key[0]):
            ledger = _SHARED.pop(key, None)
            if ledger is not None:
                ledger.close()


def _append_shared(
    location: str, entry: bytes, key_dir: Path | None, endpoint_url: str | None
) -> int:
    """Append through the process's open ledger at ``location`` (caller holds its lock)."""
    key = (location, endpoint_url)
    ledger = _SHARED.get(key)
    if ledger is None:
        ledger = _SHARED[key] = open_ledger(location, key_dir=key_dir, endpoint_url=endpoint_url)
    try:
        return ledger.append(entry)
    except BaseException:
        # Start afresh next time: the client may be stale or the store found damaged.
        _SHARED.pop(key, None)
        ledger.close()
        raise


def _fail(name: str, problem: str) -> LineageConfigError:
    return LineageConfigError(f"maestro_ledger transport config field '{name}': {problem}")


def _location(params: Mapping[str, Any], name: str) -> Path | str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise _fail(name, f"expected a path or s3://bucket/prefix, got {value!r}")
    try:
        return ledger_location(value)
    except LedgerConfigError as err:
        raise _fail(name, str(err)) from err


def _endpoint(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(name, f"expected the http(s) URL of an S3-compatible endpoint, got {value!r}")
    return value.rstrip("/")


def _opt_path(params: Mapping[str, Any], name: str) -> Path | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise _fail(name, f"expected a path, got {value!r}")
    return Path(value).expanduser()


def _number(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(name, f"expected a number between {low} and {high}, got {value!r}")
    return float(value)


def _flag(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise _fail(name, f"expected true or false, got {value!r}")
    return value


@attr.define
class LedgerTransportConfig(Config):
    ledger_dir: Path | str
    key_dir: Path | None = None
    endpoint_url: str | None = None
    spec_dir: Path | None = DEFAULT_SPEC_DIR
    validate: bool = True
    lock_timeout_s: float = 30.0
    forward_url: str | None = None
    forward_endpoint: str = "api/v1/lineage"
    forward_api_key: str | None = attr.field(default=None, repr=False)
    forward_timeout_s: float = 5.0
    forward_required: bool = False
    forward_unredacted: bool = False

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> LedgerTransportConfig:
        """Build and validate; raises LineageConfigError naming the first bad field."""
        if not isinstance(params, Mapping):
            raise LineageConfigError(
                f"maestro_ledger transport config must be a mapping, got {params!r}"
            )
        unknown = sorted(set(params) - _KNOWN)
        if unknown:
            raise LineageConfigError(
                f"maestro_ledger transport config: unknown field(s) {unknown}; "
                f"known: {sorted(_KNOWN)}"
            )
        ledger_dir = _location(params, "ledger_dir")
        if ledger_dir is None:
            raise _fail("ledger_dir", "required (the ledger directory or s3://bucket/prefix)")
        url = params.get("forward_url")
        if url is not None:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise _fail("forward_url", f"expected an http(s) URL of the backend, got {url!r}")
        endpoint = params.get("forward_endpoint", "api/v1/lineage")
        if not isinstance(endpoint, str) or not endpoint:
            raise _fail("forward_endpoint", f"expected a path, got {endpoint!r}")
        key = params.get("forward_api_key")
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise _fail("forward_api_key", "expected a non-empty string (the bearer token)")
        spec = _opt_path(params, "spec_dir") if "spec_dir" in params else DEFAULT_SPEC_DIR
        return cls(
            ledger_dir=ledger_dir,
            key_dir=_opt_path(params, "key_dir"),
            endpoint_url=_endpoint(params, "endpoint_url"),
            spec_dir=spec,
            validate=_flag(params, "validate", True),
            lock_timeout_s=_number(params, "lock_timeout_s", 30.0, 0, 3600),
            forward_url=url,
            forward_endpoint=endpoint,
            forward_api_key=key,
            forward_timeout_s=_number(params, "forward_timeout_s", 5.0, 0.1, 300),
            forward_required=_flag(params, "forward_required", False),
            forward_unredacted=_flag(params, "forward_unredacted", False),
        )


@register_transport
class LedgerTransport(Transport):
    """Appends each event to the provenance ledger (and optionally forwards it)."""

    kind = "maestro_ledger"
    config_class = LedgerTransportConfig

    def __init__(self, config: LedgerTransportConfig, *, ledger: Ledger | None = None) -> None:
        self.config = config
        self._ledger = ledger
        self.indexes: list[int] = []
        self.forward_failures = 0
        self._validator = EventValidator.for_spec_dir(config.spec_dir) if config.validate else None
        self._forward = None
        if config.forward_url:
            from openlineage.client.transport.http import HttpConfig, HttpTransport

            http: dict[str, Any] = {
                "url": config.forward_url,
                "endpoint": config.forward_endpoint,
                "timeout": config.forward_timeout_s,
                "retry": {"total": 3, "connect": 3, "read": 3, "backoff_factor": 0.3},
            }
            if config.forward_api_key:
                http["auth"] = {"type": "api_key", "apiKey": config.forward_api_key}
            self._forward = HttpTransport(HttpConfig.from_dict(http))

    def emit(self, event: Any) -> int:
        """Validate, append to the ledger, forward; return the entry's ledger index."""
        doc = event_dict(event)
        if self._validator is not None:
            self._validator.check(doc)
        entry = to_ledger_entry(doc)
        if self._ledger is not None:
            index = self._ledger.append(entry)
        else:
            index = append_entry(
                self.config.ledger_dir,
                entry,
                key_dir=self.config.key_dir,
                lock_timeout_s=self.config.lock_timeout_s,
                endpoint_url=self.config.endpoint_url,
            )
        self.indexes.append(index)
        if self._forward is not None:
            self._send(doc if self.config.forward_unredacted else redact_event(doc))
        return index

    def _send(self, doc: dict[str, Any]) -> None:
        assert self._forward is not None
        try:
            self._forward.emit(doc)  # type: ignore[arg-type]  # Serde.to_json takes dicts too
        except Exception as err:
            self.forward_failures += 1
            if self.config.forward_required:
                raise
            log.warning(
                "forwarding lineage event to %s failed: %s",
                self.config.forward_url,
                type(err).__name__,
            )

    def close(self, timeout: float = -1) -> bool:
        if self._forward is not None:
            self._forward.close(timeout)
        return True
