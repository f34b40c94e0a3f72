"""pending() and run_key(): what still needs ingesting, and the Dagster run key of each version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.base import Manifest, SourceObject
from connectors.s3 import ingested_from_manifests, ingested_pair, pending, run_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def obj(key: str, etag: str, *, minutes: int = 0, version: str | None = None) -> SourceObject:
    return SourceObject(
        uri=f"s3://acme-raw/{key}",
        sha256="",
        size=1,
        etag=etag,
        version_id=version,
        mtime=T0 + timedelta(minutes=minutes),
    )


def test_pending_returns_unknown_objects_oldest_first() -> None:
    newer, older = obj("b.csv", "e1", minutes=5), obj("a.csv", "e2", minutes=1)
    assert pending([newer, older], set()) == [older, newer]


def test_pending_breaks_mtime_ties_by_uri() -> None:
    b, a = obj("b.csv", "e1"), obj("a.csv", "e2")
    assert pending([b, a], set()) == [a, b]


def test_an_ingested_version_is_not_pending_whether_or_not_its_etag_is_quoted() -> None:
    a = obj("a.csv", "e1")
    assert pending([a], {("s3://acme-raw/a.csv", "e1")}) == []
    assert pending([a], {("s3://acme-raw/a.csv", '"e1"')}) == []


def test_a_known_key_with_a_new_etag_is_pending_again() -> None:
    changed = obj("a.csv", "e2", minutes=3)
    assert pending([changed], {("s3://acme-raw/a.csv", "e1")}) == [changed]


def test_the_same_version_listed_twice_is_pending_once() -> None:
    a = obj("a.csv", "e1")
    assert pending([a, a], set()) == [a]


def test_the_run_key_is_stable_and_distinguishes_etag_and_version() -> None:
    a = obj("a.csv", "e1")
    assert run_key(a) == run_key(obj("a.csv", '"e1"', minutes=9))  # mtime and quotes don't matter
    keys = {
        run_key(a),
        run_key(obj("a.csv", "e2")),
        run_key(obj("b.csv", "e1")),
        run_key(obj("a.csv", "e1", version="v2")),
    }
    assert len(keys) == 4
    assert all(k.startswith("s3-") for k in keys)


def test_ingested_pairs_come_back_from_manifests_in_either_form() -> None:
    a = obj("a.csv", '"e1"')
    manifest = Manifest(source="s3_test", kind="s3", dataset="orders", objects=(a,))
    other = {
        "objects": [{"uri": "file:///tmp/x.csv", "sha256": "00"}, {"uri": "s3://b/k", "etag": "e"}]
    }
    pairs = ingested_from_manifests([manifest, manifest.to_dict(), other])
    assert pairs == {ingested_pair(a), ("s3://b/k", "e")}
    assert pending([a], pairs) == []


def test_a_version_whose_run_key_was_committed_is_not_pending() -> None:
    a, b = obj("a.csv", "e1"), obj("b.csv", "e2")
    assert pending([a, b], set(), run_keys={run_key(a)}) == [b]
