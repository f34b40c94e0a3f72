"""Build a configured :class:`~connectors.base.Source` from its kind and options.

A factory keyed by kind (like OpenLineage's transport factory): adding a source kind means adding
one entry here. Configuration is validated at once; errors name the source and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.base import Source
from connectors.exceptions import SourceConfigError


def _csv(config: dict[str, Any], base_dir: Path) -> Source:
    from connectors.csv import CsvSource, CsvSourceConfig

    return CsvSource(CsvSourceConfig.from_dict(config), base_dir=base_dir)


def _file_drop(config: dict[str, Any], base_dir: Path) -> Source:
    from connectors.file_drop import FileDropConfig, FileDropSource

    return FileDropSource(FileDropConfig.from_dict(config), base_dir=base_dir)


def _http_pull(config: dict[str, Any], base_dir: Path, state_dir: Path) -> Source:
    from connectors.http_pull import CursorStore, HttpPullSource

    return HttpPullSource.from_dict(
        config,
        cursor_store=CursorStore(state_dir / "http_pull" / "cursors"),
        spool_dir=state_dir / "http_pull" / "spool" / config["name"],
    )


def _http_push(config: dict[str, Any], base_dir: Path) -> Source:
    from connectors.http_push.reader import PushSource

    return PushSource.from_dict(config, base_dir=base_dir)


def _s3(config: dict[str, Any], base_dir: Path) -> Source:
    from connectors.s3.source import S3Source

    # What was already ingested is the lake's record; the pipeline sets it before discovering.
    return S3Source.from_dict(config)


BUILDERS: dict[str, Callable[..., Source]] = {
    "s3": _s3,
    "csv": _csv,
    "file_drop": _file_drop,
    "http_pull": _http_pull,
    "http_push": _http_push,
}
NEEDS_STATE = {"http_pull"}


def build_source(
    kind: str, config: dict[str, Any], *, base_dir: str | Path = ".", state_dir: str | Path | None = None
) -> Source:
    """Return the source of ``kind`` configured by ``config`` (which holds name and dataset).

    Args:
        kind: one of :data:`BUILDERS`.
        config: the source's entry from the sources file (``name``, ``dataset`` and options).
        base_dir: what relative paths in ``config`` are relative to.
        state_dir: where stateful sources keep cursors and spools (required for those kinds).
    """
    try:
        builder = BUILDERS[kind]
    except KeyError as err:
        raise SourceConfigError(
            f"source {config.get('name', '?')!r}: unknown kind {kind!r} "
            f"(known: {', '.join(sorted(BUILDERS))})"
        ) from err
    if kind in NEEDS_STATE:
        if state_dir is None:
            raise SourceConfigError(f"source {config.get('name', '?')!r}: kind {kind} needs a state_dir")
        return builder(dict(config), Path(base_dir), Path(state_dir))
    return builder(dict(config), Path(base_dir))
