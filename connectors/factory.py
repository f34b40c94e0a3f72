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


BUILDERS: dict[str, Callable[[dict[str, Any], Path], Source]] = {
    "csv": _csv,
    "file_drop": _file_drop,
}


def build_source(kind: str, config: dict[str, Any], *, base_dir: str | Path = ".") -> Source:
    """Return the source of ``kind`` configured by ``config`` (which holds name and dataset)."""
    try:
        builder = BUILDERS[kind]
    except KeyError as err:
        raise SourceConfigError(
            f"source {config.get('name', '?')!r}: unknown kind {kind!r} (known: {', '.join(sorted(BUILDERS))})"
        ) from err
    return builder(dict(config), Path(base_dir))
