"""Where lineage finds the OpenLineage spec, the ledger and the repository.

Built from the platform's :class:`config.settings.Settings` (which alone reads the environment),
never from the environment directly. Defaults:

==================  ==========================================================================
setting             default
==================  ==========================================================================
``spec_dir``        ``settings.openlineage_spec_dir`` if the platform settings define it, else
                    ``<repo>/../shared/openlineage-spec``; when that folder is absent the
                    validator falls back to the vendored core schema (``spec/OpenLineage.json``)
``ledger_dir``      ``$MAESTRO_HOME/ledger``
``key_dir``         ``$MAESTRO_KEYS_DIR/ledger`` (checkpoint signing key, outside the ledger)
``repo_root``       the repository root (for ``sourceCodeLocation`` job facets)
==================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["DEFAULT_SPEC_DIR", "LineageSettings", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC_DIR = REPO_ROOT.parent / "shared" / "openlineage-spec"


@dataclass(frozen=True)
class LineageSettings:
    """Paths the lineage code needs; every field can be overridden when built."""

    spec_dir: Path = DEFAULT_SPEC_DIR
    ledger_dir: Path = REPO_ROOT / ".maestro" / "ledger"
    key_dir: Path = REPO_ROOT / ".maestro" / "keys" / "ledger"
    repo_root: Path = REPO_ROOT

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        spec_dir: Path | None = None,
        ledger_dir: Path | None = None,
        key_dir: Path | None = None,
    ) -> LineageSettings:
        """Derive lineage paths from the platform settings; keyword arguments override them."""
        configured = getattr(settings, "openlineage_spec_dir", None)
        default_spec = settings.repo_root.parent / "shared" / "openlineage-spec"
        return cls(
            spec_dir=Path(spec_dir or configured or default_spec),
            ledger_dir=Path(ledger_dir or settings.home / "ledger"),
            key_dir=Path(key_dir or settings.keys_dir / "ledger"),
            repo_root=settings.repo_root,
        )
