"""A real S3 HTTP endpoint on loopback for tests and the demo: moto's ``ThreadedMotoServer``.

:func:`local_s3_server` starts the server on ``127.0.0.1`` on a port the OS picks (port 0, so two
servers never race for one port), yields a :class:`LocalS3` with the endpoint URL and dummy
credentials, and stops the server on exit. Everything talks to it over HTTP exactly as to AWS or
MinIO: boto3 with ``endpoint_url``, delta-rs with :meth:`LocalS3.delta_storage_options`.

By default the server is a thread of the calling process; ``separate_process=True`` runs it in a
spawned child instead (for callers that block on the network while holding the GIL).

Caveat: moto keeps its buckets in process-global memory, so in-process servers share buckets.
Give each test its own bucket name (:func:`unique_bucket`).

``moto`` is a development dependency; it is imported only when a server starts.

>>> with local_s3_server() as s3:                                       # doctest: +SKIP
...     s3.client().create_bucket(Bucket="demo-bucket")
...     S3Source(S3Config(..., endpoint_url=s3.endpoint_url), session=s3.session())
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.s3.storage import delta_storage_options

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True)
class LocalS3:
    """Where the local server listens and the (dummy) credentials it accepts."""

    endpoint_url: str
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def env(self) -> dict[str, str]:
        """Environment variables that point the AWS default chain (and the CLI) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def session(self) -> boto3.Session:
        """A boto3 session holding the dummy credentials (no environment needed)."""
        import boto3

        return boto3.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )

    def client(self) -> Any:
        """A boto3 S3 client for setting up fixtures, with short timeouts and bounded retries."""
        from botocore.config import Config

        config = Config(
            connect_timeout=2,
            read_timeout=10,
            retries={"total_max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"},
        )
        return self.session().client("s3", endpoint_url=self.endpoint_url, config=config)

    def delta_storage_options(self, **kwargs: Any) -> dict[str, str]:
        """delta-rs storage options for ``s3://`` tables on this server (see ``storage.py``)."""
        return delta_storage_options(
            self.endpoint_url,
            self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            **kwargs,
        )


def unique_bucket(prefix: str = "test") -> str:
    """A fresh valid bucket name, so tests sharing one server never see each other's objects."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextmanager
def local_s3_server(
    *, region: str = "us-east-1", quiet: bool = True, separate_process: bool = False
) -> Iterator[LocalS3]:
    """Run moto's S3 server on ``127.0.0.1`` (free port) for the duration of the block.

    Args:
        region: the region clients should sign for.
        quiet: silence the per-request access log werkzeug writes to stderr.
        separate_process: serve from a spawned child process instead of a thread of this one.
            Needed when this process calls something that blocks on the network while holding
            the GIL (``deltalake.DeltaTable.history()`` does): an in-process server thread could
            not answer and the call would hang until its timeout. Also gives the server its own
            buckets. Costs about a second to start.
    """
    if separate_process:
        with _server_process(quiet=quiet) as port:
            yield LocalS3(endpoint_url=f"http://127.0.0.1:{port}", region=region)
        return
    from moto.server import ThreadedMotoServer

    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield LocalS3(endpoint_url=f"http://{host}:{port}", region=region)
    finally:
        server.stop()


@contextmanager
def _server_process(*, quiet: bool, start_timeout_s: float = 60.0) -> Iterator[int]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(theirs, quiet), daemon=True, name="local-s3-server")
    proc.start()
    try:
        if not ours.poll(start_timeout_s):
            raise RuntimeError(f"local S3 server process did not start within {start_timeout_s} s")
        yield int(ours.recv())
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()  # only the process started above
            proc.join(timeout=5)


def _serve(conn: Any, quiet: bool) -> None:
    """Child process body: serve until the parent says stop (or goes away)."""
    with local_s3_server(quiet=quiet) as server:
        conn.send(int(server.endpoint_url.rsplit(":", 1)[1]))
        with contextlib.suppress(EOFError):
            conn.recv()
