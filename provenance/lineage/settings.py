"""Where lineage finds the OpenLineage spec, the ledger and the repository.

Built from the platform's :class:`config.settings.Settings` (which alone reads the environment),
never from the environment directly. Defaults:

==================  ==========================================================================
setting             default
==================  ==========================================================================
``spec_dir``        ``settings.openlineage_spec_dir`` if the platform settings define it, else
                    ``<repo>/../shared/openlineage-spec``; when that folder is absent the
                    validator falls back to the vendored core schema (``spec/OpenLineage.json``)
``ledger_dir``      ``settings.ledger_dir``: beside the lake, ``$MAESTRO_HOME/ledger`` for a local
                    lake, the string ``<lake>/_ledger`` for an ``s3://`` lake (a path or URI)
``endpoint_url``    the lake's S3 endpoint (``settings.lake_endpoint_url()``) when the ledger is
                    on S3, else None (the AWS default chain, which reads ``AWS_ENDPOINT_URL``)
``key_dir``         ``$MAESTRO_KEYS_DIR/ledger`` (checkpoint signing key, outside the ledger)
``repo_root``       the repository root (for ``sourceCodeLocation`` job facets)
==================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.lineage.location import is_uri, open_ledger

if TYPE_CHECKING:
    from config.settings import Settings
    from provenance.ledger import Ledger

__all__ = ["DEFAULT_SPEC_DIR", "LineageSettings", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC_DIR = REPO_ROOT.parent / "shared" / "openlineage-spec"


@dataclass(frozen=True)
class LineageSettings:
    """Paths the lineage code needs; every field can be overridden when built."""

    spec_dir: Path = DEFAULT_SPEC_DIR
    ledger_dir: Path | str = REPO_ROOT / ".maestro" / "ledger"
    """A local directory (``Path``) or an ``s3://bucket/prefix`` URI (``str``)."""
    key_dir: Path = REPO_ROOT / ".maestro" / "keys" / "ledger"
    repo_root: Path = REPO_ROOT
    endpoint_url: str | None = None
    """S3-compatible endpoint of an ``s3://`` ledger; None: the AWS default chain's."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        spec_dir: Path | None = None,
        ledger_dir: Path | str | None = None,
        key_dir: Path | None = None,
    ) -> LineageSettings:
        """Derive lineage paths from the platform settings; keyword arguments override them."""
        configured = getattr(settings, "openlineage_spec_dir", None)
        default_spec = settings.repo_root.parent / "shared" / "openlineage-spec"
        raw = ledger_dir or getattr(settings, "ledger_dir", None) or settings.home / "ledger"
        # A URI stays a string (checked when the ledger is opened); a directory is a Path.
        ledger = raw.rstrip("/") if isinstance(raw, str) and is_uri(raw) else Path(raw)
        endpoint = getattr(settings, "lake_endpoint_url", None)
        return cls(
            spec_dir=Path(spec_dir or configured or default_spec),
            ledger_dir=ledger,
            key_dir=Path(key_dir or settings.keys_dir / "ledger"),
            repo_root=settings.repo_root,
            endpoint_url=endpoint() if isinstance(ledger, str) and callable(endpoint) else None,
        )

    def open_ledger(self, *, read_only: bool = False) -> Ledger:
        """Open the ledger (local or S3, with ``endpoint_url``) with this installation's key."""
        return open_ledger(
            self.ledger_dir, key_dir=self.key_dir, read_only=read_only, endpoint_url=self.endpoint_url
        )
