"""Hostile format cases: generated input files, each with what reading it must give.

Every case is one file (bytes and a name) in the shape of the ``orders`` contract, and the outcome
the readers guarantee for it:

- ``rows``: the file is read; ``rows`` rows come out (good and bad), ``reasons`` counts the rows
  the reader marked (``_maestro_error``) by reason code. Enforcement then puts every one in bronze
  or quarantine.
- ``rejected``: the file cannot be read at all; the error names it and contains ``error``.

Families: encodings, BOMs, line endings, NULs, ragged rows, quotes, huge fields and headers,
numeric and date edge texts (the reader keeps them as text; the contract judges them), compression
(gzip, multi-member, truncated, bombs), zip archives (members, nested, unsafe names, bombs),
binary content; and every readable plain case again gzip-compressed. The corpus script of issue 8
reuses this module::

    python -m tests.corpus.formats OUT_DIR      # writes the files and OUT_DIR/expected.json

A zip archive is several inputs: its case lists each member's outcome under ``members``.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HEADER = b"order_id,customer_id,ordered_at,amount,currency,status,quantity"
ROWS = 40
MB = 1 << 20


def row(i: int) -> bytes:
    return b"ORD-%06d,%d,2026-11-01T10:%02d:00Z,%d.25,EUR,paid,%d" % (
        100_000 + i,
        1000 + i % 300,
        i % 60,
        i % 997,
        1 + i % 5,
    )


def lines(n: int = ROWS) -> list[bytes]:
    return [row(i) for i in range(1, n + 1)]


def csv_bytes(
    body: list[bytes], *, header: bytes = HEADER, nl: bytes = b"\n", final_nl: bool = True
) -> bytes:
    return nl.join([header, *body]) + (nl if final_nl else b"")


@dataclass
class Case:
    """One generated input and the outcome reading it must give."""

    name: str
    data: bytes = field(repr=False)
    outcome: str = "rows"  # "rows" | "rejected" | "archive"
    rows: int = ROWS
    reasons: dict[str, int] = field(default_factory=dict)
    error: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expected(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("data", "name") and v not in ({}, "")}
        out["bytes"] = len(self.data)
        return out


def _mutated(
    name: str, mutate: Callable[[bytes], bytes], reason: str | None, positions: tuple[int, ...], **kw: Any
) -> list[Case]:
    """One case per position: the row there mutated (``reason`` None: it stays a good row)."""
    out = []
    for pos in positions:
        body = lines()
        body[pos] = mutate(body[pos])
        where = {0: "first", ROWS // 2: "middle", ROWS - 1: "last"}.get(pos, str(pos))
        out.append(Case(f"{name}_{where}.csv", csv_bytes(body), reasons={reason: 1} if reason else {}, **kw))
    return out


POSITIONS = (0, ROWS // 2, ROWS - 1)


def encoding_cases() -> list[Case]:
    text = csv_bytes(lines()).decode()
    cases = [
        Case("utf8_bom.csv", b"\xef\xbb\xbf" + csv_bytes(lines())),
        Case(
            "utf8_bom_quoted_header.csv",
            b"\xef\xbb\xbf" + csv_bytes(lines(), header=b'"' + HEADER.replace(b",", b'","') + b'"'),
        ),
        Case("utf16le_declared.csv", text.encode("utf-16"), options={"encoding": "utf-16"}),
        Case("utf16be_declared.csv", b"\xfe\xff" + text.encode("utf-16-be"), options={"encoding": "utf-16"}),
        Case("utf16_read_as_utf8.csv", text.encode("utf-16"), "rejected", error="header row"),
        Case(
            "latin1_declared.csv",
            csv_bytes([*lines(39), b"ORD-100040,1,2026-11-01T10:00:00Z,1.25,EUR,pay\xe9,1"]),
            options={"encoding": "latin-1"},
        ),
        Case(
            "latin1_header_as_utf8.csv",
            csv_bytes(lines(), header=HEADER + b",caf\xe9"),
            "rejected",
            error="not valid utf-8",
        ),
        Case(
            "cp1252_undefined_byte.csv",
            csv_bytes([*lines(39), row(40) + b"\x81"]),
            reasons={"encoding": 1},
            options={"encoding": "cp1252"},
        ),
    ]
    for tag, bad in (
        ("latin1_byte", b"\xe9"),
        ("overlong", b"\xc0\xaf"),
        ("surrogate", b"\xed\xa0\x80"),
        ("lone_continuation", b"\x80"),
        ("truncated_multibyte", b"\xe2\x82"),
    ):
        cases += _mutated(f"invalid_utf8_{tag}", lambda r, b=bad: r[:20] + b + r[20:], "encoding", POSITIONS)
    cases.append(
        Case(
            "utf8_multibyte_values.csv", csv_bytes([r.replace(b"paid", "päid✓😀".encode()) for r in lines()])
        )
    )
    cases.append(
        Case("bom_inside_value.csv", csv_bytes([r.replace(b"paid", b"\xef\xbb\xbfpaid") for r in lines()]))
    )
    return cases


def line_ending_cases() -> list[Case]:
    body = lines()
    mixed = b"\n".join([HEADER, *(r + (b"\r" if i % 2 else b"") for i, r in enumerate(body))]) + b"\n"
    return [
        Case("crlf.csv", csv_bytes(body, nl=b"\r\n")),
        Case("cr_only.csv", csv_bytes(body, nl=b"\r")),
        Case("mixed_lf_crlf.csv", mixed),
        Case("no_final_newline.csv", csv_bytes(body, final_nl=False)),
        Case("crlf_no_final_newline.csv", csv_bytes(body, nl=b"\r\n", final_nl=False)),
        Case("blank_lines.csv", csv_bytes([*body[:10], b"", b"", *body[10:], b"", b""])),
        Case("blank_lines_crlf.csv", csv_bytes([*body[:10], b"", *body[10:]], nl=b"\r\n")),
        Case("leading_blank_lines.csv", b"\n\n" + csv_bytes(body)),
    ]


def nul_cases() -> list[Case]:
    cases = _mutated("nul_row", lambda r: b"\x00" * len(r), "nul_bytes", POSITIONS)
    cases += _mutated("nul_in_value", lambda r: r[:12] + b"\x00" + r[12:], "nul_bytes", POSITIONS)
    cases.append(
        Case(
            "nul_in_header.csv",
            csv_bytes(lines(), header=HEADER[:5] + b"\x00" + HEADER[5:]),
            "rejected",
            error="NUL bytes",
        )
    )
    return cases


def ragged_cases() -> list[Case]:
    cases = _mutated("ragged_short", lambda r: r.rsplit(b",", 2)[0], "ragged_row", POSITIONS)
    cases += _mutated("ragged_long", lambda r: r + b",extra,more", "ragged_row", POSITIONS)
    cases += _mutated("whitespace_line", lambda r: b"   ", "ragged_row", POSITIONS)
    cases += _mutated("tab_line", lambda r: b"\t", "ragged_row", POSITIONS)
    cases += _mutated("only_delimiters", lambda r: b",,,,,,", None, POSITIONS)
    body = lines()
    for i in range(0, ROWS, 2):
        body[i] = body[i] + b",x"
    cases.append(Case("ragged_every_other.csv", csv_bytes(body), reasons={"ragged_row": ROWS // 2}))
    return cases


def quote_cases() -> list[Case]:
    cases = _mutated("doubled_quotes", lambda r: r.replace(b"paid", b'"pa""id"'), None, POSITIONS)
    cases += _mutated("quoted_delimiter", lambda r: r.replace(b"paid", b'"pa,id"'), None, POSITIONS)
    cases += _mutated("quote_mid_field", lambda r: r.replace(b"paid", b'pa"id'), None, POSITIONS)
    cases += _mutated(
        "unterminated_quote", lambda r: r.replace(b"paid", b'"paid'), "malformed_row", POSITIONS
    )
    body = lines()
    body[5] = body[5].replace(b"paid", b'"two\nlines"')
    cases.append(Case("quoted_newline.csv", csv_bytes(body), options={"newlines_in_values": True}))
    body = lines()
    body[5] = body[5].replace(b"paid", b'"never closed')
    cases.append(
        Case(
            "unterminated_quote_newlines_in_values.csv",
            csv_bytes(body),
            reasons={"malformed_row": 1},
            options={"newlines_in_values": True},
        )
    )
    return cases


def huge_cases() -> list[Case]:
    big = b"x" * 300_000
    header_field = b"h" * 200_000
    return [
        Case("huge_field.csv", csv_bytes([*lines(39), row(40).replace(b"paid", big)])),
        Case("huge_quoted_field.csv", csv_bytes([*lines(39), row(40).replace(b"paid", b'"' + big + b'"')])),
        Case(
            "line_over_cap.csv",
            csv_bytes([*lines(20), b"y" * (9 * MB), *lines(40)[20:]]),
            rows=ROWS + 1,
            reasons={"line_too_long": 1},
        ),
        Case(
            "huge_header_field.csv",
            csv_bytes(lines(), header=HEADER + b"," + header_field),
            reasons={"ragged_row": ROWS},
        ),
        Case(
            "header_100k_columns.csv",
            csv_bytes(lines(), header=b",".join(b"c%d" % i for i in range(100_000))),
            "rejected",
            error="limits.max_columns",
        ),
        Case(
            "header_repeated_names.csv",
            csv_bytes(lines(), header=HEADER.replace(b"currency", b"amount")),
            "rejected",
            error="repeats column names",
        ),
        Case(
            "header_empty_name.csv",
            csv_bytes(lines(), header=HEADER.replace(b"currency", b"")),
            "rejected",
            error="empty column names",
        ),
        Case(
            "header_reserved_name.csv",
            csv_bytes(lines(), header=HEADER.replace(b"status", b"_maestro_error")),
            "rejected",
            error="reserved column name",
        ),
    ]


NUMERIC_TEXTS = [
    b"1e309",
    b"-0",
    b"NaN",
    b"inf",
    b"0x10",
    b"1_000",
    "\u0663".encode(),
    b"00012.5",
    b" 12.5",
    b"12.5 ",
    b"+12",
    b"1,5",
    b"9" * 40,
    b"-1e-400",
]
DATE_TEXTS = [
    b"0000-01-01T00:00:00Z",
    b"-0001-01-01T00:00:00Z",
    b"9999-12-31T23:59:60Z",
    b"10000-01-01T00:00:00Z",
    b"2026-02-30T00:00:00Z",
    b"2026-11-01T24:00:00Z",
    b"2026-11-01",
    b"1970-01-01T00:00:00+25:00",
    b"2026-11-01T10:00:00.123456789123Z",
    b"",
]


def with_field(r: bytes, index: int, text: bytes) -> bytes:
    """``r`` with field ``index`` replaced by ``text`` (quoted when it holds a delimiter)."""
    fields = r.split(b",")
    fields[index] = b'"' + text + b'"' if b"," in text else text
    return b",".join(fields)


def value_cases() -> list[Case]:
    cases = []
    for i, text in enumerate(NUMERIC_TEXTS):
        cases += _mutated(f"amount_{i:02d}", lambda r, t=text: with_field(r, 3, t), None, (ROWS // 2,))
    for i, text in enumerate(DATE_TEXTS):
        cases += _mutated(f"ordered_at_{i:02d}", lambda r, t=text: with_field(r, 2, t), None, (ROWS // 2,))
    return cases


def _gz_bomb(decoded_mb: int) -> bytes:
    member = gzip.compress(row(1) * (MB // len(row(1))), 9)
    return gzip.compress(HEADER + b"\n") + member * decoded_mb


def compression_cases() -> list[Case]:
    plain = csv_bytes(lines())
    packed = gzip.compress(plain)
    noisy = csv_bytes(
        [r + b"," + random.Random(i).randbytes(8).hex().encode() for i, r in enumerate(lines(4000))],
        header=HEADER + b",noise",
    )
    return [
        Case("plain.csv", plain),
        Case("plain.csv.gz", packed),
        Case(
            "multi_member.csv.gz",
            gzip.compress(csv_bytes(lines(20))) + gzip.compress(b"\n".join(lines()[20:]) + b"\n"),
        ),
        Case(
            "truncated.csv.gz",
            gzip.compress(noisy)[: len(gzip.compress(noisy)) // 2],
            "rejected",
            error="gzip",
        ),
        Case("trailing_garbage.csv.gz", packed + b"garbage!", "rejected", error="gzip"),
        Case("gz_bomb.csv.gz", _gz_bomb(2000), "rejected", error="limits.max_expansion_ratio"),
        Case("empty.csv", b"", "rejected", error="empty"),
        Case("empty.csv.gz", gzip.compress(b""), "rejected", error="empty"),
        Case("header_only.csv", HEADER + b"\n", rows=0),
        Case("zip_named_csv.csv", _zip({"a.csv": plain}), "rejected", error="zip archive"),
        Case("bzip2_named_gz.csv.gz", b"BZh91AY&SY" + bytes(64), "rejected", error="bzip2"),
        Case(
            "png_named_csv.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "rejected", error="utf-8"
        ),
        Case(
            "random_bytes.csv",
            random.Random(3).randbytes(4096).replace(b"\n", b""),
            "rejected",
            error="header",
        ),
    ]


def _zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def archive_cases() -> list[Case]:
    plain = csv_bytes(lines())
    rng = random.Random(5)  # incompressible rows: the archive as a whole stays under the ratio cap
    noise = csv_bytes([r.replace(b"paid", rng.randbytes(48).hex().encode()) for r in lines(16_000)])
    ok = {"outcome": "rows", "rows": ROWS}
    return [
        Case(
            "two_members.zip",
            _zip({"a.csv": plain, "dir/b.csv": plain}),
            "archive",
            members={"a.csv": ok, "dir/b.csv": ok},
        ),
        Case(
            "member_with_bad_rows.zip",
            _zip({"a.csv": csv_bytes([*lines(39), b"x"])}),
            "archive",
            members={"a.csv": {"outcome": "rows", "rows": ROWS, "reasons": {"ragged_row": 1}}},
        ),
        Case(
            "nested.zip",
            _zip({"a.csv": plain, "inner.zip": _zip({"b.csv": plain})}),
            "archive",
            members={"a.csv": ok, "inner.zip": {"outcome": "rejected", "error": "nested"}},
        ),
        Case(
            "unsafe_names.zip",
            _zip({"../up.csv": plain, "/abs.csv": plain, "ok.csv": plain}),
            "archive",
            members={
                "../up.csv": {"outcome": "rejected", "error": "'..'"},
                "/abs.csv": {"outcome": "rejected", "error": "'..'"},
                "ok.csv": ok,
            },
        ),
        Case(
            "zip_bomb.zip",
            _zip({"zeros.csv": HEADER + b"\n" + b"0" * (66 * MB)}),
            "rejected",
            error="zip bomb",
        ),
        Case(
            "zip_bomb_member.zip",
            _zip({"noise.csv": noise, "zeros.csv": HEADER + b"\n" + b"0" * (66 * MB)}),
            "archive",
            members={
                "noise.csv": {"outcome": "rows", "rows": 16_000},
                "zeros.csv": {"outcome": "rejected", "error": "zip bomb"},
            },
        ),
        Case("not_a_zip.zip", b"PK\x03\x04 broken", "rejected", error="not a readable zip archive"),
        Case("empty_archive.zip", _zip({}), "rejected", error="no file members"),
    ]


def gzipped(of: list[Case]) -> list[Case]:
    """The readable cases again, gzip-compressed: the same rows must come out of the decoded stream."""
    return [
        Case(c.name + ".gz", gzip.compress(c.data, 6), c.outcome, c.rows, c.reasons, c.error, c.options)
        for c in of
        if c.outcome == "rows" and c.name.endswith(".csv") and len(c.data) < MB
    ]


def cases() -> list[Case]:
    """Every format case (names are unique)."""
    plain = [
        *encoding_cases(),
        *line_ending_cases(),
        *nul_cases(),
        *ragged_cases(),
        *quote_cases(),
        *huge_cases(),
        *value_cases(),
    ]
    out = [*plain, *gzipped(plain), *compression_cases(), *archive_cases()]
    assert len({c.name for c in out}) == len(out), "case names must be unique"
    return out


def write(folder: Path) -> dict[str, dict[str, Any]]:
    """Write every case into ``folder`` plus ``expected.json``; return the expectations by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for case in cases():
        (folder / case.name).write_bytes(case.data)
        expected[case.name] = case.expected()
    (folder / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True))
    return expected


if __name__ == "__main__":
    out = write(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus-formats"))
    print(f"{len(out)} files")
