"""Partners: who may push, with which keys, to which datasets.

Partners sign their own tokens, so a token's claims alone prove nothing about *who* sent it: any
partner can write ``"sub": "partner-b"`` or ``"scope": "push:payments"`` into a token it signs.
What proves identity is the key. The ``partners:`` section of the push config binds each key to
exactly one partner and lists the datasets that partner may push to::

    partners:
      psp-acme:                         # the partner's identity: tokens must carry sub: psp-acme
        datasets: [payments]            # what it may push to (a subset of the top-level datasets)
        keys:
          - pem: keys/psp-acme.pub.pem  # a public key file (relative to the YAML) or inline PEM
          - kid: acme-2026-01           # or a key of jwks_file / jwks_url, by its kid

Rules (enforced at start-up by :func:`bind_keys`, and per request by
:class:`~connectors.http_push.auth.Authenticator`):

- every key of ``jwks_file`` and every PEM is bound to exactly one partner; a key bound to no
  partner, to two partners (by kid, or the same public key listed twice), a ``jwks_file`` key
  without a kid, or a kid no key carries (without a ``jwks_url`` that may serve it later) is a
  start-up error naming it. A key fetched from ``jwks_url`` whose kid no partner lists verifies
  nothing;
- the partner is the one the *verifying* key is bound to; a token whose ``sub`` differs is refused;
- the token's ``scope``/``datasets`` claims can only narrow the partner's datasets, never widen
  them (a token with neither claim gets all of them);
- rate limits, Idempotency-Key namespaces, receipts and logs use the bound partner's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from connectors.http_push.keys import KeySet, VerificationKey

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$")

Fail = Callable[[str, str], Exception]


@dataclass(frozen=True)
class Partner:
    """One partner: its identity, the datasets it may push to, and its keys (kids and PEM texts)."""

    name: str
    datasets: frozenset[str]
    kids: tuple[str, ...] = ()
    pems: tuple[str, ...] = ()


def parse_partners(
    value: Any,
    *,
    datasets: tuple[str, ...],
    base: Path,
    fail: Fail,
    read_pems: Callable[..., tuple[str, ...]],
) -> tuple[Partner, ...]:
    """Validate the ``partners:`` section; errors name the partner and the field."""
    if not isinstance(value, Mapping) or not value:
        raise fail(
            "partners",
            "required: a mapping of partner name -> {datasets, keys}; every verification key must "
            "be bound to exactly one partner",
        )
    partners = []
    kid_owner: dict[str, str] = {}
    for name, entry in value.items():
        where = f"partners.{name}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise fail("partners", f"{name!r} is not a partner name (letters, digits, '_.@:-')")
        if not isinstance(entry, Mapping):
            raise fail(where, f"expected a mapping with 'datasets' and 'keys', got {entry!r}")
        unknown = sorted(set(entry) - {"datasets", "keys"})
        if unknown:
            raise fail(where, f"unknown key(s) {unknown}; expected 'datasets' and 'keys'")
        allowed = entry.get("datasets")
        if not isinstance(allowed, list) or not allowed or not all(isinstance(d, str) for d in allowed):
            raise fail(f"{where}.datasets", f"expected a non-empty list of dataset names, got {allowed!r}")
        stray = sorted(set(allowed) - set(datasets))
        if stray:
            raise fail(f"{where}.datasets", f"{stray} are not among the configured datasets {list(datasets)}")
        keys = entry.get("keys")
        if not isinstance(keys, list) or not keys:
            raise fail(f"{where}.keys", "expected a non-empty list of {kid: ...} or {pem: ...} entries")
        kids: list[str] = []
        pems: list[str] = []
        for i, key in enumerate(keys):
            if not isinstance(key, Mapping) or len(key) != 1 or not {"kid", "pem"} & set(key):
                raise fail(f"{where}.keys", f"entry {i} must be {{kid: <key id>}} or {{pem: <file or PEM>}}")
            if "kid" in key:
                kid = key["kid"]
                if not isinstance(kid, str) or not kid:
                    raise fail(f"{where}.keys", f"entry {i}: 'kid' must be a non-empty string")
                if kid_owner.get(kid, name) != name:
                    raise fail(
                        f"{where}.keys",
                        f"key {kid!r} is already bound to partner {kid_owner[kid]!r}; "
                        "a key belongs to exactly one partner",
                    )
                kid_owner[kid] = name
                kids.append(kid)
            else:
                field = f"{where}.keys"
                pems.extend(read_pems([key["pem"]], base, lambda _f, problem: fail(field, problem)))  # noqa: B023 - called at once
        partners.append(Partner(name, frozenset(allowed), tuple(kids), tuple(pems)))
    return tuple(partners)


def bind_keys(
    partners: tuple[Partner, ...], jwks_file_keys: KeySet, *, jwks_url: bool, fail: Fail
) -> KeySet:
    """The static keys (partners' PEMs and the ``jwks_file``), each bound to its one partner."""
    kid_owner = {kid: p.name for p in partners for kid in p.kids}
    bound: list[VerificationKey] = []
    for p in partners:
        bound.extend(KeySet.from_pems(p.pems, field=f"partners.{p.name}.keys", owner=p.name).keys)
    for i, key in enumerate(jwks_file_keys.keys):
        if key.kid is None:
            raise fail("jwks_file", f"key {i} has no 'kid', so it cannot be bound to a partner; give it one")
        owner = kid_owner.get(key.kid)
        if owner is None:
            raise fail(
                "partners",
                f"key {key.kid!r} of the jwks_file is bound to no partner; list it under exactly "
                "one partner's keys (or remove it from the file)",
            )
        bound.append(replace(key, owner=owner))
    seen: dict[str, VerificationKey] = {}
    for key in bound:
        first = seen.setdefault(key.fingerprint, key)
        if first.owner != key.owner:
            raise fail(
                "partners",
                f"the same public key ({_name(first)}, {_name(key)}) is bound to partners "
                f"{first.owner!r} and {key.owner!r}; a key belongs to exactly one partner",
            )
    carried = {k.kid for k in jwks_file_keys.keys}
    missing = sorted(kid for kid in kid_owner if kid not in carried)
    if missing and not jwks_url:
        raise fail(
            f"partners.{kid_owner[missing[0]]}.keys",
            f"kid(s) {missing} are in no key of the jwks_file (and no jwks_url is configured)",
        )
    return KeySet(bound)


def _name(key: VerificationKey) -> str:
    return f"kid {key.kid!r}" if key.kid else f"PEM {key.fingerprint[:16]}"


class Bindings:
    """Resolves the partner a verifying key belongs to (static keys carry it; JWKS URL keys by kid)."""

    def __init__(self, partners: tuple[Partner, ...], static_keys: KeySet) -> None:
        self.partners = {p.name: p for p in partners}
        self._kid_owner = {kid: p.name for p in partners for kid in p.kids}
        self._fingerprint_owner = {k.fingerprint: k.owner for k in static_keys.keys}

    def owner(self, key: VerificationKey) -> Partner | None:
        if key.owner is not None:
            return self.partners.get(key.owner)
        name = self._kid_owner.get(key.kid) if key.kid else None
        if name is None:
            return None
        # A JWKS URL key that is also a static key of another partner belongs to neither.
        if self._fingerprint_owner.get(key.fingerprint, name) != name:
            return None
        return self.partners.get(name)
