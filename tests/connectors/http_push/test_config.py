"""PushConfig.from_dict validates at once and names the bad field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.exceptions import SourceConfigError
from connectors.http_push.config import DEFAULT_MAX_BODY_BYTES, PushConfig

BASE: dict[str, Any] = {
    "landing_root": "landing",
    "datasets": ["orders", "payments"],
    "issuer": "https://idp",
    "audience": "maestro-push",
    "jwks_file": "jwks.json",
    "partners": {"acme": {"datasets": ["orders"], "keys": [{"kid": "acme-1"}]}},
}
PEM = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    cfg = PushConfig.from_dict(BASE, base_dir=tmp_path)
    assert cfg.landing_root == tmp_path / "landing"
    assert cfg.jwks_file == tmp_path / "jwks.json"
    assert cfg.algorithms == ("RS256", "ES256", "EdDSA")
    assert cfg.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 64 * 1024 * 1024
    assert cfg.rate.burst >= 1 and cfg.rate.requests_per_s > 0
    assert cfg.receipt_signing_key is None
    assert cfg.max_token_lifetime_s == 3600
    assert cfg.server.max_header_bytes == 32 * 1024 and cfg.server.header_timeout_s == 10
    [acme] = cfg.partners
    assert (acme.name, acme.datasets, acme.kids) == ("acme", frozenset({"orders"}), ("acme-1",))


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"landing_root": None}, "landing_root"),
        ({"datasets": []}, "datasets"),
        ({"datasets": ["../etc"]}, "datasets"),
        ({"issuer": ""}, "issuer"),
        ({"audience": 3}, "audience"),
        ({"algorithms": ["none"]}, "algorithms"),
        ({"algorithms": ["HS256"]}, "algorithms"),
        ({"algorithms": ["RS1"]}, "algorithms"),
        ({"leeway_s": -1}, "leeway_s"),
        ({"max_body_bytes": "big"}, "max_body_bytes"),
        ({"max_decoded_bytes": 10}, "max_decoded_bytes"),
        ({"rate": {"requests_per_s": 0}}, "rate.requests_per_s"),
        ({"rate": {"burst": 0.5}}, "rate.burst"),
        ({"jwks_url": "http://idp.example/jwks"}, "jwks_url"),
        ({"public_key_pems": [PEM]}, "partners.<name>.keys"),
        ({"max_token_lifetime_s": 10**9}, "max_token_lifetime_s"),
        ({"server": {"max_header_bytes": 10}}, "server.max_header_bytes"),
        ({"server": {"header_timeout": 1}}, "server"),
        ({"partners": None}, "partners"),
        ({"partners": {"acme": {"datasets": ["secrets"], "keys": [{"kid": "a"}]}}}, "partners.acme.datasets"),
        ({"partners": {"acme": {"datasets": ["orders"], "keys": []}}}, "partners.acme.keys"),
        ({"partners": {"acme": {"datasets": ["orders"], "keys": [{"x5c": "..."}]}}}, "partners.acme.keys"),
        (
            {"partners": {"acme": {"datasets": ["orders"], "keys": [{"pem": "missing.pem"}]}}},
            "partners.acme.keys",
        ),
        ({"partners": {"a b": {"datasets": ["orders"], "keys": [{"kid": "k"}]}}}, "partners"),
        ({"colour": "blue"}, "unknown field"),
    ],
)
def test_invalid_field_is_named_in_the_error(
    tmp_path: Path, override: dict[str, Any], field: str
) -> None:
    data = {**BASE, **override}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(SourceConfigError, match=field.replace(".", r"\.")):
        PushConfig.from_dict(data, base_dir=tmp_path)


def test_keys_named_by_kid_need_a_jwks_file_or_url(tmp_path: Path) -> None:
    data = {k: v for k, v in BASE.items() if k != "jwks_file"}
    with pytest.raises(SourceConfigError, match="jwks_url"):
        PushConfig.from_dict(data, base_dir=tmp_path)


def test_a_kid_bound_to_two_partners_is_refused_naming_it(tmp_path: Path) -> None:
    partners = {
        "acme": {"datasets": ["orders"], "keys": [{"kid": "shared-1"}]},
        "globex": {"datasets": ["payments"], "keys": [{"kid": "shared-1"}]},
    }
    with pytest.raises(SourceConfigError, match=r"'shared-1' is already bound to partner 'acme'"):
        PushConfig.from_dict({**BASE, "partners": partners}, base_dir=tmp_path)


def test_loopback_http_jwks_url_and_inline_pem_are_accepted(tmp_path: Path) -> None:
    partners = {"acme": {"datasets": ["orders"], "keys": [{"pem": PEM}, {"kid": "acme-2"}]}}
    cfg = PushConfig.from_dict(
        {**BASE, "jwks_url": "http://127.0.0.1:9/jwks", "partners": partners},
        base_dir=tmp_path,
    )
    assert cfg.jwks_url == "http://127.0.0.1:9/jwks"
    assert cfg.partners[0].pems == (PEM,)


def test_yaml_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "push.yaml"
    conf.parent.mkdir()
    (conf.parent / "keys").mkdir()
    (conf.parent / "keys" / "acme.pem").write_text(PEM)
    conf.write_text(
        "landing_root: ../landing\ndatasets: [orders, customers]\nissuer: https://idp\n"
        "audience: maestro-push\njwks_file: jwks.json\nrate: {requests_per_s: 2, burst: 5}\n"
        "partners: {acme: {datasets: [orders], keys: [{kid: a-1}, {pem: keys/acme.pem}]}}\n"
    )
    cfg = PushConfig.from_yaml(conf)
    assert cfg.landing_root.resolve() == (tmp_path / "landing").resolve()
    assert cfg.jwks_file == conf.parent / "jwks.json"
    assert cfg.datasets == ("orders", "customers")
    assert (cfg.rate.requests_per_s, cfg.rate.burst) == (2.0, 5)
    assert cfg.partners[0].pems == (PEM,)  # read from etc/keys/acme.pem
