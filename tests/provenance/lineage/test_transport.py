"""The ledger transport appends value-free events to a real ledger, and forwards when told to."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from openlineage.client import OpenLineageClient

from provenance.exceptions import LedgerBusyError
from provenance.ledger import Ledger
from provenance.lineage import (
    LedgerTransport,
    LedgerTransportConfig,
    LineageIndex,
    asset_event,
    ingest_event,
    redact_event,
    to_ledger_entry,
    validate_event,
)
from provenance.lineage.entry import parse_entry
from provenance.lineage.exceptions import EventInvalidError, LineageConfigError
from provenance.lineage.server import create_app
from provenance.lineage.server_config import LineageServerConfig
from provenance.lineage.transport import append_entry
from provenance.lineage.validate import event_dict

from .lineage_helpers import (
    AUDIENCE,
    ISSUER,
    Ingested,
    TokenKeys,
    dagster_run,
    ledger_bytes,
    serve,
)


def _transport(ledger: Path, spec_dir: Path, **extra: Any) -> LedgerTransport:
    return LedgerTransport(
        LedgerTransportConfig.from_dict(
            {"ledger_dir": str(ledger), "spec_dir": str(spec_dir), **extra}
        )
    )


def _ingest_doc(ingested: Ingested, kind: str = "COMPLETE", **kw: Any) -> dict[str, Any]:
    return event_dict(
        ingest_event(
            kind,
            run=dagster_run("ingest.customers"),
            contract=ingested.contract,
            bronze_uri=ingested.bronze_uri,
            quarantine_uri=ingested.quarantine_uri,
            results=[ingested.result],
            checks=ingested.checks,
            **kw,
        )
    )


def _with_values(doc: dict[str, Any], values: list[str]) -> dict[str, Any]:
    """The event as a careless producer might send it: row values in every facet that can hold
    them (all still valid OpenLineage)."""
    doc = copy.deepcopy(doc)
    p = {"_producer": "https://example.com/producer", "_schemaURL": "https://example.com/s.json"}
    out = doc["outputs"][0]
    out["facets"]["dataQualityMetrics"] = {
        **p,
        "rowCount": 200,
        "columnMetrics": {
            "credit_limit": {
                "nullCount": 0,
                "min": 252400.0,
                "max": 3400.0,
                "quantiles": {"0.5": 1200.0},
            }
        },
    }
    out["facets"]["dataQualityAssertions"]["assertions"].append(
        {
            "assertion": "pattern",
            "success": False,
            "column": "email",
            "expected": values[0],
            "content": f"email = '{values[1]}'",
            "actual": values[2],
            "params": {"sample": values[3]},
        }
    )
    out.setdefault("outputFacets", {})["subset"] = {
        **p,
        "outputCondition": {
            "type": "compare",
            "comparison": "EQUAL",
            "left": {"type": "field", "field": "email"},
            "right": {"type": "literal", "value": values[4]},
        },
    }
    out["facets"]["vendor_rowSample"] = {**p, "rows": values[5:8]}
    doc["inputs"][0]["facets"]["dataSource"]["uri"] += f"?api_key={values[8]}"
    doc["job"]["facets"]["sql"] = {**p, "query": f"select * from t where email = '{values[9]}'"}
    doc["run"]["facets"]["errorMessage"] = {
        **p,
        "message": f"bad value {values[10]}",
        "programmingLanguage": "python",
        "stackTrace": f"Traceback ... {values[11]}",
    }
    doc["run"]["facets"]["environmentVariables"] = {
        **p,
        "environmentVariables": [{"name": "X", "value": values[12]}],
    }
    doc["run"]["facets"]["extractionError"] = {
        **p,
        "totalTasks": 1,
        "failedTasks": 1,
        "errors": [{"errorMessage": values[13], "task": f"insert '{values[14]}'"}],
    }
    doc["columnLineageLiteral"] = values[15]  # an unknown top-level key
    return doc


def test_events_are_appended_as_canonical_json_and_their_indexes_returned(
    ingested: Ingested, spec_dir: Path, tmp_path: Path
) -> None:
    transport = _transport(tmp_path / "ledger", spec_dir)
    start = _ingest_doc(ingested, "START")
    complete = _ingest_doc(ingested)
    assert [transport.emit(start), transport.emit(complete)] == [0, 1]
    assert transport.indexes == [0, 1]
    with Ledger.open(tmp_path / "ledger", read_only=True) as ledger:
        assert ledger.size == 2
        entry = ledger.entry(1)
        assert ledger.verify().ok
    assert entry == to_ledger_entry(complete)
    assert (
        entry
        == json.dumps(
            json.loads(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    stored = parse_entry(entry)
    assert stored == redact_event(complete)
    assert validate_event(stored, spec_dir=spec_dir).ok  # the reduced event is still valid
    bronze = next(o for o in stored["outputs"] if o["name"] == ingested.bronze_uri)
    assert {
        "schema",
        "columnLineage",
        "dataQualityAssertions",
        "maestro_contractVersion",
        "maestro_sourceManifest",
        "maestro_deltaTable",
        "version",
    } <= set(bronze["facets"])


def test_no_row_value_ever_reaches_the_ledger_files(
    ingested: Ingested, spec_dir: Path, tmp_path: Path, sample_emails: list[str]
) -> None:
    ledger = tmp_path / "ledger"
    transport = _transport(ledger, spec_dir)
    careless = _with_values(_ingest_doc(ingested), sample_emails[:16])
    assert validate_event(careless, spec_dir=spec_dir).ok
    transport.emit(careless)
    try:
        raise ValueError(f"cannot parse {sample_emails[20]!r}")
    except ValueError as err:
        transport.emit(_ingest_doc(ingested, "FAIL", error=err))
    transport.emit(_ingest_doc(ingested))
    stored = ledger_bytes(ledger)
    assert b"customers" in stored  # the ledger holds the events ...
    leaked = [e for e in sample_emails if e.encode() in stored]
    assert leaked == []  # ... and none of the 200+ e-mail addresses of the sample
    entries = [parse_entry(e) for e in _entries(ledger)]
    assert entries[1]["run"]["facets"]["errorMessage"]["message"].startswith("redacted sha256:")
    assert "stackTrace" not in entries[1]["run"]["facets"]["errorMessage"]
    metrics = entries[0]["outputs"][0]["facets"]["dataQualityMetrics"]["columnMetrics"]
    assert metrics == {"credit_limit": {"nullCount": 0}}  # min, max, quantiles are values
    assert "subset" not in entries[0]["outputs"][0].get("outputFacets", {})
    assert "sql" not in entries[0]["job"]["facets"]
    assert all(validate_event(e, spec_dir=spec_dir).ok for e in entries)


def _entries(ledger: Path) -> list[bytes]:
    with Ledger.open(ledger, read_only=True) as opened:
        return [opened.entry(i) for i in range(opened.size)]


def test_an_invalid_event_raises_and_appends_nothing(spec_dir: Path, tmp_path: Path) -> None:
    transport = _transport(tmp_path / "ledger", spec_dir)
    transport.emit(asset_event("START", job_name="asset.catalog", run=dagster_run("asset.catalog")))
    bad = event_dict(
        asset_event("COMPLETE", job_name="asset.catalog", run=dagster_run("asset.catalog"))
    )
    bad["run"]["runId"] = "not-a-uuid"
    with pytest.raises(EventInvalidError, match=r"\$\.run\.runId"):
        transport.emit(bad)
    assert len(_entries(tmp_path / "ledger")) == 1 and transport.indexes == [0]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "ledger_dir"),
        ({"ledger_dir": "/l", "colour": "blue"}, "unknown field"),
        ({"ledger_dir": "/l", "forward_url": "ftp://marquez"}, "forward_url"),
        ({"ledger_dir": "/l", "lock_timeout_s": -1}, "lock_timeout_s"),
        ({"ledger_dir": "/l", "validate": "yes"}, "validate"),
        ({"ledger_dir": "/l", "forward_api_key": ""}, "forward_api_key"),
    ],
)
def test_a_bad_transport_config_fails_at_once_naming_the_field(
    config: dict[str, Any], field: str
) -> None:
    with pytest.raises(LineageConfigError, match=field):
        LedgerTransportConfig.from_dict(config)


def test_the_openlineage_client_builds_the_transport_from_its_config(
    spec_dir: Path, tmp_path: Path
) -> None:
    client = OpenLineageClient(
        config={
            "transport": {
                "type": "maestro_ledger",
                "ledger_dir": str(tmp_path / "ledger"),
                "spec_dir": str(spec_dir),
            }
        }
    )
    assert isinstance(client.transport, LedgerTransport)
    client.emit(asset_event("START", job_name="asset.catalog", run=dagster_run("asset.catalog")))
    assert client.transport.indexes == [0]
    index = LineageIndex.from_ledger(tmp_path / "ledger")
    assert index.size == 1


def test_a_transport_can_write_through_an_open_ledger(spec_dir: Path, tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger", key_dir=tmp_path / "keys") as ledger:
        transport = LedgerTransport(
            LedgerTransportConfig.from_dict(
                {"ledger_dir": str(tmp_path / "ledger"), "spec_dir": str(spec_dir)}
            ),
            ledger=ledger,
        )
        event = asset_event("START", job_name="asset.catalog", run=dagster_run("asset.catalog"))
        assert transport.emit(event) == 0
        assert ledger.size == 1


def test_appends_wait_for_another_writer_and_give_up_after_the_timeout(tmp_path: Path) -> None:
    ledger_dir = tmp_path / "ledger"
    holder = Ledger.open(ledger_dir)
    with pytest.raises(LedgerBusyError):
        append_entry(ledger_dir, b'{"x":1}', lock_timeout_s=0.2)
    threading.Timer(0.2, holder.close).start()
    assert append_entry(ledger_dir, b'{"x":2}', lock_timeout_s=30) == 0


@pytest.mark.network
def test_events_are_forwarded_to_an_openlineage_backend_with_a_bearer_token(
    spec_dir: Path, tmp_path: Path, token_keys: TokenKeys
) -> None:
    backend = LineageServerConfig.from_dict(
        {
            "ledger_dir": str(tmp_path / "backend"),
            "spec_dir": str(spec_dir),
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "public_key_pems": [token_keys.public_pem()],
        }
    )
    event = asset_event("START", job_name="asset.catalog", run=dagster_run("asset.catalog"))
    with serve(create_app(backend)) as url:
        transport = _transport(
            tmp_path / "ledger",
            spec_dir,
            forward_url=url,
            forward_api_key=token_keys.token(scope="lineage:write"),
        )
        assert transport.emit(event) == 0
        transport.close()
    assert transport.forward_failures == 0
    assert _entries(tmp_path / "ledger") == _entries(tmp_path / "backend")


@pytest.mark.network
def test_a_failed_forward_keeps_the_ledger_entry_and_is_counted(
    spec_dir: Path, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    event = asset_event("START", job_name="asset.catalog", run=dagster_run("asset.catalog"))
    transport = _transport(tmp_path / "ledger", spec_dir, forward_url=dead, forward_timeout_s=0.5)
    transport._forward.config.retry = {"total": 0}  # no retries in the test
    transport._forward.session = None  # rebuild the session with the new retry policy
    t0 = time.monotonic()
    assert transport.emit(event) == 0
    assert transport.forward_failures == 1 and time.monotonic() - t0 < 60
    strict = _transport(
        tmp_path / "ledger",
        spec_dir,
        forward_url=dead,
        forward_required=True,
        forward_timeout_s=0.5,
    )
    with pytest.raises(Exception):  # noqa: B017 - the HTTP client's own connection error
        strict.emit(event)
    assert len(_entries(tmp_path / "ledger")) == 2  # appended before forwarding
