"""Metrics errors. Configuration errors are terminal; store errors may succeed on a retry."""


class MetricsError(Exception):
    """Base class: every message names the input (file, table, dataset) and the problem."""


class MetricsConfigError(MetricsError):
    """Terminal: a price or budget file is missing, unparsable or has an invalid field.

    The message names the file and the field and says what a valid value looks like.
    """


class MetricsStoreError(MetricsError):
    """Retryable: the metrics Delta tables or the catalog could not be written or read."""
