"""Pipeline errors."""


class IngestError(Exception):
    """An input could not be ingested; the message names the dataset, the input and the problem."""
