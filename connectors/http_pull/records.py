"""Turn one response body into records, and records into text, without losing number text.

- JSON bodies are parsed with ``Decimal`` for non-integers so ``1.10`` stays ``1.10`` (a float
  would print ``1.1``) and large integers stay exact; ``record_path`` (``data.items``) selects the
  list of record objects.
- NDJSON bodies hold one JSON object per line; CSV bodies a header row then rows (all text).
- :func:`to_json` writes JSON compactly, numbers as their parsed text; :func:`cell` gives the
  string a value becomes in an Arrow ``string`` column (nested values as JSON text, null as null).

A body that does not match the configured format raises :class:`BodyError` (a ``ValueError``);
the reader turns it into a terminal error naming the source and URL.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any, Literal

Record = dict[str, Any]
_MISSING = object()


class BodyError(ValueError):
    """The body is not what the config describes (format, record_path, record shape)."""


def _reject_constant(name: str) -> Any:
    raise BodyError(f"{name} is not valid JSON")


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping non-integer numbers as ``Decimal`` (their text survives)."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def get_path(doc: Any, path: str) -> Any:
    """Value at dotted ``path`` (``data.items``, ``pages.0.next``) or ``None`` when absent.

    >>> get_path({"data": {"items": [1]}}, "data.items")
    [1]
    """
    value = lookup(doc, path)
    return None if value is _MISSING else value


def lookup(doc: Any, path: str) -> Any:
    """Like :func:`get_path` but returns the ``_MISSING`` sentinel, so absent differs from null."""
    value = doc
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def decode(content: bytes, charset: str | None) -> str:
    try:
        return content.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError) as err:
        raise BodyError(f"body is not valid {charset or 'utf-8'} text: {err}") from err


def parse_body(
    content: bytes,
    *,
    charset: str | None,
    fmt: Literal["json", "ndjson", "csv"],
    record_path: str | None,
) -> tuple[Any, list[Record]]:
    """Return ``(document, records)``; ``document`` is the parsed JSON body (else ``None``)."""
    if not content.strip():
        return None, []  # 204 or an empty page: no records
    if fmt == "json":
        try:
            doc = loads(content)
        except ValueError as err:
            raise BodyError(f"body is not valid JSON ({err}); check format") from err
        return doc, _json_records(doc, record_path)
    text = decode(content, charset)
    return None, (_ndjson_records(text) if fmt == "ndjson" else _csv_records(text))


def _json_records(doc: Any, record_path: str | None) -> list[Record]:
    value = doc
    if record_path is not None:
        value = lookup(doc, record_path)
        if value is _MISSING:
            keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
            raise BodyError(
                f"record_path {record_path!r} is not in the body (top level has: {keys})"
            )
    if value is None:
        return []
    if not isinstance(value, list):
        where = f"record_path {record_path!r}" if record_path else "the body (set record_path)"
        raise BodyError(f"{where} holds a {type(value).__name__}, not a list of records")
    for i, rec in enumerate(value):
        if not isinstance(rec, dict):
            raise BodyError(f"record {i} is a {type(rec).__name__}, not an object")
    return value


def _ndjson_records(text: str) -> list[Record]:
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = loads(line)
        except ValueError as err:
            raise BodyError(f"line {n} is not valid JSON ({err}); check format") from err
        if not isinstance(rec, dict):
            raise BodyError(f"line {n} is a {type(rec).__name__}, not a JSON object")
        records.append(rec)
    return records


def _csv_records(text: str) -> list[Record]:
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if not header:
        return []
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise BodyError(f"CSV header repeats column(s) {', '.join(map(repr, dupes))}")
    records = []
    for n, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) > len(header):
            raise BodyError(f"CSV line {n} has {len(row)} fields, the header has {len(header)}")
        # A short row keeps its missing trailing cells as null, not as invented empty strings.
        records.append({h: (row[i] if i < len(row) else None) for i, h in enumerate(header)})
    return records


def to_json(value: Any) -> str:
    """Compact JSON with numbers written as their text (``Decimal('1.10')`` -> ``1.10``).

    >>> to_json({"a": [Decimal("1.10"), True, None], "b": "é"})
    '{"a":[1.10,true,null],"b":"é"}'
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{json.dumps(str(k), ensure_ascii=False)}:{to_json(v)}" for k, v in value.items()
            )
            + "}"
        )
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def cell(value: Any) -> str | None:
    """The text a value becomes in a ``string`` column; ``None`` stays null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return to_json(value)
