"""Retries: 5xx, 429 + Retry-After and timeouts are retried with bounded, jittered backoff;
other 4xx end at once; giving up names the source, the URL and the last problem, never a secret."""

from __future__ import annotations

import random
import socket
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.exceptions import SourceUnavailableError, SourceUnreadableError
from connectors.http_pull import (
    HttpPullConfigError,
    HttpPullSource,
    HttpPullUnavailableError,
    HttpPullUnreadableError,
    RetryPolicy,
    parse_retry_after,
)

from .server import TOKEN, FakeApi

pytestmark = pytest.mark.network

PAGES = {"record_path": "data.items", "pagination": {"type": "page_number", "page_size": 5}}
Make = Callable[..., HttpPullSource]


def test_full_jitter_backoff_stays_within_the_exponential_cap() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=8)
    rng = random.Random(7)
    for retry in range(12):
        cap = min(8, 0.5 * 2**retry)
        delays = [policy.backoff(retry, rng) for _ in range(50)]
        assert all(0 <= d <= cap for d in delays)
    assert len({round(policy.backoff(3, rng), 6) for _ in range(20)}) > 1  # jittered, not fixed


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_5xx_429_and_a_timeout_are_retried_and_every_record_arrives_once_in_order(
    make_source: Make, fake_api: FakeApi, sleeps: list[float], tmp_path: Path
) -> None:
    fake_api.faults[("pages", 1)] = ["500", "503"]
    fake_api.faults[("pages", 2)] = ["429:2"]
    fake_api.faults[("pages", 3)] = ["sleep:1.5"]  # past the 0.5 s client timeout
    result = make_source("pages", **PAGES).fetch(tmp_path / "spool")

    ids = [
        int(line.split('"id":')[1].split(",")[0])
        for line in result.spool_path.read_text().splitlines()
    ]
    assert ids == list(range(1, 24))
    assert (result.pages, result.retries, result.requests) == (6, 4, 10)  # 5 full pages + 1 empty
    assert 2.0 in sleeps  # Retry-After honoured exactly
    assert all(0 <= s <= 0.05 for s in sleeps if s != 2.0)  # the others: capped jittered backoff


def test_a_retry_after_date_is_honoured(
    make_source: Make, fake_api: FakeApi, sleeps: list[float], tmp_path: Path
) -> None:
    fake_api.faults[("pages", 0)] = ["429:Wed, 01 May 2024 12:00:09 GMT"]
    clock = lambda: datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)  # noqa: E731
    source = make_source("pages", options={"clock": clock}, **PAGES)
    assert source.fetch(tmp_path).records == 23
    assert sleeps[0] == 9.0


def test_a_source_that_keeps_failing_ends_with_a_retryable_error_and_no_spool(
    make_source: Make,
    fake_api: FakeApi,
    sleeps: list[float],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_api.faults[("pages", 2)] = ["500"] * 10
    source = make_source("pages", **PAGES)
    spool = tmp_path / "spool"
    with pytest.raises(HttpPullUnavailableError) as info:
        source.fetch(spool)
    err = info.value
    assert isinstance(err, SourceUnavailableError)
    text = str(err)
    assert "source 'fake_pages'" in text
    assert f"GET {source.config.url}?page=3&page_size=5" in text
    assert "after 4 attempt(s)" in text and "last problem: HTTP 500 Internal Server Error" in text
    assert len(sleeps) == 3  # max_retries
    assert list(spool.iterdir()) == []  # the partial spool was removed
    assert TOKEN not in "".join(traceback.format_exception(err))
    assert "retry 3/3" in caplog.text and TOKEN not in caplog.text  # retries are logged, safely


def test_a_timeout_that_persists_names_the_timeout(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.faults[("pages", 0)] = ["sleep:0.6"] * 2
    with pytest.raises(
        HttpPullUnavailableError, match=r"last problem: timed out after 0.3 s \(ReadTimeout\)"
    ):
        make_source("pages", timeout_s=0.3, max_retries=1, **PAGES).fetch(tmp_path)


def test_a_retry_after_longer_than_allowed_gives_up_at_once(
    make_source: Make, fake_api: FakeApi, sleeps: list[float], tmp_path: Path
) -> None:
    fake_api.faults[("pages", 0)] = ["429:3600"]
    with pytest.raises(
        HttpPullUnavailableError, match="Retry-After 3600 s, more than retry_after_max_s"
    ):
        make_source("pages", retry_after_max_s=60, **PAGES).fetch(tmp_path)
    assert sleeps == []


def test_an_unreachable_api_is_a_retryable_connection_error(
    sleeps: list[float], tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = HttpPullSource.from_dict(
        {
            "name": "gone",
            "dataset": "d",
            "url": f"http://127.0.0.1:{port}/x",
            "max_retries": 2,
            "timeout_s": 0.5,
        },
        sleep=sleeps.append,
    )
    with pytest.raises(
        HttpPullUnavailableError,
        match=r"after 3 attempt\(s\); last problem: connection failed \(ConnectError",
    ):
        source.fetch(tmp_path)
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("status", "hint"), [("401", "auth.token_env"), ("403", "scopes"), ("404", "check url")]
)
def test_a_4xx_is_terminal_at_once_with_a_clear_error(
    make_source: Make,
    fake_api: FakeApi,
    sleeps: list[float],
    tmp_path: Path,
    status: str,
    hint: str,
) -> None:
    fake_api.faults[("pages", 1)] = [status]
    source = make_source("pages", **PAGES)
    with pytest.raises(HttpPullUnreadableError) as info:
        source.fetch(tmp_path / "spool")
    err = info.value
    assert isinstance(err, SourceUnreadableError)
    assert err.status == int(status)
    assert f"source 'fake_pages': GET {source.config.url}?page=2&page_size=5: HTTP {status}" in str(
        err
    )
    assert hint in str(err)
    assert sleeps == [] and len(fake_api.requests_to("pages")) == 2  # no retry
    assert list((tmp_path / "spool").iterdir()) == []
    assert TOKEN not in "".join(traceback.format_exception(err))


def test_a_wrong_token_is_a_401_whose_message_does_not_repeat_it(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    wrong = "wrong-token-0123456789"
    source = make_source("pages", options={"environ": {"FAKE_API_TOKEN": wrong}}, **PAGES)
    with pytest.raises(HttpPullUnreadableError, match="HTTP 401") as info:
        source.fetch(tmp_path)
    assert wrong not in "".join(traceback.format_exception(info.value))


def test_a_missing_token_variable_is_a_config_error_naming_the_variable(
    make_source: Make, tmp_path: Path
) -> None:
    source = make_source("pages", options={"environ": {}}, **PAGES)
    with pytest.raises(HttpPullConfigError, match="environment variable FAKE_API_TOKEN is not set"):
        source.fetch(tmp_path)


def test_the_token_is_sent_as_a_bearer_header(
    make_source: Make, fake_api: FakeApi, tmp_path: Path
) -> None:
    make_source("pages", **PAGES).fetch(tmp_path)
    assert fake_api.log and all(authorised for _, _, authorised in fake_api.log)


def test_a_redirect_is_terminal_and_not_followed(
    make_source: Make, fake_api: FakeApi, sleeps: list[float], tmp_path: Path
) -> None:
    fake_api.faults[("pages", 0)] = ["302"]
    with pytest.raises(HttpPullUnreadableError, match="HTTP 302 Found: redirected to") as info:
        make_source("pages", **PAGES).fetch(tmp_path)
    assert "redirects are not followed" in str(info.value) and sleeps == []
