"""The Data Docs site's GX classes: GX's own site builder, index builder and views, minus the work
that made every publish cost ~0.5-1 s in a fresh process and grow with the number of validations.

GX's extension points are its site configuration (``module_name``/``class_name`` of the site
builder, the index builder and the views); :func:`site_config` names the classes below, so the
pages are GX's own renderers and templates, unchanged:

- :class:`CachedPageView`, :class:`CachedIndexPageView`: GX compiles its Jinja templates anew in
  every process (~0.3 s). These views give the Jinja environment a bytecode cache under
  ``<gx_root>/gx/uncommitted/jinja_bytecode/``, so only the first publish into a context compiles
  them. Jinja keys each entry by template name, source checksum and Python version: a GX upgrade
  cannot serve stale templates, and deleting the folder is always safe.
- :class:`MaestroSiteBuilder`: GX copies its static assets (CSS, fonts, images) into the site on
  every build, initialising Python's MIME tables to do so (~0.2 s per process). Copied once per GX
  version instead (marker file ``static/.maestro-assets-gx-<version>``).
- :class:`SummaryIndexBuilder`: GX's index shows each listed validation's outcome, and to get it
  deserialises the whole stored result — every one of the newest :data:`INDEX_LIMIT`, on every
  publish (~2 ms each in a warm process, ~0.2 s of schema warm-up in a fresh one): 500 stored
  validations would cost ~1 s per publish. The index builder reads the outcome (success, asset name,
  batch spec) from ``<gx_root>/gx/uncommitted/validation_summaries.json`` instead, which
  :func:`record_summary` fills as each result is stored; a result without a summary (stored
  before this file existed) is loaded from the store once and summarised.

Callers hold the context's file lock (:mod:`quality.docs`) around builds and summary writes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder, SiteBuilder
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import FileSystemBytecodeCache

INDEX_LIMIT = 500
BYTECODE_DIR = ("uncommitted", "jinja_bytecode")  # under the context's gx/ folder
SUMMARIES_FILE = ("uncommitted", "validation_summaries.json")


def site_config(gx_dir: Path, docs_dir: Path) -> dict[str, Any]:
    """The ``maestro`` site's configuration: GX's site with the classes of this module."""
    bytecode = str(gx_dir.resolve().joinpath(*BYTECODE_DIR))

    def view(cls: type) -> dict[str, Any]:
        return {"module_name": __name__, "class_name": cls.__name__, "bytecode_dir": bytecode}

    return {
        "module_name": __name__,
        "class_name": MaestroSiteBuilder.__name__,
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir.resolve()),
        },
        # The index lists only the newest validations; the JSON results under results_dir are the
        # complete record. No profiling section: nothing here profiles.
        "site_index_builder": {
            "module_name": __name__,
            "class_name": SummaryIndexBuilder.__name__,
            "validation_results_limit": INDEX_LIMIT,
            "view": view(CachedIndexPageView),
        },
        "site_section_builders": {
            "profiling": "None",
            "expectations": {"view": view(CachedPageView)},
            "validations": {"view": view(CachedPageView)},
        },
    }


class CachedPageView(DefaultJinjaPageView):
    """GX's page view (suite and validation pages) with compiled templates cached on disk."""

    def __init__(self, custom_styles_directory: str | None = None,
                 custom_views_directory: str | None = None, bytecode_dir: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _cache_bytecode(self.env, bytecode_dir)


class CachedIndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view with compiled templates cached on disk."""

    def __init__(self, custom_styles_directory: str | None = None,
                 custom_views_directory: str | None = None, bytecode_dir: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _cache_bytecode(self.env, bytecode_dir)


def _cache_bytecode(env: Any, bytecode_dir: str | None) -> None:
    if bytecode_dir:
        Path(bytecode_dir).mkdir(parents=True, exist_ok=True)
        env.bytecode_cache = FileSystemBytecodeCache(bytecode_dir)


class MaestroSiteBuilder(SiteBuilder):
    """GX's site builder, copying the static assets only when this GX version has not yet."""

    def build(self, resource_identifiers: Any = None, build_index: bool = True) -> Any:
        store = self.target_store
        base = Path(store.store_backends["static_assets"].full_base_directory)
        marker = base / "static" / f".maestro-assets-gx-{gx.__version__}"
        copy = store.copy_static_assets

        def copy_once(static_assets_source_dir: str | None = None) -> None:
            if static_assets_source_dir is not None:  # GX recursing into a sub-folder
                copy(static_assets_source_dir)
            elif not marker.is_file():
                copy()
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()  # last: an interrupted copy is redone

        store.copy_static_assets = copy_once  # type: ignore[method-assign]  # this build only
        try:
            return super().build(resource_identifiers, build_index=build_index)
        finally:
            del store.copy_static_assets


class SummaryIndexBuilder(DefaultSiteIndexBuilder):
    """GX's index builder, reading validation outcomes from the summaries file (module docstring)."""

    def build(self, skip_and_clean_missing: bool = True, build_index: bool = True) -> Any:
        real = self.data_context
        if not build_index or real.root_directory is None:
            return super().build(skip_and_clean_missing, build_index=build_index)
        summaries = _Summaries(Path(real.root_directory))
        self.data_context = cast(Any, _SummaryContext(real, summaries))
        try:
            return super().build(skip_and_clean_missing, build_index=build_index)
        finally:
            self.data_context = real
            summaries.save(keep_only_used=True)


def record_summary(gx_dir: Path, key: ValidationResultIdentifier,
                   result: ExpectationSuiteValidationResult) -> None:
    """Add ``result``'s outcome under ``key`` to the summaries the index reads."""
    summaries = _Summaries(gx_dir)
    summaries.put(key, result)
    summaries.save()


def _key(key: ValidationResultIdentifier) -> str:
    return "/".join(str(p) for p in key.to_tuple())


class _Summaries:
    """``validation_summaries.json``: validation key -> what GX's index shows of the result."""

    def __init__(self, gx_dir: Path) -> None:
        self.path = gx_dir.joinpath(*SUMMARIES_FILE)
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}  # missing or damaged: every result is loaded once and summarised again
        self.used: set[str] = set()
        self.changed = False

    def get(self, key: ValidationResultIdentifier) -> dict[str, Any] | None:
        k = _key(key)
        self.used.add(k)
        return self.data.get(k)

    def put(self, key: ValidationResultIdentifier, result: ExpectationSuiteValidationResult) -> None:
        meta = result.to_json_dict().get("meta") or {}
        k = _key(key)
        self.used.add(k)
        self.data[k] = {
            "success": result.success,
            "meta": {m: meta[m] for m in ("batch_kwargs", "batch_spec", "active_batch_definition")
                     if m in meta},
        }
        self.changed = True

    def save(self, *, keep_only_used: bool = False) -> None:
        if keep_only_used and set(self.data) - self.used:  # results no longer listed: drop them
            self.data = {k: v for k, v in self.data.items() if k in self.used}
            self.changed = True
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, default=str), encoding="utf-8")
        os.replace(tmp, self.path)
        self.changed = False


class _SummaryContext:
    """The real context, except that validation results come from the summaries when known."""

    def __init__(self, real: Any, summaries: _Summaries) -> None:
        self._real = real
        self._summaries = summaries

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def get_validation_result(self, expectation_suite_name: str, run_id: Any = None,
                              batch_identifier: str | None = None, **kwargs: Any) -> Any:
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=expectation_suite_name),
            run_id=run_id, batch_identifier=batch_identifier,
        )
        known = self._summaries.get(key)
        if known is not None:
            return ExpectationSuiteValidationResult(
                success=known["success"], results=[], suite_name=expectation_suite_name,
                meta=dict(known["meta"]),
            )
        result = self._real.get_validation_result(
            expectation_suite_name, run_id=run_id, batch_identifier=batch_identifier, **kwargs
        )
        if isinstance(result, ExpectationSuiteValidationResult):
            self._summaries.put(key, result)
        return result
