"""JSON values as the original text the quarantine keeps: one rule for every JSON-reading source.

Numbers are decoded as :class:`JsonNumber` (their literal text, so ``1.50`` stays ``"1.50"``),
strings stay themselves, booleans become ``"true"``/``"false"``, null stays null, and nested
objects and arrays become compact JSON with the numbers written back verbatim.

>>> import json
>>> to_text(json.loads('{"a": [1.50, true]}', parse_float=JsonNumber, parse_int=JsonNumber))
'{"a":[1.50,true]}'
"""

from __future__ import annotations

import json
from typing import Any


class JsonNumber(str):
    """A JSON number kept as its literal text, so nothing is rounded or reformatted."""


def to_text(value: Any) -> str | None:
    """The text a column holds for one JSON value (None for null)."""
    if value is None:
        return None
    if isinstance(value, str):  # a JsonNumber too: its literal text
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return to_json(value)


def to_json(value: Any) -> str:
    """Compact JSON text that writes numbers back as their original literals."""
    if isinstance(value, JsonNumber):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return _dumps(value)  # strings, true / false / null


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
