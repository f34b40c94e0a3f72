"""Fixtures: one fake API server for the package's tests, reset before each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.http_pull import HttpPullSource

from .server import TOKEN, FakeApi, serve


@pytest.fixture(scope="session")
def _fake_api_server() -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi()
    with serve(api.app()) as base_url:
        yield api, base_url


@pytest.fixture
def fake_api(_fake_api_server: tuple[FakeApi, str]) -> FakeApi:
    api, _ = _fake_api_server
    api.reset()
    return api


@pytest.fixture
def base_url(_fake_api_server: tuple[FakeApi, str], fake_api: FakeApi) -> str:
    return _fake_api_server[1]


@pytest.fixture
def sleeps() -> list[float]:
    """Delays the client asked to sleep; the injected sleep records instead of waiting."""
    return []


@pytest.fixture
def make_source(base_url: str, sleeps: list[float], tmp_path: Any) -> Callable[..., HttpPullSource]:
    """Build a source for an endpoint of the fake API.

    ``overrides`` are config fields; ``options`` are constructor keywords (environ, clock, ...).
    """

    def build(
        endpoint: str,
        *,
        cursor_store: Any = None,
        options: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> HttpPullSource:
        config = {
            "name": f"fake_{endpoint}",
            "dataset": "items",
            "url": f"{base_url}/{endpoint}",
            "auth": {"token_env": "FAKE_API_TOKEN"},
            "timeout_s": 0.5,
            "max_retries": 3,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            **overrides,
        }
        kwargs: dict[str, Any] = {
            "cursor_store": cursor_store,
            "spool_dir": tmp_path / "spool",
            "environ": {"FAKE_API_TOKEN": TOKEN},
            "sleep": sleeps.append,
            **(options or {}),
        }
        return HttpPullSource.from_dict(config, **kwargs)

    return build
