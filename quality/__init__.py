"""Data quality from contracts: Great Expectations suites compiled from a contract, validated on
the committed bronze Delta table, kept as JSON results and rendered as GX Data Docs.

Library code (never imports dagster); the Dagster asset checks call :func:`validate_table`.
See ``quality/README.md`` for the modes and their measured cost.

Importing this package imports Great Expectations (2-4 s, once per process) and then calls
:func:`gc.freeze`: GX's import leaves ~280,000 long-lived objects, and every full cyclic garbage
collection afterwards walks all of them (~0.15 s each, at least once per validation in a fresh
process). Frozen objects are skipped by the collector; objects freed by reference counting are
freed as always. The cost: reference cycles that are already garbage at this moment are never
collected (a bounded, one-off amount).
"""

import gc

import great_expectations  # noqa: F401  (first, so that its objects are frozen below)

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
    DEFAULT_FULL_KEY_ROWS,
    DEFAULT_MODE,
    DEFAULT_SAMPLE_ROWS,
    FailedExpectation,
    QualityResult,
    validate_table,
)

gc.freeze()  # after GX and this package's imports: see the module docstring

__all__ = [
    "DEFAULT_MODE",
    "DEFAULT_FULL_KEY_ROWS",
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
