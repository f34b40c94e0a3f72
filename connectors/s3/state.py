"""Which S3 object versions still need ingesting, and the run key of each: pure functions.

The authoritative record of what was ingested is the lake itself: every ingest commit carries its
manifest (object uri, ETag, version id, sha256) in the Delta commit. Orchestration reads those
manifests back, turns them into *ingested pairs* with :func:`ingested_from_manifests`, and the
source reports only what is :func:`pending`. Nothing here keeps state of its own, so there is no
second record that could disagree with the lake. See ``connectors/s3/README.md`` for why a crash at
any point neither loses nor repeats an object.

An *ingested pair* is ``(uri, etag)``: ``uri`` is ``s3://bucket/key`` (globally unique, unlike a
bare key, and exactly what a manifest records) and ``etag`` is unquoted. A new key, or a known key
with a new ETag (the object was overwritten with different bytes), is pending.

>>> from connectors.base import SourceObject
>>> obj = SourceObject(uri="s3://acme-raw/orders/1.csv", sha256="", size=10, etag="abc")
>>> [o.uri for o in pending([obj], set())]
['s3://acme-raw/orders/1.csv']
>>> pending([obj], {("s3://acme-raw/orders/1.csv", '"abc"')})
[]
>>> run_key(obj) == run_key(obj)
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

from connectors.base import Manifest, SourceObject
from connectors.s3.client import normalize_etag

IngestedPair = tuple[str, str]
"""``(s3://bucket/key, etag)`` of one object version already committed to the lake."""

_EPOCH = datetime.min.replace(tzinfo=UTC)


def ingested_pair(obj: SourceObject) -> IngestedPair:
    """The pair that marks ``obj`` as ingested (what a manifest entry reduces to)."""
    return obj.uri, normalize_etag(obj.etag)


def pending(
    objects: Iterable[SourceObject],
    ingested: Iterable[IngestedPair],
    *,
    run_keys: AbstractSet[str] = frozenset(),
) -> list[SourceObject]:
    """The objects whose ``(uri, etag)`` is not in ``ingested``: oldest first, each version once.

    Args:
        objects: what a listing returned (any order, duplicates allowed).
        ingested: pairs already committed to the lake; ETags may be quoted or not.
        run_keys: run keys already committed (for a lake that records :func:`run_key` as its
            Delta application-transaction id instead of, or besides, the manifest).
    """
    done = {(uri, normalize_etag(etag)) for uri, etag in ingested}
    seen: set[IngestedPair] = set()
    out: list[SourceObject] = []
    for obj in objects:
        pair = ingested_pair(obj)
        if pair in done or pair in seen or (run_keys and run_key(obj) in run_keys):
            continue
        seen.add(pair)
        out.append(obj)
    out.sort(key=lambda o: (o.mtime or _EPOCH, o.uri))
    return out


def run_key(obj: SourceObject) -> str:
    """A stable Dagster run key for one object version: same bucket/key/etag/version, same key.

    The sensor requests one run per pending object with this key, so a sensor that re-evaluates
    (after a crash, a restart, a lost cursor) requests nothing twice: Dagster skips run keys it has
    already seen.
    """
    payload = json.dumps([obj.uri, normalize_etag(obj.etag), obj.version_id or ""])
    return "s3-" + hashlib.sha256(payload.encode()).hexdigest()


def ingested_from_manifests(manifests: Iterable[Manifest | Mapping[str, Any]]) -> set[IngestedPair]:
    """Collect the ingested pairs from manifests read back from lake commits.

    Accepts :class:`~connectors.base.Manifest` objects or their ``to_dict()`` form (as stored in
    Delta commit metadata). Entries that are not S3 objects or carry no ETag are ignored.
    """
    pairs: set[IngestedPair] = set()
    for manifest in manifests:
        if isinstance(manifest, Manifest):
            entries: Iterable[Mapping[str, Any]] = [o.to_dict() for o in manifest.objects]
        else:
            entries = manifest.get("objects") or []
        for entry in entries:
            uri, etag = entry.get("uri"), entry.get("etag")
            if isinstance(uri, str) and uri.startswith("s3://") and etag:
                pairs.add((uri, normalize_etag(str(etag))))
    return pairs
