"""Decoding stored bytes: gzip streamed with caps, bombs stopped early, content hashes, limits config."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import tempfile
import zlib
from pathlib import Path

import pytest

from connectors.base import Manifest
from connectors.csv.config import CsvOptions, CsvSourceConfig
from connectors.csv.reader import describe_file, read_csv_batches
from connectors.decode import DecodeLimitError, ReadLimits, content_digest, open_decoded, spool_decoded
from connectors.exceptions import SourceConfigError, SourceUnreadableError

MB = 1 << 20


def gzip_bomb(path: Path, *, decoded_mb: int, prefix: bytes = b"") -> int:
    """A gzip file of ``decoded_mb`` MiB (after ``prefix``) of one repeated CSV row, as many gzip
    members of one compressed block each: built in milliseconds, about 1,000x smaller than it inflates."""
    block = b"1,a\n" * (MB // 4)
    member = gzip.compress(block, compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(prefix))
        for _ in range(decoded_mb):
            f.write(member)
    return path.stat().st_size


def drain(path: Path, limits: ReadLimits) -> int:
    total = 0
    with open_decoded(path, label=str(path), limits=limits) as stream:
        while block := stream.read(MB):
            total += len(block)
    return total


def test_a_gzip_bomb_stops_at_the_expansion_ratio_naming_the_file_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "bomb.csv.gz"
    stored = gzip_bomb(path, decoded_mb=400)
    limits = ReadLimits(ratio_grace_bytes=8 * MB, max_expansion_ratio=100)

    with pytest.raises(DecodeLimitError) as info:
        drain(path, limits)

    assert str(path) in str(info.value) and "limits.max_expansion_ratio" in str(info.value)
    assert stored * 100 < 400 * MB  # the bomb would have inflated far past the ratio


def test_decoding_stops_at_the_decoded_bytes_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.csv.gz"
    gzip_bomb(path, decoded_mb=40)

    with pytest.raises(DecodeLimitError) as info:
        drain(path, ReadLimits(max_decoded_bytes=10 * MB, max_expansion_ratio=10_000))

    assert "limits.max_decoded_bytes" in str(info.value) and "10,485,760" in str(info.value)


def test_a_bomb_in_a_csv_read_is_a_terminal_error_and_inflates_nothing_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path = tmp_path / "orders.csv.gz"
    gzip_bomb(path, decoded_mb=300, prefix=b"id,name\n")

    with pytest.raises(SourceUnreadableError) as info:
        for _ in read_csv_batches(str(path), CsvOptions(), limits=ReadLimits(ratio_grace_bytes=8 * MB)):
            pass

    assert "decompression bomb" in str(info.value) and str(path) in str(info.value)
    assert not list(temp.iterdir())


def test_a_multi_member_gzip_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "parts.gz"
    path.write_bytes(gzip.compress(b"one\n") + gzip.compress(b"two\n") + gzip.compress(b"three\n"))

    with open_decoded(path, label="x", limits=ReadLimits()) as stream:
        assert stream.read(100) + stream.read(100) == b"one\ntwo\nthree\n"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (gzip.compress(random.Random(1).randbytes(100_000))[:-2000], "not readable as gzip"),
        (gzip.compress(b"a\n") + b"\x00\x00garbage", "not readable as gzip"),
        (b"\x1f\x8b\x08\x00" + zlib.compress(b"x")[2:], "not readable as gzip"),
    ],
    ids=["truncated", "trailing-garbage", "corrupt-header"],
)
def test_corrupt_gzip_is_unreadable_naming_the_input(tmp_path: Path, body: bytes, problem: str) -> None:
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(body)

    with pytest.raises(SourceUnreadableError) as info:
        drain(path, ReadLimits())

    assert str(path) in str(info.value) and problem in str(info.value)


def test_the_same_data_plain_and_gzipped_has_one_content_hash_and_one_content_id(tmp_path: Path) -> None:
    data = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(10_000))
    plain, packed = tmp_path / "x.csv", tmp_path / "x.csv.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))

    a, b = describe_file(str(plain)), describe_file(str(packed))

    assert a.content_sha256 is None and a.content_key == a.sha256 == hashlib.sha256(data).hexdigest()
    assert b.sha256 == hashlib.sha256(packed.read_bytes()).hexdigest()  # the stored bytes stay the pointer
    assert b.content_sha256 == a.sha256
    ids = {Manifest("s", "csv", "d", (o,)).content_id for o in (a, b)}
    assert len(ids) == 1
    assert Manifest("s", "csv", "d", (a,)).id != Manifest("s", "csv", "d", (b,)).id


def test_an_old_manifest_object_without_a_content_hash_keeps_its_content_id(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id\n1\n")
    obj = describe_file(str(path))

    payload = json.dumps({"dataset": "d", "sha256": [obj.sha256]})  # the rule before content hashes
    assert Manifest("s", "csv", "d", (obj,)).content_id == hashlib.sha256(payload.encode()).hexdigest()
    assert "content_sha256" not in obj.to_dict()


def test_an_undecodable_input_has_no_content_hash_and_its_read_says_why(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(b"id\n1\n")[:-4])

    assert content_digest(path, label="x", limits=ReadLimits()) is None


def test_a_spooled_parquet_temp_file_is_removed_when_the_cap_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.parquet.gz"
    gzip_bomb(path, decoded_mb=50)
    target = tmp_path / "decoded.parquet"

    with pytest.raises(DecodeLimitError):
        spool_decoded(path, target, label="x", limits=ReadLimits(max_decoded_bytes=5 * MB))

    assert not target.exists()


def test_limits_are_configured_per_source_and_wrong_values_name_the_field() -> None:
    config = CsvSourceConfig.from_dict(
        {"name": "n", "dataset": "d", "paths": ["*.csv"], "limits": {"max_expansion_ratio": 20}}
    )
    assert config.limits.max_expansion_ratio == 20.0
    assert config.limits.max_line_bytes == ReadLimits().max_line_bytes

    wrong = (({"max_colums": 5}, "limits.max_colums"), ({"max_columns": 0}, "limits.max_columns"))
    for limits, field in wrong:
        with pytest.raises(SourceConfigError) as info:
            CsvSourceConfig.from_dict({"name": "n", "dataset": "d", "paths": ["*.csv"], "limits": limits})
        assert field in str(info.value) and "'n'" in str(info.value)


def test_a_failure_right_after_the_parquet_spool_is_written_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faults

    path = tmp_path / "x.parquet.gz"
    path.write_bytes(gzip.compress(b"not even parquet"))
    target = tmp_path / "decoded.parquet"
    monkeypatch.setenv("MAESTRO_FAULTS", "decode.after_spool=raise")
    faults.reset()

    with pytest.raises(faults.FaultInjected):
        spool_decoded(path, target, label="x", limits=ReadLimits())

    assert not target.exists()
    faults.reset()
