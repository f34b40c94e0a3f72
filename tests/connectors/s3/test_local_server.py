"""local_s3_server(): a real S3 endpoint on loopback that is gone once the block ends."""

from __future__ import annotations

import socket

import pytest

from connectors.s3.local_server import local_s3_server, unique_bucket

pytestmark = pytest.mark.network


def test_the_server_answers_s3_on_loopback_and_stops_on_exit() -> None:
    with local_s3_server() as server:
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        client = server.client()
        bucket = unique_bucket()
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="k.txt", Body=b"hello")
        assert client.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"hello"
        port = int(server.endpoint_url.rsplit(":", 1)[1])
        assert server.env()["AWS_ENDPOINT_URL"] == server.endpoint_url

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
