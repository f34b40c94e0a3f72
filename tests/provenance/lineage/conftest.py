"""Fixtures: the OpenLineage spec folder, a real ingest of the sample customers, signing keys."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from contracts.loader import load_contracts
from lake.delta import Lake
from pipeline.checks import evaluate_checks
from pipeline.ingest import ingest_object

from .lineage_helpers import Ingested, TokenKeys, csv_source


@pytest.fixture(scope="session")
def spec_dir(shared_dir: Path) -> Path:
    path = shared_dir / "openlineage-spec"
    assert (path / "OpenLineage.json").is_file(), f"no OpenLineage spec at {path}"
    return path


@pytest.fixture(scope="session")
def sample_emails(repo_root: Path) -> list[str]:
    """Every e-mail address (a PII value) of the sample customers export."""
    with open(repo_root / "data" / "samples" / "customers.csv", newline="", encoding="utf-8") as f:
        return [row["email"] for row in csv.DictReader(f) if "@" in (row["email"] or "")]


@pytest.fixture(scope="module")
def ingested(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """data/samples/customers.csv ingested with pipeline.ingest.ingest_object into a tmp lake."""
    lake = Lake(root=str(tmp_path_factory.mktemp("lake")))
    contract = load_contracts()["customers"]
    source = csv_source(
        "crm_customers_csv", "customers", [str(repo_root / "data" / "samples" / "customers.csv")]
    )
    result = ingest_object(source, source.discover()[0], contract, lake)
    assert result.status == "committed", result.error
    c = result.counts
    checks = evaluate_checks(
        contract,
        lake.table_uri("bronze", "customers"),
        run_counts={
            "read": c.read,
            "valid": c.valid,
            "rejected": c.rejected,
            "duplicates": c.duplicates,
        },
    )
    return Ingested(lake, contract, result, checks)


@pytest.fixture(scope="session")
def token_keys() -> TokenKeys:
    return TokenKeys(ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate())
