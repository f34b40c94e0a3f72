"""Zip archives: each file member is an input read as a stream; hostile archives are refused."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from connectors.archive import list_members, member_uri, split_member
from connectors.csv import CsvSource, CsvSourceConfig
from connectors.csv.config import CsvOptions
from connectors.csv.reader import describe_file, describe_inputs, read_uri
from connectors.decode import ReadLimits
from connectors.exceptions import SourceUnreadableError


def make_zip(path: Path, members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def rows(uri: str, limits: ReadLimits | None = None) -> list[dict[str, str]]:
    batches = read_uri(uri, CsvOptions(), limits=limits or ReadLimits(), batch_rows=100)
    return [r for b in batches for r in b.to_pylist()]


def patch_central_directory(path: Path, index: int, offset: int, fmt: str, value: int) -> None:
    """Overwrite one field of the ``index``-th central directory entry (a hostile archive)."""
    data = bytearray(path.read_bytes())
    pos = -1
    for _ in range(index + 1):
        pos = data.index(b"PK\x01\x02", pos + 1)
    struct.pack_into(fmt, data, pos + offset, value)
    path.write_bytes(bytes(data))


def test_each_file_member_is_an_input_named_by_the_archive_and_the_member(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "x.zip", {"in/a.csv": b"id\n1\n2\n", "b 2.csv": b"id\n3\n", "empty/": b""})

    inputs = describe_inputs(str(path))

    archive = describe_file(str(path))
    assert [split_member(o.uri) for o in inputs] == [(archive.uri, "in/a.csv"), (archive.uri, "b 2.csv")]
    assert inputs[1].uri == archive.uri + "#member=b%202.csv"
    assert {o.sha256 for o in inputs} == {archive.sha256}  # the stored file is the provenance pointer
    assert [rows(o.uri) for o in inputs] == [[{"id": "1"}, {"id": "2"}], [{"id": "3"}]]


def test_a_member_has_the_content_hash_of_the_same_plain_file(tmp_path: Path) -> None:
    data = b"id,name\n1,a\n"
    (tmp_path / "a.csv").write_bytes(data)
    path = make_zip(tmp_path / "x.zip", {"a.csv": data})

    (member,) = describe_inputs(str(path))

    assert member.content_key == describe_file(str(tmp_path / "a.csv")).content_key


def test_a_csv_source_reads_the_members_of_a_zip_it_matches(tmp_path: Path) -> None:
    make_zip(tmp_path / "x.zip", {"a.csv": b"id\n1\n", "b.csv": b"id\n2\n"})
    source = CsvSource(CsvSourceConfig(name="c", dataset="d", paths=[str(tmp_path / "*.zip")]))

    objects = source.discover()

    read = [[r for b in source.read(o) for r in b.to_pylist()] for o in objects]
    assert read == [[{"id": "1"}], [{"id": "2"}]]


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("../evil.csv", b"id\n1\n", "absolute or contains '..'"),
        ("/etc/evil.csv", b"id\n1\n", "absolute or contains '..'"),
        ("inner.zip", b"PK\x03\x04rest", "nested archives are refused"),
        ("looks_plain.csv", b"PK\x03\x04" + bytes(30), "nested archives are refused"),
        ("data.csv.gz", b"\x1f\x8b\x08\x00", "nested archives are refused"),
    ],
    ids=["dot-dot", "absolute", "nested-zip", "nested-by-magic", "nested-gzip"],
)
def test_a_hostile_member_is_refused_naming_the_archive_the_member_and_why(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    path = make_zip(tmp_path / "x.zip", {"good.csv": b"id\n1\n", name: data})
    good, hostile = describe_inputs(str(path))

    with pytest.raises(SourceUnreadableError) as info:
        rows(hostile.uri)

    assert problem in str(info.value) and str(path.name) in str(info.value) and repr(name) in str(info.value)
    assert rows(good.uri) == [{"id": "1"}]  # the other members are inputs of their own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zip"]  # nothing was extracted anywhere


def test_a_member_declaring_a_bomb_ratio_is_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "x.zip", {"a.csv": b"id\n1\n", "zeros.csv": b"0\n" * (8 << 20)})
    limits = ReadLimits(ratio_grace_bytes=1 << 20, max_expansion_ratio=100)
    good, bomb = describe_inputs(str(tmp_path / "x.zip"), limits=ReadLimits())

    with pytest.raises(SourceUnreadableError) as info:
        rows(bomb.uri, limits)

    assert "zip bomb" in str(info.value) and "limits.max_expansion_ratio" in str(info.value)
    assert path.stat().st_size < 100_000


@pytest.mark.parametrize(
    ("patch", "problem"),
    [
        ((1, 42, "<I", 0), "overlapping-member zip bomb"),  # member 2 points at member 1's bytes
        ((1, 24, "<I", 4_000_000_000), "declare"),  # an absurd declared size
    ],
    ids=["overlapping", "declared-size"],
)
def test_a_hostile_archive_is_refused_whole(
    tmp_path: Path, patch: tuple[int, int, str, int], problem: str
) -> None:
    path = make_zip(tmp_path / "x.zip", {"a.csv": b"id\n1\n", "b.csv": b"id\n2\n"}, method=zipfile.ZIP_STORED)
    patch_central_directory(path, *patch)

    with pytest.raises(SourceUnreadableError) as info:
        list_members(path, label=str(path), limits=ReadLimits(max_decoded_bytes=1 << 30))

    assert problem in str(info.value) and str(path) in str(info.value)


def test_a_member_whose_bytes_exceed_its_declared_size_fails_its_crc(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "x.zip", {"a.csv": b"id\n" + b"1\n" * 1000})
    patch_central_directory(path, 0, 24, "<I", 10)  # declares 10 bytes: reading stops there, CRC fails
    (member,) = describe_inputs(str(path))

    with pytest.raises(SourceUnreadableError) as info:
        rows(member.uri)

    assert "CRC" in str(info.value)


def test_an_encrypted_member_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "x.zip", {"a.csv": b"id\n1\n"})
    patch_central_directory(path, 0, 8, "<H", 0x1)
    (member,) = describe_inputs(str(path))

    with pytest.raises(SourceUnreadableError, match="encrypted"):
        rows(member.uri)


def test_archives_that_cannot_be_listed_are_refused_whole(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    dupes = tmp_path / "dupes.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(dupes, "w") as zf:
        zf.writestr("a.csv", b"id\n1\n")
        zf.writestr("a.csv", b"id\n2\n")
    many = make_zip(tmp_path / "many.zip", {f"{i}.csv": b"id\n1\n" for i in range(5)})

    for path, limits, problem in (
        (garbage, ReadLimits(), "not a readable zip archive"),
        (dupes, ReadLimits(), "two members named 'a.csv'"),
        (many, ReadLimits(max_archive_members=3), "limits.max_archive_members"),
    ):
        with pytest.raises(SourceUnreadableError) as info:
            describe_inputs(str(path), limits=limits)
        assert problem in str(info.value) and str(path.name) in str(info.value)


def test_reading_the_archive_itself_instead_of_a_member_says_so(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "x.zip", {"a.csv": b"id\n1\n"})

    with pytest.raises(SourceUnreadableError, match="each member is read as its own input"):
        rows(path.as_uri())


def test_member_uris_round_trip_any_name() -> None:
    for name in ("a.csv", "dir/with space/ü#?.csv", "%41.csv"):
        assert split_member(member_uri("file:///d/x.zip", name)) == ("file:///d/x.zip", name)
    assert split_member("file:///d/x.csv") == ("file:///d/x.csv", None)
