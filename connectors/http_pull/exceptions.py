"""HTTP pull errors: one type per decision the orchestration has to make.

- :class:`HttpPullConfigError` (terminal): the configuration is invalid or its environment is
  missing (e.g. the auth token variable is not set). Fix the config; retrying will not help.
- :class:`HttpPullUnavailableError` (retryable): the API could not be reached or kept answering
  with a transient failure (timeout, connection error, 5xx, 429) after the bounded retries.
- :class:`HttpPullUnstableError` (retryable): re-reading a page-numbered window never settled
  (the API changed during every pass); nothing was returned.
- :class:`HttpPullUnreadableError` (terminal): the API answered, but not with what the config
  describes (401/403/404 and other 4xx, a body that is not the configured format, a missing
  ``record_path``, pagination that loops).
- :class:`CursorStateError` (terminal): a saved cursor file cannot be read.

Messages name the source, the URL (never a secret: credentials are not part of URLs and the token
value is redacted) and the problem, and say what to do.
"""

from __future__ import annotations

from connectors.exceptions import (
    ConnectorError,
    SourceConfigError,
    SourceUnavailableError,
    SourceUnreadableError,
)


class HttpPullConfigError(SourceConfigError):
    """Terminal: the pull's configuration is invalid. ``problems`` lists ``field: problem``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        joined = "\n  ".join(problems)
        super().__init__(
            f"invalid http_pull source {source!r} (see connectors/http_pull/README.md):\n  {joined}"
        )


class HttpPullUnavailableError(SourceUnavailableError):
    """Retryable: the request kept failing with transient problems until retries ran out."""

    def __init__(self, *, source: str, url: str, problem: str, attempts: int) -> None:
        self.source = source
        self.url = url
        self.problem = problem
        self.attempts = attempts
        super().__init__(
            f"source {source!r}: GET {url} failed after {attempts} attempt(s); last problem: "
            f"{problem}. The API is unavailable; nothing was returned, retry the run later."
        )


class HttpPullUnstableError(SourceUnavailableError):
    """Retryable: every re-read of the window found records the earlier reads had missed."""

    def __init__(self, *, source: str, url: str, passes: int) -> None:
        self.source = source
        self.url = url
        self.passes = passes
        super().__init__(
            f"source {source!r}: GET {url}: the API kept changing while it was read: each of "
            f"{passes} passes over the window (pagination.max_passes) found records the earlier "
            "passes had missed, so a record may still be hidden; nothing was returned. Retry the "
            "run later, or use keyset pagination if the API supports it "
            "(connectors/http_pull/README.md)."
        )


class HttpPullUnreadableError(SourceUnreadableError):
    """Terminal: the API answered with something the configuration cannot read."""

    def __init__(self, *, source: str, url: str, problem: str, status: int | None = None) -> None:
        self.source = source
        self.url = url
        self.problem = problem
        self.status = status
        super().__init__(f"source {source!r}: GET {url}: {problem}")


class CursorStateError(ConnectorError):
    """Terminal: a cursor state file is unreadable; fix or delete it (deleting = full re-pull)."""
