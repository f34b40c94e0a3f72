"""Data quality from contracts: Great Expectations suites compiled from a contract, validated on
the committed bronze Delta table, kept as JSON results and rendered as GX Data Docs.

Library code (never imports dagster); the Dagster asset checks call :func:`validate_table`.
See ``quality/README.md`` for the modes and their measured cost.
"""

from quality.compile import (
    PANDAS_TYPES,
    SEVERITY_BY_RULE,
    compile_suite,
    rule_severity,
    severity_overrides,
    suite_name,
)
from quality.exceptions import (
    BronzeTableMissingError,
    QualityConfigError,
    QualityError,
    QualityStoreError,
)
from quality.validate import (
    DEFAULT_MODE,
    DEFAULT_SAMPLE_ROWS,
    FailedExpectation,
    QualityResult,
    validate_table,
)

__all__ = [
    "DEFAULT_MODE",
    "DEFAULT_SAMPLE_ROWS",
    "PANDAS_TYPES",
    "SEVERITY_BY_RULE",
    "BronzeTableMissingError",
    "FailedExpectation",
    "QualityConfigError",
    "QualityError",
    "QualityResult",
    "QualityStoreError",
    "compile_suite",
    "rule_severity",
    "severity_overrides",
    "suite_name",
    "validate_table",
]
