"""The demo's outside world on loopback: S3 with carrier files, the catalogue API, a push partner.

:func:`demo_environment` starts, for the duration of the block:

- an S3-compatible server (moto's server mode) holding the bucket ``carrier-events`` with the
  sample shipment files under ``shipments/`` — the ``s3`` source reads them;
- the sample catalogue API (bearer token from ``SAMPLE_API_TOKEN``) — the ``http_pull`` source;
- the push endpoint, to which a demo partner (its own Ed25519 key, bound in the endpoint's
  ``partners:`` section to the partner ``psp-demo`` and the ``payments`` dataset; a signed
  short-lived JWT) posts the sample payments batch — the ``http_push`` source ingests what landed.

It sets the variables the sources file refers to (``MAESTRO_SAMPLE_API_URL``,
``MAESTRO_S3_ENDPOINT_URL``, ``SAMPLE_API_TOKEN`` and the AWS ones) in this process only, and
restores them afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.settings import Settings
from config.sources import load_sources, resolve_path
from sandbox.partner import (
    DEMO_AUDIENCE,
    DEMO_ISSUER,
    PartnerKeys,
    ensure_partner_keys,
    partner_binding,
    push_batch,
    sign_token,
)
from sandbox.servers import serve_app

DEMO_BUCKET = "carrier-events"


@dataclass
class DemoEnvironment:
    s3_endpoint: str = ""
    api_url: str = ""
    push_url: str = ""
    receipts: list[dict[str, Any]] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)


@contextmanager
def _patched_env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _upload_shipments(client: Any, samples: Path) -> list[str]:
    client.create_bucket(Bucket=DEMO_BUCKET)
    keys = []
    for path in sorted((samples / "shipments").iterdir()):
        key = f"shipments/{path.name}"
        client.put_object(Bucket=DEMO_BUCKET, Key=key, Body=path.read_bytes())
        keys.append(f"s3://{DEMO_BUCKET}/{key}")
    return keys


#: What the demo partner (a payment service provider) may push.
DEMO_PARTNER_DATASETS = ["payments"]


def _push_config(settings: Settings, datasets: list[str], keys: PartnerKeys) -> Any:
    from connectors.http_push.config import PushConfig

    spec = next((s for s in load_sources(settings) if s.kind == "http_push"), None)
    landing = (
        resolve_path(settings, str(spec.options["landing_root"])) if spec else settings.landing_dir / "push"
    )
    return PushConfig.from_dict(
        {
            "landing_root": str(landing),
            "datasets": datasets,
            "issuer": DEMO_ISSUER,
            "audience": DEMO_AUDIENCE,
            "partners": partner_binding(keys, [d for d in DEMO_PARTNER_DATASETS if d in datasets]),
            "algorithms": ["EdDSA"],
        }
    )


@contextmanager
def demo_environment(
    settings: Settings, datasets: list[str], *, lake_bucket: str | None = None
) -> Iterator[DemoEnvironment]:
    """Start the loopback stand-ins, seed them with the samples, and yield where they are.

    Args:
        lake_bucket: also create this bucket on the S3 server, for an ``s3://`` lake there.
    """
    from connectors.http_pull.sample_api import create_app as sample_api
    from connectors.http_push.app import create_app as push_app
    from connectors.s3.local_server import local_s3_server

    samples = settings.repo_root / "data" / "samples"
    env = DemoEnvironment()
    token = secrets.token_urlsafe(24)
    with ExitStack() as stack:
        s3 = stack.enter_context(local_s3_server(separate_process=True))
        env.s3_endpoint = s3.endpoint_url
        env.uploaded = _upload_shipments(s3.client(), samples)
        if lake_bucket:
            s3.client().create_bucket(Bucket=lake_bucket)
        env.api_url = stack.enter_context(serve_app(sample_api(token=token)))
        keys = ensure_partner_keys(settings.keys_dir)
        push_config = _push_config(settings, datasets, keys)
        env.push_url = stack.enter_context(serve_app(push_app(push_config), limits=push_config.server))
        stack.enter_context(
            _patched_env(
                {
                    **s3.env(),
                    "MAESTRO_S3_ENDPOINT_URL": s3.endpoint_url,
                    "MAESTRO_SAMPLE_API_URL": env.api_url,
                    "SAMPLE_API_TOKEN": token,
                }
            )
        )
        jwt_token = sign_token(keys, scopes=["push:payments"])
        for path in sorted((samples / "payments").glob("*.csv")):
            body = path.read_bytes()
            env.receipts.append(
                push_batch(env.push_url, jwt_token, "payments", body, idempotency_key=f"demo-{path.name}")
            )
        yield env
