"""The generated format corpus gives exactly the outcome each case states: through the CSV reader, the
drop folder into real Delta tables, and (a sample) S3 through moto's server."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from config.settings import Settings
from config.sources import SourceSpec
from connectors.archive import split_member
from connectors.csv.config import CsvOptions
from connectors.csv.reader import describe_inputs, read_uri
from connectors.decode import ReadLimits
from connectors.exceptions import SourceUnreadableError
from contracts.loader import load_contracts
from pipeline.run import ingest_dataset, lake_for
from tests.corpus.formats import Case, cases

CASES = cases()


def outcome(uri: str, options: dict[str, Any]) -> dict[str, Any]:
    """What reading one input gives: its rows and reader reasons, or its rejection."""
    try:
        rows = reasons = 0
        counted: Counter[str] = Counter()
        for batch in read_uri(uri, CsvOptions(**options), limits=ReadLimits(), batch_rows=10_000):
            rows += batch.num_rows
            if "_maestro_error" in batch.schema.names:
                counted.update(v for v in batch.column("_maestro_error").to_pylist() if v)
        reasons = dict(counted)
        return {"outcome": "rows", "rows": rows, "reasons": reasons}
    except SourceUnreadableError as err:
        return {"outcome": "rejected", "error": str(err)}


def check(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    assert got["outcome"] == want.get("outcome", "rows"), (where, got)
    if got["outcome"] == "rows":
        assert (got["rows"], got["reasons"]) == (want.get("rows", 40), want.get("reasons", {})), where
    else:
        assert want["error"] in got["error"] and where in got["error"], (where, got["error"][:300])
        assert len(got["error"]) < 1000, where


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_case_reads_as_stated(tmp_path: Path, case: Case) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.data)
    if case.outcome != "archive":
        check(outcome(path.as_uri(), case.options), case.expected(), path.as_uri())
        return
    members = {split_member(o.uri)[1]: o.uri for o in describe_inputs(str(path))}
    assert sorted(members) == sorted(case.members)
    for name, want in case.members.items():
        check(outcome(members[name], case.options), want, members[name])


def test_the_corpus_is_large_and_writes_its_expectations(tmp_path: Path) -> None:
    from tests.corpus.formats import write

    expected = write(tmp_path)

    assert len(CASES) >= 120
    assert json.loads((tmp_path / "expected.json").read_text()) == expected
    assert {p.name for p in tmp_path.iterdir()} == {*expected, "expected.json"}


@pytest.mark.slow
def test_the_corpus_through_the_drop_folder_leaves_every_file_archived_or_quarantined_with_a_reason(
    tmp_path: Path,
) -> None:
    """0 crashes; every file ends archived (its rows accounted) or quarantined with an .error.json."""
    folder = tmp_path / "drop"
    folder.mkdir()
    default = [c for c in CASES if not c.options]
    old = time.time() - 60
    for case in default:
        (folder / case.name).write_bytes(case.data)
        os.utime(folder / case.name, (old, old))
    settings = Settings.from_env({"MAESTRO_HOME": str(tmp_path / "home")})
    spec = SourceSpec("drop", "file_drop", "orders",
                      {"folder": str(folder), "settle_seconds": 1, "patterns": ["*.csv", "*.gz", "*.zip"]})

    report = ingest_dataset(settings, load_contracts()["orders"], [spec], publish=False)

    assert not [p for p in folder.iterdir() if p.is_file()]  # nothing left behind
    assert not any((folder / "_processing").iterdir())
    archived = {p.name.split("__", 1)[1] for p in (folder / "_archive").rglob("*") if "__" in p.name
                and not p.name.endswith(".json")}
    quarantined = {p.name.split("__", 1)[1]: p for p in (folder / "_quarantine").iterdir()
                   if not p.name.endswith(".json")}
    assert archived | set(quarantined) == {c.name for c in default}
    assert not archived & set(quarantined)
    rejected = {c.name: c.error for c in default if c.outcome == "rejected"}
    assert set(rejected) <= set(quarantined)
    for name, path in quarantined.items():
        error = json.loads(path.with_name(path.name + ".error.json").read_text())["error"]
        assert str(path) in error, name
        if name in rejected:  # the reader's own refusals: the stated reason, in a bounded message
            assert rejected[name] in error and len(error) < 1000, name
    for result in report.results:
        c = result.counts
        assert c.read == c.valid + c.rejected + c.duplicates, result.manifest.objects[0].uri
    # A readable file is never rejected whole for its bad rows: each is in quarantine with its
    # reason, original bytes and line, and the file is archived.
    misfits = {"huge_header_field.csv", "huge_header_field.csv.gz"}  # a column the contract rejects
    readable = {c.name: c for c in default if c.outcome == "rows" and c.name not in misfits}
    assert set(readable) <= archived
    reasons = {
        "ragged_row", "encoding", "nul_bytes", "malformed_row", "line_too_long", "field_too_large"
    }
    table = DeltaTable(lake_for(settings).table_uri("quarantine", "orders")).to_pyarrow_table(
        columns=["_source_uri", "_reasons", "_raw", "_source_line"]
    )
    found: dict[str, Counter[str]] = {}
    for row in table.to_pylist():
        for reason in row["_reasons"]:
            if reason in reasons:
                name = row["_source_uri"].rsplit("/", 1)[1].split("__", 1)[1]
                found.setdefault(name.removesuffix(".gz"), Counter())[reason] += 1
                assert row["_raw"] and row["_source_line"] >= 1, name
    for name, case in readable.items():
        # A gzipped twin holds the same content as its plain case: one input, committed once.
        assert dict(found.get(name.removesuffix(".gz"), {})) == case.reasons, name


@pytest.mark.slow
@pytest.mark.network
def test_the_corpus_through_the_s3_source_reads_as_stated(tmp_path: Path) -> None:
    """Every plain and gzip case as an S3 object on moto's server, read with the S3 source's defaults
    (quoted fields may span lines there): the same rows and reasons; an empty object is no rows."""
    from connectors.s3 import S3Source
    from connectors.s3.local_server import local_s3_server, unique_bucket

    chosen = [c for c in CASES if not c.options and c.outcome != "archive" and not c.name.endswith(".zip")]
    with local_s3_server() as server:
        client, bucket = server.client(), unique_bucket()
        client.create_bucket(Bucket=bucket)
        for case in chosen:
            client.put_object(Bucket=bucket, Key=f"in/{case.name}", Body=case.data)
        source = S3Source.from_dict(
            {"name": "s3_corpus", "dataset": "orders", "bucket": bucket, "prefix": "in/", "format": "csv",
             "endpoint_url": server.endpoint_url, "region": server.region, "addressing_style": "path"},
            session=server.session(),
        )
        for obj in source.discover():
            case = next(c for c in chosen if obj.uri.endswith("/" + c.name))
            want = case.expected()
            if case.name.startswith("empty."):
                want = {"outcome": "rows", "rows": 0}
            fetched = source.fetch(obj, tmp_path / "spool")
            try:
                got: dict[str, Any] = {"outcome": "rows", "rows": 0, "reasons": {}}
                counted: Counter[str] = Counter()
                for batch in source.read_spool(obj, fetched.path, batch_rows=10_000):
                    got["rows"] += batch.num_rows
                    if "_maestro_error" in batch.schema.names:
                        counted.update(v for v in batch.column("_maestro_error").to_pylist() if v)
                got["reasons"] = dict(counted)
            except SourceUnreadableError as err:
                got = {"outcome": "rejected", "error": str(err)}
            check(got, want, obj.uri)
            fetched.path.unlink()
