"""The readable ``_errors`` text of a quarantined row: which value broke which rule, and the rule.

:class:`Explainer` turns one reason code of one row into a sentence that quotes the offending
original value and states the rule's bound, list or pattern, so the quarantine table answers "why"
without the contract at hand::

    month: '13' is above max 12
    code: 'de' does not match pattern '^[A-Z]{2}$'
    kind: 'c' is not one of 'a', 'b'
    email: 'a@x' is already used by row 2 of this input
    primary key (id): '1' is already used by row 1 of this input, with different values

Quoted values and list members are cut to :data:`SHOWN_CHARS` characters (with the full length
said), and lists to :data:`SHOWN_VALUES` members, so a hostile 100 MB field or a long list gives a
short message. Values are shown with ``repr``, so control characters and newlines stay escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from contracts.model import Column, Contract, temporal_bound

SHOWN_CHARS = 60
SHOWN_VALUES = 10
_TYPE_NAMES = {
    "int32": "whole number in the int32 range",
    "int64": "whole number in the int64 range",
    "float64": "finite number",
    "boolean": "boolean (true/false, t/f, yes/no, y/n, 1/0)",
    "date": "date (YYYY-MM-DD, years 0001-9999)",
    "timestamp": "timestamp (ISO 8601, years 0001-9999)",
    "string": "string",
}


def shown(value: object) -> str:
    """``value`` quoted for a message, cut to :data:`SHOWN_CHARS` characters."""
    if value is None:
        return "null"
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return f"{value[:SHOWN_CHARS]!r}… ({len(value)} characters)"
    return repr(value)


def _bound(col: Column, value: float) -> str:
    """A min/max bound in the column's terms: dates and timestamps as ISO 8601."""
    if col.type in ("date", "timestamp"):
        return temporal_bound(col.type, value).isoformat()
    return str(int(value)) if float(value).is_integer() else repr(value)


def _listed(values: Sequence[str]) -> str:
    text = ", ".join(shown(v) for v in values[:SHOWN_VALUES])
    if len(values) > SHOWN_VALUES:
        text += f" ... ({len(values)} allowed values)"
    return text


class Explainer:
    """Sentences for the reason codes of one contract (templates built once per input)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._rules: dict[str, Callable[[str], str]] = {}
        for col in contract.columns:
            self._add_column(col)

    def _add_column(self, col: Column) -> None:
        c, name = col.constraints, col.name
        self._rules[f"type:{name}"] = lambda v, t=_TYPE_NAMES[col.type]: f"{v} is not a {t}"
        temporal = col.type in ("date", "timestamp")
        if c.min is not None:
            low = f"{'before' if temporal else 'below'} min {_bound(col, c.min)}"
            self._rules[f"min:{name}"] = lambda v: f"{v} is {low}"
        if c.max is not None:
            high = f"{'after' if temporal else 'above'} max {_bound(col, c.max)}"
            self._rules[f"max:{name}"] = lambda v: f"{v} is {high}"
        if c.allowed_values is not None:
            listed = _listed(c.allowed_values)
            self._rules[f"allowed_values:{name}"] = lambda v: f"{v} is not one of {listed}"
        if c.pattern is not None:
            pattern = shown(c.pattern)
            self._rules[f"pattern:{name}"] = lambda v: f"{v} does not match pattern {pattern}"
        if c.min_length is not None:
            n = c.min_length
            self._rules[f"min_length:{name}"] = lambda v: f"{v} is shorter than min_length {n}"
        if c.max_length is not None:
            n = c.max_length
            self._rules[f"max_length:{name}"] = lambda v: f"{v} is longer than max_length {n}"

    def explain(
        self,
        code: str,
        values: Mapping[str, Sequence[object]],
        row: int,
        earlier: int | None = None,
    ) -> str:
        """The sentence for ``code`` on row ``row`` of ``values`` (original text per column).

        ``earlier``: for ``duplicate_key`` and ``unique:<col>``, the number of the earlier row of
        the input that holds the key or value.
        """
        if code == "duplicate_key":
            pk = self.contract.primary_key
            key = ", ".join(shown(values[k][row]) for k in pk)
            where = f"row {earlier} of this input" if earlier else "an earlier row of this input"
            return f"primary key ({', '.join(pk)}): {key} is already used by {where}, with different values"
        rule, _, name = code.partition(":")
        value = values[name][row]
        quoted = shown(value)
        if rule == "not_null":
            if value is None:
                return f"{name}: required, but missing"
            return f"{name}: required, but {quoted} is a null value of this input"  # a null token
        if rule == "unique":
            where = f"row {earlier} of this input" if earlier else "an earlier row of this input"
            return f"{name}: {quoted} is already used by {where}"
        if rule in ("min_length", "max_length") and isinstance(value, str) and len(value) <= SHOWN_CHARS:
            length = len(value)
            return f"{name}: {self._rules[code](quoted)} ({length} character{'s' * (length != 1)})"
        template = self._rules.get(code)
        return f"{name}: {template(quoted)}" if template else f"{name}: {quoted} fails {rule}"
