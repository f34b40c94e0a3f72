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


#: How deep JSON may nest wherever the platform parses JSON it did not write (tokens, request
#: bodies, pushed rows): deeper input is refused with a clear error instead of exhausting the stack.
MAX_DEPTH = 64


class JsonDepthError(ValueError):
    """JSON nests deeper than the allowed depth (a ``ValueError``, like every JSON syntax error)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nests deeper than {max_depth} levels")
        self.max_depth = max_depth


def depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar is 0, ``[]`` and ``{}`` are 1); iterative, no recursion."""
    deepest, stack = 0, [(value, 1)] if type(value) in _CONTAINERS else []
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in (item.values() if type(item) is dict else item)
                     if type(c) in _CONTAINERS)
    return deepest


def deeper_than(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests deeper than ``max_depth``; stops at the first level too deep.

    The fast check for every parsed row: a flat object costs one pass over its values.
    """
    if type(value) not in _CONTAINERS:
        return max_depth < 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > max_depth:
            return True
        for child in item.values() if type(item) is dict else item:
            if type(child) in _CONTAINERS:
                stack.append((child, level + 1))
    return False


_CONTAINERS = frozenset({dict, list})


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` and ``NaN``/``Infinity``.

    Raises ``ValueError`` (:class:`JsonDepthError` for the depth): never ``RecursionError``.
    """
    kwargs.setdefault("parse_constant", _no_constant)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError as err:
        raise JsonDepthError(max_depth) from err
    if deeper_than(value, max_depth):
        raise JsonDepthError(max_depth)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
