"""Pipeline errors."""

from connectors.exceptions import SourceUnreadableError


class IngestError(Exception):
    """An input could not be ingested; the message names the dataset, the input and the problem."""


class InputCrashError(SourceUnreadableError):
    """Reading or checking one input raised an unexpected error (a hostile input meeting a bug).

    Terminal for that input: it is rejected whole (quarantined with this message, the original
    kept for a replay once fixed) instead of crashing the run, and the other inputs go on.
    Environment failures (``OSError``: disk, network; ``MemoryError``) are not this: they are
    raised as they are, so the run fails and is retried rather than quarantining good inputs.
    """
