"""Connector errors. Terminal errors quarantine the input; retryable ones are tried again."""


class ConnectorError(Exception):
    """Base class: every message names the source, the input and the problem."""


class SourceUnreadableError(ConnectorError):
    """Terminal: the input cannot be read as configured (bad encoding, not CSV, truncated gzip)."""


class SourceUnavailableError(ConnectorError):
    """Retryable: the source could not be reached or answered with a transient failure."""


class SourceConfigError(ConnectorError):
    """Terminal: the source's configuration is invalid (names the field and the problem)."""
