"""Lake errors."""


class LakeError(Exception):
    """Base class for lake problems; messages name the table and the problem."""


class LakeWriteError(LakeError):
    """A commit to a Delta table failed (retryable when the store was unreachable)."""


class CatalogError(LakeError):
    """The DuckDB analyst catalog could not be refreshed (names the table and the problem)."""
