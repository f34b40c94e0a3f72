"""The UI answers only its own names and its own pages: DNS rebinding and cross-site requests fail.

Against the real webserver that ``make ui`` starts (``maestro ui``): a browser tricked by DNS
rebinding sends ``Host: evil.example``; a page of another site posting to the UI carries its own
``Origin`` and ``Sec-Fetch-Site: cross-site``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.network]

QUERY = {"query": "{ version }"}


def _port(server: Any) -> int:
    return int(urlsplit(server.url).port or 0)


def test_a_request_for_another_host_name_is_refused(dagster_dev: Any) -> None:
    for host in ("evil.example", f"evil.example:{_port(dagster_dev)}", "127.0.0.1.nip.io"):
        resp = httpx.get(f"{dagster_dev.url}/server_info", headers={"Host": host}, timeout=10)
        assert resp.status_code == 400 and "Invalid host header" in resp.text, host
        resp = httpx.post(f"{dagster_dev.url}/graphql", json=QUERY, headers={"Host": host}, timeout=10)
        assert resp.status_code == 400, host


def test_the_loopback_names_and_the_bound_address_are_answered(dagster_dev: Any) -> None:
    for host in (f"127.0.0.1:{_port(dagster_dev)}", f"localhost:{_port(dagster_dev)}", "127.0.0.1"):
        resp = httpx.get(f"{dagster_dev.url}/server_info", headers={"Host": host}, timeout=10)
        assert resp.status_code == 200, (host, resp.text[:200])
    resp = httpx.post(f"{dagster_dev.url}/graphql", json=QUERY, timeout=10)
    assert resp.status_code == 200 and resp.json()["data"]["version"]


def test_a_page_of_another_site_cannot_post_to_the_ui(dagster_dev: Any) -> None:
    mutation = {"query": "mutation { setNuxSeen }"}
    cross = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    ]
    for headers in cross:
        resp = httpx.post(f"{dagster_dev.url}/graphql", params=mutation, headers=headers, timeout=10)
        assert resp.status_code == 403 and "refused" in resp.text, headers
    # The UI's own page posts with its own origin, and a link from elsewhere still opens the UI.
    own = {"Origin": dagster_dev.url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert httpx.post(f"{dagster_dev.url}/graphql", json=QUERY, headers=own, timeout=10).status_code == 200
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
    assert httpx.get(f"{dagster_dev.url}/assets", headers=link, timeout=10).status_code == 200
