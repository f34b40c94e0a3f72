"""Source definitions: one YAML entry per source, bound to a dataset (contract) by name.

Ten CSV feeds are ten entries, not ten copies of code. Each entry has ``name``, ``kind`` (``csv``,
``file_drop``, ``s3``, ``http_pull``, ``http_push``), ``dataset`` and the kind's own options;
``${MAESTRO_HOME}``, ``${MAESTRO_LANDING}`` and ``${REPO_ROOT}`` are substituted, and relative
paths are taken from the repository root. Loading fails with the file, the entry and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import yaml

from config.settings import Settings

KINDS = ("csv", "file_drop", "s3", "http_pull", "http_push")


class SourcesConfigError(Exception):
    """The sources file is invalid; the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str
    dataset: str
    options: dict[str, Any]

    def as_config(self) -> dict[str, Any]:
        return {"name": self.name, "dataset": self.dataset, **self.options}


def _substitute(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return Template(value).safe_substitute(variables)
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    return value


def load_sources(settings: Settings, *, datasets: set[str] | None = None) -> list[SourceSpec]:
    """Read and check the sources file named by ``settings.sources_file``."""
    path = settings.sources_file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise SourcesConfigError(f"{path}: sources file not found (set MAESTRO_SOURCES)") from err
    except yaml.YAMLError as err:
        raise SourcesConfigError(f"{path}: not valid YAML: {err}") from err
    entries = raw.get("sources")
    if not isinstance(entries, list):
        raise SourcesConfigError(f"{path}: expected a top-level 'sources:' list")
    specs, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: sources[{i}]"
        if not isinstance(entry, dict):
            raise SourcesConfigError(f"{where}: expected a mapping")
        # A variable that is unset or empty leaves its option out (the kind's default applies).
        entry = {k: v for k, v in _substitute(entry, settings.variables()).items() if v != ""}
        missing = [k for k in ("name", "kind", "dataset") if not entry.get(k)]
        if missing:
            raise SourcesConfigError(f"{where}: missing {', '.join(missing)}")
        name, kind, dataset = entry.pop("name"), entry.pop("kind"), entry.pop("dataset")
        if kind not in KINDS:
            raise SourcesConfigError(f"{where} ({name}): kind {kind!r} is not one of {', '.join(KINDS)}")
        if name in seen:
            raise SourcesConfigError(f"{where}: source name {name!r} is used twice")
        if datasets is not None and dataset not in datasets:
            raise SourcesConfigError(
                f"{where} ({name}): dataset {dataset!r} has no contract in {settings.contracts_dir}"
            )
        seen.add(name)
        specs.append(SourceSpec(name=name, kind=kind, dataset=dataset, options=entry))
    return specs


def resolve_path(settings: Settings, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else settings.repo_root / p
