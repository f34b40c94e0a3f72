"""Where the ledger lives: a local directory or an ``s3://bucket/prefix`` URI, handled alike.

Contract:

- A ledger location is ``str | Path``. :func:`ledger_location` normalises it once: a string
  with a scheme stays a string (``Path("s3://b/p")`` would fold it to ``s3:/b/p``), trailing
  slashes dropped; only ``s3://bucket/prefix`` is accepted (else ``LedgerConfigError`` naming
  it). Anything else is a local directory, returned as an expanded ``Path`` exactly as before.
- :func:`location_key` names a location for process-level locks and caches: the resolved
  absolute path of a directory, the URI itself otherwise.
- :func:`open_ledger` opens a :class:`~provenance.ledger.Ledger` at a location. ``endpoint_url``
  (an S3-compatible endpoint, e.g. the lake's ``MAESTRO_LAKE_ENDPOINT_URL`` from
  ``config.settings``) overrides the AWS default chain's; without it boto3 uses the chain,
  which honours ``AWS_ENDPOINT_URL``. A local location ignores it.
- :func:`ledger_exists` asks the store whether a ledger is there, creating nothing:
  ``ledger.json`` in the directory, or a HEAD of the ``ledger.json`` object under the prefix
  (with the store client's timeouts and bounded retries).
- Building an S3 client costs a noticeable fraction of a second, so callers that check and
  then open pass one client (:func:`s3_client`) to both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.exceptions import LedgerConfigError
from provenance.ledger import Ledger

__all__ = [
    "is_uri",
    "ledger_exists",
    "ledger_location",
    "location_key",
    "open_ledger",
    "s3_client",
]


def is_uri(location: str | Path) -> bool:
    """True for an object-store location (``scheme://...``), False for a local directory."""
    return isinstance(location, str) and "://" in location


def ledger_location(value: str | Path) -> str | Path:
    """The ledger location ``value`` names: an ``s3://`` URI string or a local ``Path``."""
    if isinstance(value, str) and "://" in value:
        scheme, _, rest = value.strip().partition("://")
        if scheme != "s3":
            raise LedgerConfigError(
                f"ledger location {value!r} uses the {scheme!r} scheme; use a local directory "
                "path or s3://bucket/prefix"
            )
        from provenance.ledger.s3_io import parse_location

        uri = f"s3://{rest.rstrip('/')}"
        parse_location(uri)  # names a bad bucket or prefix now, not at the first append
        return uri
    return Path(value).expanduser()


def location_key(location: str | Path) -> str:
    """The text that identifies ``location`` within this process (locks, open-ledger caches)."""
    where = ledger_location(location)
    return where if isinstance(where, str) else str(where.resolve())


def s3_client(endpoint_url: str | None = None) -> Any:
    """An S3 client as the ledger store builds it (default chain; ``endpoint_url`` overrides)."""
    from provenance.ledger.s3_io import make_client

    return make_client(endpoint_url=endpoint_url)


def open_ledger(
    location: str | Path,
    *,
    key_dir: str | Path | None = None,
    read_only: bool = False,
    endpoint_url: str | None = None,
    client: Any = None,
) -> Ledger:
    """Open (creating it unless ``read_only``) the ledger at ``location``; see the module doc.

    ``client`` (from :func:`s3_client`) is used for an ``s3://`` location instead of a new one.
    """
    where = ledger_location(location)
    if not isinstance(where, str) or (endpoint_url is None and client is None):
        return Ledger.open(where, key_dir=key_dir, read_only=read_only)
    from provenance.ledger.s3 import S3Store

    # Ledger.open builds its client from the default chain only; an explicit endpoint or
    # client needs the store opened here and wrapped.
    store = S3Store.open(
        where, mode="read" if read_only else "write", endpoint_url=endpoint_url, client=client
    )
    try:
        return Ledger(store, key_dir=Path(key_dir) if key_dir is not None else None)
    except BaseException:
        store.close()
        raise


def ledger_exists(
    location: str | Path, *, endpoint_url: str | None = None, client: Any = None
) -> bool:
    """Whether a ledger is stored at ``location`` (its ``ledger.json`` exists)."""
    where = ledger_location(location)
    if not isinstance(where, str):
        return (where / "ledger.json").is_file()
    from provenance.ledger.s3_io import S3Objects, parse_location

    place = parse_location(where)
    objects = S3Objects(client if client is not None else s3_client(endpoint_url), place)
    return objects.head(place.key("ledger.json"), action="look for the ledger") is not None
