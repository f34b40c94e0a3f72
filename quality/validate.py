"""Validate a committed bronze Delta table against its contract's compiled GX suite.

:func:`validate_table` reads the rows a *mode* selects, runs the suite of
:func:`quality.compile.compile_suite` with GX on pandas, keeps the result as GX JSON under
``results_dir`` and renders it into the GX Data Docs site (:mod:`quality.docs`). It never writes to
the table. Modes (the cost figures are in ``quality/README.md``):

- ``sample`` (default): the files added by the commits after ``since_version`` (by default: the
  newest commit). Row rules (type, not-null, range, set, pattern, length, columns) run on a
  deterministic sample of about ``sample_rows`` of those rows (:mod:`quality.scope`); with a
  primary key it is a *key sample* (about one key in ``k`` of each input, with every row carrying
  it, so a picked key's duplicates are always in it together). ``unique:<col>`` rules run on
  *every* new row, on a narrow frame of the key columns only (nothing else checks them on every
  row). ``primary_key`` runs on every new row too while there are at most ``full_key_rows`` of
  them; above that, on the key sample: every row of the whole table is then the job of the DuckDB
  check ``primary_key_unique_per_input`` (:mod:`pipeline.checks`), which the ingest asset runs on
  every ingest before this validation. When the new rows are at most ``sample_rows`` this is
  exactly ``new_files``.
- ``new_files``: every rule on every row the new commits added.
- ``full``: every rule on every row of the table (re-validation after a contract change).

Outcome: an expectation failing with severity ``error`` makes ``success`` false; a ``warn`` one is
listed in ``warn_failed`` but does not. (GX's own ``success`` in the stored JSON counts every
failure, as GX does.)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier

from contracts.model import Contract
from quality.compile import Severity, compile_suite
from quality.docs import publish
from quality.exceptions import QualityConfigError, QualityStoreError
from quality.scope import open_bronze, read_rows, select_scope, to_frame

Mode = Literal["new_files", "full", "sample"]
MODES: tuple[str, ...] = ("new_files", "full", "sample")
DEFAULT_MODE: Mode = "sample"
DEFAULT_SAMPLE_ROWS = 50_000
# Up to this many new rows the primary key is checked on every one of them (~0.06 s per 250k rows;
# 0.5 s for 2M); above, on the key sample (the DuckDB check primary_key_unique_per_input covers
# every row of the table).
DEFAULT_FULL_KEY_ROWS = 250_000
# Expectations judged on a set of rows, not row by row: never sampled.
SET_RULES = frozenset({"expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique"})
# The run-time result format: counts plus up to 20 example values; no per-row index query, which
# in GX's pandas engine re-filters the whole frame once per expectation.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 20,
                 "return_unexpected_index_query": False}
_VALUE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list",
               "unexpected_list", "unexpected_index_list", "unexpected_rows", "unexpected_index_query")


@dataclass(frozen=True)
class FailedExpectation:
    """One failed expectation, named by the contract rule it came from."""

    rule: str
    severity: Severity
    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]
    reason_codes: list[str]
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    observed_value: Any = None
    exception: str | None = None


@dataclass
class QualityResult:
    """What a validation found and where its evidence is."""

    success: bool
    """False when any ``error``-severity expectation failed."""
    error_failed: list[FailedExpectation]
    warn_failed: list[FailedExpectation]
    statistics: dict[str, Any]
    results_json_path: str
    docs_path: str | None
    """The Data Docs site's ``index.html`` (None when docs were not built)."""
    docs_page_path: str | None = None
    suite_name: str = ""
    failed_rules: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """A flat, JSON-ready summary for asset-check metadata."""
        return {
            "success": self.success,
            "suite": self.suite_name,
            "error_failed": [f.rule for f in self.error_failed],
            "warn_failed": [f.rule for f in self.warn_failed],
            "results_json": self.results_json_path,
            "data_docs": self.docs_path,
            **{k: v for k, v in self.statistics.items() if not isinstance(v, dict | list)},
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_table(
    contract: Contract,
    table_uri: str,
    *,
    results_dir: str | os.PathLike[str],
    storage_options: Mapping[str, str] | None = None,
    mode: Mode = DEFAULT_MODE,
    since_version: int | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    full_key_rows: int = DEFAULT_FULL_KEY_ROWS,
    docs_dir: str | os.PathLike[str] | None = None,
    gx_root: str | os.PathLike[str] | None = None,
    build_docs: bool = True,
    now: datetime | None = None,
) -> QualityResult:
    """Validate the bronze table at ``table_uri`` against ``contract``.

    Args:
        contract: the dataset's contract; its suite is compiled here.
        table_uri: the bronze Delta table (local path or object-store URI).
        results_dir: folder for the JSON results, e.g. ``<lake>/_quality/<dataset>``; one file
            ``<UTC timestamp>.json`` per call, in GX's validation-result format.
        storage_options: object-store options for the table.
        mode: ``sample``, ``new_files`` or ``full`` (module docstring).
        since_version: validate the commits after this table version (``sample``/``new_files``);
            default: only the newest commit; -1: every commit. Pass the version before an
            ingest's bronze commit (``IngestResult.bronze.version - 1``).
        sample_rows: about how many rows ``sample`` mode runs the row rules on.
        full_key_rows: ``sample`` mode checks ``primary_key`` on every new row up to this many new
            rows, on a key sample of about ``sample_rows`` rows above (module docstring).
        docs_dir: the Data Docs site folder (default: ``<results_dir>/../docs``).
        gx_root: the GX file context's project folder (default: ``<results_dir>/..``, which gets
            a ``gx/`` folder).
        build_docs: True (default): store the result in the GX context and render its Data Docs
            page and the site index now, before returning (``docs_path``, ``docs_page_path``).
            False skips Data Docs (the JSON result is still written; both paths are None).
        now: the validation time (default: the current UTC time).

    Raises:
        QualityConfigError: unknown mode, bad ``sample_rows``, or bad ``tags.quality_severity``.
        BronzeTableMissingError: no table at ``table_uri``, or ``since_version`` not loadable.
        QualityStoreError: the results or the Data Docs could not be written (retryable).
    """
    if mode not in MODES:
        raise QualityConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if sample_rows < 1:
        raise QualityConfigError(f"sample_rows must be at least 1, not {sample_rows}")
    clock = {"start": time.perf_counter()}
    now = now or datetime.now(UTC)
    suite = compile_suite(contract)
    dt = open_bronze(table_uri, storage_options)
    since = None if mode == "full" else (dt.version() - 1 if since_version is None else since_version)
    scope = select_scope(dt, table_uri, since_version=since, storage_options=storage_options)

    pk = [e for e in suite.expectations if (e.meta or {}).get("rule") == "primary_key"]
    # With a primary key the sample is a key sample: a picked key comes with all its rows.
    by = {"sample_by": list(pk[0].column_list)} if pk else {}  # type: ignore[attr-defined]
    rows, stride = read_rows(dt, scope, sample_rows=sample_rows if mode == "sample" else None, **by)
    frames = [(to_frame(rows, contract), suite.expectations)]
    set_exps = [e for e in suite.expectations if e.expectation_type in SET_RULES]
    key_sampled = bool(pk) and stride > 1 and scope.rows > full_key_rows
    if stride > 1 and set_exps:  # sampled: set rules on every row go to a key-only frame
        every = [e for e in set_exps if not (key_sampled and e in pk)]
        frames[0] = (frames[0][0], [e for e in suite.expectations if e not in every])
        if every:
            key_cols = list(dict.fromkeys(c for e in every for c in e.column_list))  # type: ignore[attr-defined]
            keys, _ = read_rows(dt, scope, sample_rows=None, columns=key_cols)
            frames.append((to_frame(keys, contract), every))
    clock["read"] = time.perf_counter()

    result = _run_gx(contract.name, suite, frames)
    clock["gx"] = time.perf_counter()
    run_name = f"{contract.name}-{mode}-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    batch_id = f"{mode}-v{'0' if since is None else since + 1}-v{scope.version}"
    stats = {
        **result.statistics, "mode": mode, **scope.describe(),
        "rows_validated": len(frames[0][0]), "sample_stride": stride,
        "rows_checked_for_uniqueness": _key_rows(frames, set_exps),
        "primary_key_sampled": key_sampled,
    }
    result.meta.update(run_id=RunIdentifier(run_name=run_name, run_time=now), validation_time=now,
                       maestro={k: v for k, v in stats.items() if k not in result.statistics})
    _redact(result)
    errors, warns = _failures(result)

    results_path = _write_json(result, Path(results_dir), now)
    clock["json"] = time.perf_counter()
    docs = None
    if build_docs:
        base = Path(results_dir).resolve().parent
        docs = publish(result, suite, gx_root=gx_root or base, docs_dir=docs_dir or base / "docs",
                       run_name=run_name, batch_identifier=batch_id)
    end = time.perf_counter()
    stats["seconds"] = {"read": round(clock["read"] - clock["start"], 3),
                        "gx": round(clock["gx"] - clock["read"], 3),
                        "docs": round(end - clock["json"], 3),
                        "total": round(end - clock["start"], 3)}
    return QualityResult(
        success=not errors, error_failed=errors, warn_failed=warns, statistics=stats,
        results_json_path=str(results_path), docs_path=docs.index_path if docs else None,
        docs_page_path=docs.page_path if docs else None, suite_name=suite.name,
        failed_rules=[f.rule for f in errors + warns],
    )


def _key_rows(frames: list, set_exps: list) -> int:
    """Rows the primary-key rule ran on (else the unique rules); 0 without set rules."""
    ran_on = {(e.meta or {}).get("rule"): len(f) for f, exps in frames for e in exps if e in set_exps}
    return ran_on.get("primary_key", next(iter(ran_on.values()), 0))


def _run_gx(dataset: str, suite: gx.ExpectationSuite, frames: list) -> ExpectationSuiteValidationResult:
    """Run each (frame, expectations) pair; merge into one result in suite order."""
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False}
    batch_def = ctx.data_sources.add_pandas("bronze").add_dataframe_asset(dataset) \
        .add_batch_definition_whole_dataframe("rows")
    results, metas = [], []
    for i, (frame, exps) in enumerate(frames):
        if not exps:
            continue
        part = gx.ExpectationSuite(name=f"{suite.name}#{i}", expectations=[e.copy() for e in exps])
        with _no_fingerprint():  # GX loads the batch data lazily, inside validate()
            batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
            out = batch.validate(part, result_format=RESULT_FORMAT)
        results += out.results
        metas.append(out.meta)
    order = {e.meta["rule"]: i for i, e in enumerate(suite.expectations)}
    results.sort(key=lambda r: order.get((r.expectation_config.meta or {}).get("rule"), len(order)))
    evaluated = len(results)
    ok = sum(1 for r in results if r.success)
    return ExpectationSuiteValidationResult(
        success=ok == evaluated, results=results, suite_name=suite.name,
        statistics={"evaluated_expectations": evaluated, "successful_expectations": ok,
                    "unsuccessful_expectations": evaluated - ok,
                    "success_percent": 100.0 * ok / evaluated if evaluated else None},
        meta={**metas[0], "batch_parameters": {"dataframe": "<bronze rows>"}} if metas else {},
    )


@contextmanager
def _no_fingerprint() -> Iterator[None]:
    """Skip GX's pandas batch fingerprint while a batch is loaded.

    GX hashes every cell of a pandas batch smaller than ``HASH_THRESHOLD`` bytes to put a
    fingerprint in the batch markers: about a second per million bronze rows, as much as the checks
    themselves. The batch is identified by the table's version range instead (``meta.maestro``).
    If a GX release drops the constant, this does nothing.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    old = getattr(engine, "HASH_THRESHOLD", None)
    if old is None:
        yield
        return
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = old


def _redact(result: ExpectationSuiteValidationResult) -> None:
    """Drop example values from results of expectations on classified columns."""
    for r in result.results:
        if (r.expectation_config.meta or {}).get("values_redacted") and r.result:
            for key in _VALUE_KEYS:
                r.result.pop(key, None)


def _failures(
    result: ExpectationSuiteValidationResult,
) -> tuple[list[FailedExpectation], list[FailedExpectation]]:
    errors: list[FailedExpectation] = []
    warns: list[FailedExpectation] = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        meta, res = cfg.meta or {}, r.result or {}
        kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format")}
        exc = (r.exception_info or {}).get("exception_message") if r.exception_info else None
        failed = FailedExpectation(
            rule=meta.get("rule", cfg.type), severity=meta.get("severity", "error"),
            expectation_type=cfg.type, column=kwargs.get("column"), kwargs=kwargs,
            reason_codes=list(meta.get("reason_codes", [])),
            unexpected_count=res.get("unexpected_count"), unexpected_percent=res.get("unexpected_percent"),
            element_count=res.get("element_count"),
            observed_value=_jsonable(res.get("observed_value")), exception=exc,
        )
        (warns if failed.severity == "warn" else errors).append(failed)
    return errors, warns


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def _write_json(result: ExpectationSuiteValidationResult, folder: Path, now: datetime) -> Path:
    """Write GX's JSON of ``result`` atomically to ``<folder>/<UTC timestamp>.json``."""
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    tmp = path.with_suffix(".json.tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(result.to_json_dict(), indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        raise QualityStoreError(f"could not write the validation result to {path}: {err}") from err
    return path
