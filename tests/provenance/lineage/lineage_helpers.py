"""Test helpers: sample ingests, run contexts, JWT minting, a loopback server, ledger bytes."""

from __future__ import annotations

import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from connectors.csv.config import CsvSourceConfig
from connectors.csv.reader import CsvSource
from connectors.http_push.serving import ServerLimits
from contracts.model import Contract
from lake.delta import Lake
from pipeline.checks import CheckOutcome
from pipeline.ingest import IngestResult
from provenance.lineage import RunContext

from ...connectors.http_push.helpers import serve as serve_guarded

ISSUER = "https://idp.test.example"
AUDIENCE = "maestro-lineage"
DAGSTER_JOB = "__ASSET_JOB"


def csv_source(name: str, dataset: str, paths: list[str]) -> CsvSource:
    config = {
        "name": name,
        "dataset": dataset,
        "paths": paths,
        "options": {"null_values": ["", "NA"]},
    }
    return CsvSource(CsvSourceConfig.from_dict(config), base_dir=".")


@dataclass(frozen=True)
class Ingested:
    """One real ingest of a sample file into a tmp lake, with the contract checks after it."""

    lake: Lake
    contract: Contract
    result: IngestResult
    checks: list[CheckOutcome]

    @property
    def bronze_uri(self) -> str:
        return self.lake.table_uri("bronze", self.contract.name)

    @property
    def quarantine_uri(self) -> str:
        return self.lake.table_uri("quarantine", self.contract.name)


def dagster_run(job_name: str, dagster_run_id: str | None = None) -> RunContext:
    """The run of ``job_name`` inside a (new) Dagster run, as the asset wiring builds it."""
    return RunContext.for_dagster(
        dagster_run_id=dagster_run_id or str(uuid.uuid4()),
        dagster_job_name=DAGSTER_JOB,
        job_name=job_name,
    )


@dataclass(frozen=True)
class TokenKeys:
    """An Ed25519 signing key (its public PEM goes in the server config) and a foreign one."""

    key: ed25519.Ed25519PrivateKey
    other: ed25519.Ed25519PrivateKey

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def token(
        self,
        *,
        scope: str | None = "lineage:write lineage:read",
        foreign: bool = False,
        **claims: Any,
    ) -> str:
        """A bearer JWT; a claim passed as None is left out."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "producer-a",
            "iat": now,
            "exp": now + 300,
            "scope": scope,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.other if foreign else self.key, algorithm="EdDSA")


def serve(app: Any, limits: ServerLimits | None = None) -> AbstractContextManager[str]:
    """Run ``app`` as the servers run it (guarded protocol, shared limits) on a loopback port."""
    return serve_guarded(app, limits)


def ledger_bytes(ledger_dir: Path) -> bytes:
    """Every byte of every file under the ledger directory."""
    return b"".join(p.read_bytes() for p in sorted(ledger_dir.rglob("*")) if p.is_file())
