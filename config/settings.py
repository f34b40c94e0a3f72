"""Run-time settings: read from the environment in this one place, never at import.

Every setting has an embedded default so the platform runs on one laptop with no configuration:
a local-disk lake, SQLite Dagster storage and a DuckDB catalog, all under ``MAESTRO_HOME``.

==========================  ====================================================================
variable                    meaning (default)
==========================  ====================================================================
``MAESTRO_HOME``            working folder for lake, landing, state, catalog (``<repo>/.maestro``)
``MAESTRO_LAKE_URI``        lake root: a folder or ``s3://bucket/prefix`` (``$MAESTRO_HOME/lake``)
``MAESTRO_CATALOG_PATH``    the analysts' DuckDB file (``$MAESTRO_HOME/catalog.duckdb``)
``MAESTRO_SOURCES``         source definitions YAML (``<repo>/config/sources.yaml``)
``MAESTRO_CONTRACTS_DIR``   contract folder (``<repo>/contracts/datasets``)
``MAESTRO_KEYS_DIR``        signing and encryption keys, kept outside the lake (``$MAESTRO_HOME/keys``)
``MAESTRO_OPENLINEAGE_SPEC`` OpenLineage JSON schemas events are validated against
                            (``<repo>/../shared/openlineage-spec``)
``MAESTRO_LAKE_ENDPOINT_URL`` S3-compatible endpoint of an ``s3://`` lake (else ``AWS_ENDPOINT_URL``)
``AWS_*``                   credentials and region for an ``s3://`` lake and S3 sources
==========================  ====================================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    home: Path
    lake_uri: str
    catalog_path: Path
    sources_file: Path
    contracts_dir: Path
    keys_dir: Path
    openlineage_spec_dir: Path = REPO_ROOT.parent / "shared" / "openlineage-spec"
    repo_root: Path = REPO_ROOT
    environment: tuple[tuple[str, str], ...] = ()
    """``MAESTRO_*`` variables seen at start, available as ``${NAME}`` in the sources file."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("MAESTRO_HOME") or REPO_ROOT / ".maestro").resolve()
        return cls(
            home=home,
            lake_uri=env.get("MAESTRO_LAKE_URI") or str(home / "lake"),
            catalog_path=Path(env.get("MAESTRO_CATALOG_PATH") or home / "catalog.duckdb").resolve(),
            sources_file=Path(env.get("MAESTRO_SOURCES") or REPO_ROOT / "config" / "sources.yaml"),
            contracts_dir=Path(env.get("MAESTRO_CONTRACTS_DIR") or REPO_ROOT / "contracts" / "datasets"),
            keys_dir=Path(env.get("MAESTRO_KEYS_DIR") or home / "keys").resolve(),
            openlineage_spec_dir=Path(
                env.get("MAESTRO_OPENLINEAGE_SPEC") or REPO_ROOT.parent / "shared" / "openlineage-spec"
            ),
            environment=tuple(sorted((k, v) for k, v in env.items() if k.startswith("MAESTRO_"))),
        )

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def ledger_dir(self) -> Path | str:
        """The provenance ledger, beside the lake: ``$MAESTRO_HOME/ledger`` for a local lake, the
        string ``<lake_uri>/_ledger`` for an ``s3://`` lake (a string: ``Path`` would fold ``//``)."""
        if self.lake_uri.startswith("s3://"):
            return f"{self.lake_uri.rstrip('/')}/_ledger"
        return self.home / "ledger"

    def lake_endpoint_url(self, env: Mapping[str, str] | None = None) -> str | None:
        """The S3-compatible endpoint of an ``s3://`` lake (and of the ledger beside it).

        ``MAESTRO_LAKE_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL``; None for a local lake or when
        neither is set (AWS itself). Clients must be given it explicitly: boto3 reads only
        ``AWS_ENDPOINT_URL`` on its own.
        """
        if not self.lake_uri.startswith("s3://"):
            return None
        env = os.environ if env is None else env
        endpoint = env.get("MAESTRO_LAKE_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL") or None
        return endpoint.rstrip("/") if endpoint else None

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def lake_storage_options(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Object-store options for an ``s3://`` lake (empty for a local one).

        Endpoint, region and credentials come from the usual AWS variables (``AWS_ENDPOINT_URL``,
        ``AWS_REGION``, ``AWS_ACCESS_KEY_ID`` ...); without explicit keys delta-rs uses the AWS
        default chain. Commits use S3 conditional put, never the unsafe-rename mode, so several
        writers can commit to one table safely (see ``connectors/s3/storage.py``).
        """
        if not self.lake_uri.startswith("s3://"):
            return {}
        from connectors.s3.storage import delta_storage_options

        env = os.environ if env is None else env
        endpoint = env.get("MAESTRO_LAKE_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL") or None
        return delta_storage_options(
            endpoint.rstrip("/") if endpoint else None,
            env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )

    def variables(self) -> dict[str, str]:
        """Values substituted for ``${NAME}`` in the sources file."""
        return {
            "MAESTRO_SAMPLE_API_URL": "http://127.0.0.1:8765",
            # Loopback unless set: set it to an empty value for AWS S3 itself.
            "MAESTRO_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            **dict(self.environment),
            "MAESTRO_HOME": str(self.home),
            "MAESTRO_LANDING": str(self.landing_dir),
            "REPO_ROOT": str(self.repo_root),
        }
