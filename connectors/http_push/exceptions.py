"""Errors of the HTTP push source.

Terminal errors (a bad token, a bad request, a bad configuration) are answered or raised once;
retryable ones (:class:`KeysUnavailableError`) derive from
:class:`~connectors.exceptions.SourceUnavailableError` so callers retry them. Messages name the
input and the problem and never contain a token or a secret.
"""

from __future__ import annotations

from connectors.exceptions import (
    ConnectorError,
    SourceConfigError,
    SourceUnavailableError,
)


class PushError(ConnectorError):
    """Base class of every HTTP push error."""


class PushConfigError(PushError, SourceConfigError):
    """Terminal: the push service configuration is invalid (names the field and the problem)."""


class AuthenticationError(PushError):
    """Terminal: the bearer token is missing or invalid (answered with 401).

    The message says what is wrong with the token (expired, bad signature, wrong audience ...)
    and never contains the token itself.
    """


class AuthorizationError(PushError):
    """Terminal: the token is valid but does not grant the requested dataset (answered with 403)."""


class KeysUnavailableError(PushError, SourceUnavailableError):
    """Retryable: the verification keys (JWKS URL) could not be fetched (answered with 503)."""


class LandingError(PushError):
    """Terminal: the landing area does not hold what was asked for (unknown batch, bad state)."""


class IdempotencyConflictError(PushError):
    """Terminal: an Idempotency-Key was reused with a different body (answered with 422)."""


class PayloadTooLargeError(PushError):
    """Terminal: the body (as sent, or decompressed) is over the configured limit (413)."""


class PayloadInvalidError(PushError):
    """Terminal: the body is empty, not valid gzip or not UTF-8 (answered with 400)."""
