"""One GET with a timeout and bounded retries: the only place this package touches the network.

Retry policy (see the package README):

- Retried: timeouts, connection errors (refused, reset, protocol errors), HTTP 5xx, 408 and 429.
  Each request gets at most ``max_retries`` retries (``max_retries + 1`` attempts).
- Waiting: exponential backoff with *full jitter*, ``uniform(0, min(backoff_max_s,
  backoff_base_s * 2**retry))``, so many clients failing together do not retry in lock-step. A
  ``Retry-After`` header on 429/503 (delta-seconds or HTTP-date) is honoured exactly instead; one
  asking for more than ``retry_after_max_s`` ends the attempts at once (the run is retried later).
- Giving up raises :class:`HttpPullUnavailableError` (retryable) naming the source, the URL and
  the last problem. Other 4xx and 3xx raise :class:`HttpPullUnreadableError` (terminal) at once.
- Sleeping, randomness and the clock are injected, so tests never really wait.

Secrets: the token lives only in the client's default headers. URLs in messages and logs lose any
``user:password@`` part, and every message is passed through :meth:`RetryingClient.redact`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from connectors.http_pull.exceptions import HttpPullUnavailableError, HttpPullUnreadableError

log = logging.getLogger(__name__)

REDACTED = "***"
_RETRY_AFTER_STATUSES = (429, 503)
_HINTS = {
    401: "the API rejected the credentials; check that the environment variable named in "
    "auth.token_env holds a valid token",
    403: "the token is not allowed to read this resource; check its scopes",
    404: "nothing at this URL; check url, params and the pagination settings",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request."""

    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 300.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full-jitter delay before retry number ``retry`` (0 for the first retry).

        >>> RetryPolicy(backoff_base_s=1, backoff_max_s=4).backoff(10, random.Random(0)) <= 4
        True
        """
        cap = min(self.backoff_max_s, self.backoff_base_s * (2 ** min(retry, 62)))
        return rng.uniform(0, cap)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), else ``None``.

    >>> parse_retry_after("3", now=datetime(2024, 1, 1, tzinfo=UTC))
    3.0
    >>> parse_retry_after("Mon, 01 Jan 2024 00:00:10 GMT", now=datetime(2024, 1, 1, tzinfo=UTC))
    10.0
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None  # unparsable: fall back to our own backoff rather than fail the request
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def safe_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class RequestStats:
    """Counts over the client's life: HTTP attempts made and how many of them were retries."""

    requests: int = 0
    retries: int = 0


class RetryingClient:
    """An ``httpx.Client`` with the retry policy above. Use as a context manager.

    Args:
        source: the source name, used in every message.
        timeout_s: connect/read/write timeout of each attempt.
        policy: retry bounds and backoff.
        headers: default headers, including the auth header (its value is a secret).
        secrets: values to redact from every message (the token).
        sleep, rng, clock: injected for tests.
        transport: an ``httpx`` transport (tests may use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        source: str,
        timeout_s: float,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.policy = policy
        self.stats = RequestStats()
        self._secrets = [s for s in secrets if s]
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock or (lambda: datetime.now(UTC))
        # Redirects are not followed: a redirect to another host would carry the auth header
        # there. A 3xx is reported (terminal) so the config can point at the final URL.
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers=dict(headers or {}),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RetryingClient(source={self.source!r}, timeout_s={self.timeout_s})"

    def __enter__(self) -> RetryingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def shown(self, url: str) -> str:
        """How ``url`` appears in messages: no credentials, secrets redacted."""
        return self.redact(safe_url(url))

    def get(self, url: str, *, params: Mapping[str, str] | None = None) -> httpx.Response:
        """GET ``url`` (with ``params`` merged into its query), retrying transient failures.

        Returns the first 2xx response. Raises :class:`HttpPullUnavailableError` when retries run
        out and :class:`HttpPullUnreadableError` on a 3xx or a non-retryable 4xx.
        """
        full = str(httpx.URL(url).copy_merge_params(dict(params))) if params else url
        attempts = 0
        while True:
            attempts += 1
            self.stats.requests += 1
            retry_after: float | None = None
            try:
                response = self._client.get(full)
            except httpx.TimeoutException as err:
                problem = f"timed out after {self.timeout_s:g} s ({type(err).__name__})"
            except httpx.TransportError as err:
                problem = f"connection failed ({type(err).__name__}: {self.redact(str(err))})"
            else:
                status = response.status_code
                if status < 300:
                    return response
                problem = f"HTTP {status} {response.reason_phrase}".rstrip()
                if status < 500 and status not in (408, 429):
                    raise self._terminal(full, response, problem)
                if status in _RETRY_AFTER_STATUSES:
                    header = response.headers.get("Retry-After")
                    retry_after = parse_retry_after(header, now=self._clock())
            if attempts > self.policy.max_retries:
                raise HttpPullUnavailableError(
                    source=self.source, url=self.shown(full), problem=problem, attempts=attempts
                )
            if retry_after is not None and retry_after > self.policy.retry_after_max_s:
                raise HttpPullUnavailableError(
                    source=self.source,
                    url=self.shown(full),
                    problem=f"{problem} with Retry-After {retry_after:g} s, more than "
                    f"retry_after_max_s ({self.policy.retry_after_max_s:g} s)",
                    attempts=attempts,
                )
            delay = (
                retry_after
                if retry_after is not None
                else self.policy.backoff(attempts - 1, self._rng)
            )
            log.warning(
                "source %r: GET %s: %s; retry %d/%d in %.2f s",
                self.source,
                self.shown(full),
                problem,
                attempts,
                self.policy.max_retries,
                delay,
            )
            self.stats.retries += 1
            self._sleep(delay)

    def _terminal(
        self, url: str, response: httpx.Response, problem: str
    ) -> HttpPullUnreadableError:
        status = response.status_code
        if 300 <= status < 400:
            location = self.shown(response.headers.get("Location", "(no Location header)"))
            hint = (
                f"redirected to {location}; set url to the final location "
                "(redirects are not followed)"
            )
        else:
            hint = _HINTS.get(
                status, "the API refused the request as configured; fix the source config"
            )
        body = self.redact(response.text[:200]).strip()
        detail = f"{problem}: {hint}" + (f" (response body starts: {body!r})" if body else "")
        return HttpPullUnreadableError(
            source=self.source, url=self.shown(url), problem=detail, status=status
        )
