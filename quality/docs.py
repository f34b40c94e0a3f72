"""Render validation results as Great Expectations Data Docs, with GX's own site builder.

A file-backed GX context lives in a folder this package owns (``<lake>/_quality/gx/``): it holds the
compiled suites (``gx/expectations/``) and the stored validation results
(``gx/uncommitted/validations/``). Its one Data Docs site, ``maestro``, is written to a folder of
the caller's choice (``<lake>/_quality/docs/`` by default); its ``index.html`` lists every suite and
the newest :data:`quality.site.INDEX_LIMIT` validations. Only the new validation's page and the
index are rebuilt per call (plus the suite's page when the suite changed), and the index reads each
listed validation's outcome from a small summaries file instead of the stored result, so the cost
does not grow with the number of pages or validations. The site is GX's own, configured with the
classes of :mod:`quality.site` (compiled templates cached on disk, static assets copied once per
GX version, the summaries): see there for what each saves.

Validations of several datasets may publish at the same time (Dagster runs checks in parallel);
the context folder is guarded by an exclusive file lock for the ~0.1 s a publish takes. The context
and site need local folders: for an object-store lake, pass local folders (or sync the docs folder
to a bucket afterwards).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from quality.exceptions import QualityStoreError
from quality.site import INDEX_LIMIT, record_summary, site_config

SITE_NAME = "maestro"
__all__ = ["INDEX_LIMIT", "SITE_NAME", "PublishedDocs", "publish"]


@dataclass(frozen=True)
class PublishedDocs:
    index_path: str
    """The site's ``index.html`` (link this from asset metadata)."""
    page_path: str | None
    """This validation's own page, when GX reports it."""


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _context(gx_root: Path, docs_dir: Path) -> Any:
    """The file context under ``gx_root`` with exactly one site, ``maestro``, at ``docs_dir``."""
    ctx = gx.get_context(mode="file", project_root_dir=str(gx_root))
    site = site_config(Path(ctx.root_directory), docs_dir)
    sites = ctx.list_data_docs_sites()
    for name in [n for n in sites if n != SITE_NAME]:
        ctx.delete_data_docs_site(name)  # the scaffold's local_site: one site, one place
    if SITE_NAME not in sites:
        ctx.add_data_docs_site(SITE_NAME, site)
    elif sites[SITE_NAME] != site:
        ctx.update_data_docs_site(SITE_NAME, site)
    ctx.variables.progress_bars = {"globally": False}
    return ctx


def publish(
    result: ExpectationSuiteValidationResult,
    suite: gx.ExpectationSuite,
    *,
    gx_root: str | os.PathLike[str],
    docs_dir: str | os.PathLike[str],
    run_name: str,
    batch_identifier: str,
) -> PublishedDocs:
    """Store ``result`` in the context at ``gx_root`` and rebuild its Data Docs pages.

    Raises:
        QualityStoreError: the context, the stores or the site could not be written.
    """
    root, docs = Path(gx_root), Path(docs_dir)
    run_time = result.meta.get("validation_time")
    suite_id = ExpectationSuiteIdentifier(name=suite.name)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=suite_id,
        run_id=RunIdentifier(run_name=run_name, run_time=run_time),
        batch_identifier=batch_identifier,
    )
    try:
        with _locked(root):
            ctx = _context(root, docs)
            resources: list[Any] = [key]
            marker = root / "gx" / "suite_fingerprints" / f"{suite.name}.sha256"
            fingerprint = _fingerprint(suite)
            suite_page = ctx.get_docs_sites_urls(resource_identifier=suite_id, site_name=SITE_NAME)
            if not marker.is_file() or marker.read_text() != fingerprint or not suite_page:
                # The suite changed (or its page is missing): store it and re-render its page.
                ctx.suites.add_or_update(gx.ExpectationSuite(**_suite_kwargs(suite)))
                resources.append(suite_id)
            ctx.validation_results_store.set(key, result)
            record_summary(Path(ctx.root_directory), key, result)  # the index reads this, not the store
            ctx.build_data_docs(site_names=[SITE_NAME], resource_identifiers=resources)
            _add_static_listing(docs)
            urls = ctx.get_docs_sites_urls(resource_identifier=key, site_name=SITE_NAME)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(fingerprint)
    except QualityStoreError:
        raise
    except Exception as err:  # GX raises many types for file and config problems
        raise QualityStoreError(
            f"could not write Data Docs for suite {suite.name} under {root} / {docs}: {err}"
        ) from err
    page = urls[0].get("site_url") if urls else None
    return PublishedDocs(str(docs.resolve() / "index.html"), page.removeprefix("file://") if page else None)


_LISTING_START, _LISTING_END = "<!-- maestro:static-listing -->", "<!-- /maestro:static-listing -->"


def _add_static_listing(docs: Path) -> None:
    """Put plain links to every suite and validation page at the top of ``index.html``.

    GX fills its index tables with JavaScript and styles pages from CDNs; offline (air-gapped
    deployments, this project's CI) the index would otherwise show empty tables. The pages
    themselves are static HTML and read fine unstyled.
    """
    import html

    index = docs / "index.html"
    if not index.is_file():
        return
    text = index.read_text(encoding="utf-8")
    if _LISTING_START in text:
        text = text[: text.index(_LISTING_START)] + text[text.index(_LISTING_END) + len(_LISTING_END) :]
    sections = []
    for title, folder in (
        ("Validation results (newest first)", "validations"),
        ("Expectation suites", "expectations"),
    ):
        pages = sorted((docs / folder).rglob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)[:200]
        links = [(str(p.relative_to(docs)), str(p.relative_to(docs / folder))) for p in pages]
        items = "".join(f'<li><a href="{html.escape(h)}">{html.escape(t)}</a></li>' for h, t in links)
        sections.append(f"<h3>{title}</h3><ul>{items or '<li>none yet</li>'}</ul>")
    block = f'{_LISTING_START}<div style="margin:1em">{"".join(sections)}</div>{_LISTING_END}'
    marker = text.find("<body")
    if marker == -1:
        return
    insert_at = text.index(">", marker) + 1
    tmp = index.with_name(index.name + ".tmp")
    tmp.write_text(text[:insert_at] + block + text[insert_at:], encoding="utf-8")
    tmp.replace(index)


def _fingerprint(suite: gx.ExpectationSuite) -> str:
    """A digest of the suite's content (name, meta, expectations), independent of stored ids."""
    body = {
        "name": suite.name,
        "meta": suite.meta,
        "expectations": [e.configuration.to_json_dict() for e in suite.expectations],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _suite_kwargs(suite: gx.ExpectationSuite) -> dict[str, Any]:
    """A fresh, unbound copy of ``suite`` (the caller's object stays free of the file context)."""
    return {
        "name": suite.name,
        "meta": dict(suite.meta or {}),
        "expectations": [e.copy(deep=True) for e in suite.expectations],
    }
