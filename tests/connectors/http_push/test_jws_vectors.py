"""Project Wycheproof JSON Web Signature vectors against ``verify_jws``.

Every vector marked ``invalid`` must be rejected — including those whose algorithm we do not
support (HMAC, ``none``): rejecting them is the point. Every ``valid`` vector whose algorithm we
implement must verify, except those listed in ``SKIPPED_VALID`` with the reason.

Valid vectors not checked: the HS256 ones (an ``oct`` key: HMAC is deliberately not implemented,
partners sign with private keys). Two of them (372, 373, "InvalidCharacterInserted...") are
marked valid only because lenient base64 decoders skip the stray character; our strict base64url
parsing (RFC 7515 §2) would reject them too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.http_push.config import DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS
from connectors.http_push.exceptions import AuthenticationError
from connectors.http_push.jws import verify_jws
from connectors.http_push.keys import KeySet, key_from_jwk

VECTORS = "test-vectors/wycheproof/json_web_signature_test.json"

# Valid vectors we refuse on purpose (tcId -> why).
SKIPPED_VALID = {
    # RFC 7520 fig. 20: the JWK declares alg PS256 but the token is PS384. We treat a key's
    # declared "alg" as binding (RFC 7517 §4.4), which is exactly what the WrongPrimitive
    # vectors 332-340 (PS512 key, RS*/PS* tokens with genuinely valid signatures) require to be
    # rejected; the two expectations conflict and we keep the safe one.
    346: "key alg PS256 != token alg PS384",
    350: "key alg PS256 != token alg PS384",
    # RFC 7520 fig. 27: the JWK declares alg "ES521", which is not a JWA algorithm name (the
    # ES512 algorithm uses curve P-521); a key bound to an unknown algorithm verifies nothing.
    347: "key alg 'ES521' is not a registered algorithm",
    351: "key alg 'ES521' is not a registered algorithm",
}


def _cases(shared: Path) -> list[tuple[int, str, dict[str, Any] | None, str, str]]:
    doc = json.loads((shared / VECTORS).read_text())
    out = []
    for group in doc["testGroups"]:
        jwk = group.get("public") or group.get("private")
        for t in group["tests"]:
            out.append((t["tcId"], t["comment"], jwk, t["jws"], t["result"]))
    return out


def _alg(token: str) -> str | None:
    from connectors.http_push.jws import parse_compact

    try:
        return parse_compact(token)[0].get("alg")
    except AuthenticationError:
        return None


def _keys(jwk: dict[str, Any] | None) -> KeySet:
    try:
        return KeySet([key_from_jwk(jwk)])
    except ValueError:  # oct (HMAC) keys are never usable
        return KeySet()


@pytest.fixture(scope="module")
def cases(shared_dir: Path) -> list[tuple[int, str, dict[str, Any] | None, str, str]]:
    return _cases(shared_dir)


def test_vector_file_has_the_expected_shape(cases) -> None:
    assert len(cases) == 401
    assert {c[4] for c in cases} <= {"valid", "invalid", "acceptable"}


@pytest.mark.parametrize("algorithms", [SUPPORTED_ALGORITHMS, DEFAULT_ALGORITHMS])
def test_every_invalid_vector_is_rejected(cases, algorithms) -> None:
    accepted = []
    for tc_id, comment, jwk, token, result in cases:
        if result != "invalid":
            continue
        try:
            verify_jws(token, _keys(jwk), algorithms=algorithms)
        except AuthenticationError:
            continue
        accepted.append((tc_id, comment))
    assert accepted == []


def test_every_valid_vector_with_a_supported_algorithm_verifies(cases) -> None:
    checked, failed, unsupported = [], [], []
    for tc_id, comment, jwk, token, result in cases:
        if result != "valid" or tc_id in SKIPPED_VALID:
            continue
        if (jwk or {}).get("kty") == "oct":
            unsupported.append(tc_id)  # HS256 with a shared secret: HMAC is not implemented
            continue
        try:
            verify_jws(token, _keys(jwk), algorithms=SUPPORTED_ALGORITHMS)
            checked.append(tc_id)
        except AuthenticationError as err:
            failed.append((tc_id, comment, str(err)))
    assert failed == []
    assert len(checked) >= 30
    assert all(_alg(t) in ("HS256", None) for i, _, _, t, _ in cases if i in unsupported)
    assert {_alg(t) for i, _, _, t, _ in cases if i in checked} <= set(SUPPORTED_ALGORITHMS)


def test_skipped_valid_vectors_are_rejected_for_the_documented_reason(cases) -> None:
    by_id = {c[0]: c for c in cases}
    for tc_id in SKIPPED_VALID:
        _, _, jwk, token, result = by_id[tc_id]
        assert result == "valid"
        with pytest.raises(AuthenticationError, match="no configured key can verify"):
            verify_jws(token, _keys(jwk), algorithms=SUPPORTED_ALGORITHMS)
