"""Fixtures: keys (once per session), a config factory and a running push service per test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.http_push.app import create_app
from connectors.http_push.config import PushConfig

from .helpers import AUDIENCE, ISSUER, SigningKeys, serve


@pytest.fixture(scope="session")
def keys() -> SigningKeys:
    """Partner A's keys (kids ``rsa-1``, ``ec-1``, ``ed-1``)."""
    return SigningKeys.generate()


@pytest.fixture(scope="session")
def keys_b() -> SigningKeys:
    """Partner B's keys (kids ``b-rsa-1`` ...): another partner, an adversary of A."""
    return SigningKeys.generate(prefix="b-", subject="partner-b")


@pytest.fixture
def jwks_file(tmp_path: Path, keys: SigningKeys, keys_b: SigningKeys) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys.jwks()["keys"] + keys_b.jwks()["keys"]}))
    return path


def partners(keys: SigningKeys, keys_b: SigningKeys) -> dict[str, Any]:
    """A may push orders and customers, B orders and payments; each with its own three keys."""
    return {
        "partner-a": {"datasets": ["orders", "customers"], "keys": [{"kid": k} for k in keys.kids]},
        "partner-b": {"datasets": ["orders", "payments"], "keys": [{"kid": k} for k in keys_b.kids]},
    }


@pytest.fixture
def make_config(
    tmp_path: Path, jwks_file: Path, keys: SigningKeys, keys_b: SigningKeys
) -> Callable[..., PushConfig]:
    """A valid config over ``tmp_path/landing``; keyword overrides replace fields."""

    def build(**overrides: Any) -> PushConfig:
        data: dict[str, Any] = {
            "landing_root": str(tmp_path / "landing"),
            "datasets": ["orders", "customers", "payments"],
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "partners": partners(keys, keys_b),
            "jwks_file": str(jwks_file),
            "leeway_s": 5,
            "max_body_bytes": 64 * 1024,
            "max_decoded_bytes": 1024 * 1024,
            "rate": {"requests_per_s": 1000, "burst": 1000},
        }
        data.update(overrides)
        return PushConfig.from_dict({k: v for k, v in data.items() if v is not None})

    return build


@pytest.fixture
def run_service() -> Callable[..., AbstractContextManager[str]]:
    """``with run_service(cfg) as base_url:`` starts the app on loopback for the block."""

    def start(cfg: PushConfig, **app_kwargs: Any) -> AbstractContextManager[str]:
        return serve(create_app(cfg, **app_kwargs), cfg.server)

    return start


@pytest.fixture
def service(
    make_config: Callable[..., PushConfig], run_service: Callable[..., AbstractContextManager[str]]
) -> Iterator[tuple[httpx.Client, PushConfig]]:
    """A running service with the default config and an httpx client pointed at it."""
    cfg = make_config()
    with run_service(cfg) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        yield client, cfg
