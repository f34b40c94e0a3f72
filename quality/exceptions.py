"""Quality errors: compiling a contract into a suite, and validating a bronze table.

Terminal errors (:class:`QualityConfigError`, :class:`BronzeTableMissingError`) will fail the same
way on a retry; :class:`QualityStoreError` (results or Data Docs could not be written) may pass on
a retry once the disk or store is back.
"""


class QualityError(Exception):
    """Base class for data-quality problems; messages name the dataset, the input and the problem."""


class QualityConfigError(QualityError):
    """Terminal: the contract's quality settings (``tags.quality_severity``) or a call's options
    are invalid. The message names the field and the allowed values."""


class BronzeTableMissingError(QualityError):
    """Terminal for this call: there is no Delta table at the URI, or the requested version range
    does not exist in it. Ingest the dataset first, or pass a ``since_version`` the table has."""


class QualityStoreError(QualityError):
    """Retryable: the validation ran but its JSON result or Data Docs could not be written."""
