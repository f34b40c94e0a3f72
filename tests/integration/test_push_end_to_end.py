"""A partner pushes over real HTTP; the push sensor turns the landed batch into a Dagster run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context

from config.sources import load_sources, resolve_path
from connectors.http_push.app import create_app
from connectors.http_push.config import PushConfig
from contracts.loader import load_contracts
from lake.delta import table_facts
from orchestration.definitions import build_definitions
from pipeline.run import lake_for
from sandbox.partner import (
    DEMO_AUDIENCE,
    DEMO_ISSUER,
    ensure_partner_keys,
    partner_binding,
    push_batch,
    sign_token,
)
from sandbox.servers import serve_app

pytestmark = [pytest.mark.network, pytest.mark.slow]
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "payments" / "payments_2026-11-03.csv"


def test_a_pushed_batch_lands_in_bronze_after_the_sensor_runs_and_bad_pushes_land_nothing(
    make_settings,
) -> None:  # noqa: ANN001
    settings = make_settings(
        [
            {
                "name": "psp_push",
                "kind": "http_push",
                "dataset": "payments",
                "landing_root": "${MAESTRO_LANDING}/push",
            }
        ]
    )
    landing = resolve_path(settings, str(load_sources(settings)[0].options["landing_root"]))
    keys = ensure_partner_keys(settings.keys_dir, "psp")
    other = ensure_partner_keys(settings.keys_dir, "crm-vendor")
    cfg = PushConfig.from_dict(
        {
            "landing_root": str(landing),
            "datasets": sorted(load_contracts()),
            "issuer": DEMO_ISSUER,
            "audience": DEMO_AUDIENCE,
            "partners": {**partner_binding(keys, ["payments"]), **partner_binding(other, ["customers"])},
            "algorithms": ["EdDSA"],
        }
    )
    with serve_app(create_app(cfg), limits=cfg.server) as url:
        # Refused: no token, a token without the payments scope, and another partner's key posing
        # as the payment provider or pushing to its dataset. Nothing lands.
        r = httpx.post(
            f"{url}/v1/datasets/payments/batches",
            content=SAMPLE.read_bytes(),
            headers={"Content-Type": "text/csv"},
            timeout=10,
        )
        assert r.status_code == 401
        refused = {
            403: [sign_token(keys, scopes=["push:orders"]), sign_token(other, scopes=["push:payments"])],
            401: [sign_token(other, subject="psp", scopes=["push:payments"])],
        }
        for status, tokens in refused.items():
            for bad in tokens:
                r = httpx.post(
                    f"{url}/v1/datasets/payments/batches",
                    content=SAMPLE.read_bytes(),
                    headers={"Content-Type": "text/csv", "Authorization": f"Bearer {bad}"},
                    timeout=10,
                )
                assert r.status_code == status, r.text
        assert (
            not list((landing / "payments" / "batches").glob("*.csv"))
            if (landing / "payments").exists()
            else True
        )

        token = sign_token(keys, scopes=["push:payments"])
        receipt = push_batch(url, token, "payments", SAMPLE.read_bytes(), idempotency_key="k-1")
        assert receipt["caller"] == "psp"
        retry = push_batch(url, token, "payments", SAMPLE.read_bytes(), idempotency_key="k-1")
        assert retry["batch_id"] == receipt["batch_id"]

    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("psp_push_sensor")
    with DagsterInstance.ephemeral() as instance:
        result = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        [request] = result.run_requests
        assert request.tags["maestro/batch"] == receipt["batch_id"]
        job = defs.resolve_implicit_global_asset_job_def()
        run = job.execute_in_process(
            instance=instance,
            run_config=request.run_config,
            asset_selection=[AssetKey(["bronze", "payments"]), AssetKey(["quarantine", "payments"])],
        )
        assert run.success
        # The batch is processed: a later tick requests nothing.
        assert not sensor.evaluate_tick(
            build_sensor_context(instance=instance, definitions=defs)
        ).run_requests

    lake = lake_for(settings)
    assert table_facts(lake.table_uri("bronze", "payments"))["rows"] == 36
    assert table_facts(lake.table_uri("quarantine", "payments"))["rows"] == 3
    assert list((landing / "payments" / "processed").glob(f"{receipt['batch_id']}*"))
