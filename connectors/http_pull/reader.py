"""``HttpPullSource``: pull every page of a JSON/NDJSON/CSV API into a spool, then stream it.

Two ways to use it:

- Two steps (what the pipeline does, so the cursor is recorded with the rows it covers)::

      result = source.fetch(spool_dir, since=committed)  # all pages -> one NDJSON spool file
      manifest = source.manifest(result)                 # sha256/size known now
      for batch in read_spool(result.spool_path, batch_rows, columns=result.columns):
          ...               # enforce the contract, commit to the lake with result.new_cursor

- The :class:`~connectors.base.Source` interface: ``discover()`` returns one
  :class:`~connectors.base.SourceObject` describing the pull a run would do now (its ``uri`` is
  the URL with the cursor parameters; ``sha256`` is empty until read), and ``read(obj)`` fetches
  into ``spool_dir`` then yields the batches; ``source.last_result`` holds the
  :class:`PullResult` (with the manifest's sha256) once the first batch is out.

Neither path saves a cursor: see :mod:`connectors.http_pull.cursor`. A failing pull raises before
anything is returned and leaves no spool file behind. A finished spool has a description beside
it (``<spool>.pull.json``, :meth:`PullResult.save`), so a pull killed before its commit can be
finished by the next run (:func:`connectors.http_pull.spool.leftover_pulls`).

Concurrent updates: ``keyset`` pagination is stable; ``page_number``/``offset`` are made safe by
re-reading the window until a pass finds nothing new (``reread_until_stable``); the config
refuses them for incremental pulls otherwise. See the package README.

The auth token is read from the environment variable named in ``auth.token_env`` when a pull
starts (never at import); pass ``environ`` to supply it from the settings layer.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from connectors.base import DEFAULT_BATCH_ROWS, Manifest, Source, SourceObject
from connectors.http_pull.client import RetryingClient, RetryPolicy
from connectors.http_pull.config import HttpPullConfig
from connectors.http_pull.cursor import Cursor, CursorStore
from connectors.http_pull.exceptions import HttpPullConfigError
from connectors.http_pull.result import PullResult
from connectors.http_pull.spool import SpoolWriter, read_spool
from connectors.http_pull.walk import PageWalk, base_params

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
_SAVED: Any = object()  # ``fetch(since=...)`` not given: start from the cursor store


class HttpPullSource(Source):
    """A configured HTTP pull. Keyword options are for wiring and tests.

    Args:
        config: the validated source config.
        cursor_store: where saved cursors are read from (``fetch`` never writes to it).
        spool_dir: where ``read()`` spools (default: ``<tmp>/maestro-http-pull/<name>``).
        environ: mapping to read the token variable from (default ``os.environ``, at pull time).
        sleep, rng, clock, transport: injected into the retrying client (tests).

    >>> src = HttpPullSource.from_dict({"name": "products_api", "dataset": "products",
    ...     "url": "http://127.0.0.1:8000/products", "auth": {"token_env": "PRODUCTS_TOKEN"}})
    >>> src.kind, src.name, src.dataset
    ('http_pull', 'products_api', 'products')
    """

    kind: ClassVar[str] = "http_pull"

    def __init__(
        self,
        config: HttpPullConfig,
        *,
        cursor_store: CursorStore | None = None,
        spool_dir: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name=config.name, dataset=config.dataset)
        self.config = config
        self.cursor_store = cursor_store
        self.spool_dir = Path(spool_dir) if spool_dir else None
        self.last_result: PullResult | None = None
        self._environ = environ
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._transport = transport

    @classmethod
    def from_dict(cls, data: dict[str, Any], **options: Any) -> HttpPullSource:
        return cls(HttpPullConfig.from_dict(data), **options)

    def __repr__(self) -> str:
        auth = self.config.auth.token_env if self.config.auth else None
        return f"HttpPullSource(name={self.name!r}, url={self.config.url!r}, auth_env={auth!r})"

    # -- cursor -----------------------------------------------------------------------------

    def current_cursor(self) -> Cursor | None:
        """The cursor the next pull starts from: the cached one, else the config's ``initial``.

        The pipeline does not use this: it starts from the cursor committed in the lake.
        """
        inc = self.config.incremental
        if inc is None:
            return None
        saved = self.cursor_store.get(self.name) if self.cursor_store else None
        return saved if saved is not None else self.initial_cursor()

    def initial_cursor(self) -> Cursor | None:
        """The config's ``incremental.initial`` (where a source with nothing committed starts)."""
        inc = self.config.incremental
        return Cursor(inc.initial) if inc is not None and inc.initial is not None else None

    def request_uri(self, since: Cursor | str | None) -> str:
        """The base URL with the static params and the cursor parameters: the pull's identity."""
        return str(httpx.URL(self.config.url).copy_merge_params(self._base_params(since)))

    def _base_params(self, since: Cursor | str | None) -> dict[str, str]:
        return base_params(self.config, Cursor.parse(since))

    # -- Source interface -------------------------------------------------------------------

    def discover(self) -> list[SourceObject]:
        """One object: the pull a run would do now (sha256 is known only after ``read``)."""
        since = self.current_cursor()
        text = since.text() if since else None
        return [SourceObject(uri=self.request_uri(since), sha256="", size=0, cursor=text)]

    def read(
        self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Fetch from ``obj.cursor`` into the spool, set ``last_result``, then stream batches."""
        spool_dir = self.spool_dir or Path(tempfile.gettempdir()) / "maestro-http-pull" / self.name
        result = self.fetch(spool_dir, since=obj.cursor, full_refresh=obj.cursor is None)
        self.last_result = result
        yield from read_spool(result.spool_path, batch_rows, columns=result.columns)

    def manifest(self, result: PullResult) -> Manifest:
        return Manifest(
            source=self.name,
            kind=self.kind,
            dataset=self.dataset,
            objects=(result.source_object(),),
        )

    # -- the pull ---------------------------------------------------------------------------

    def fetch(
        self,
        spool_dir: str | Path | None = None,
        *,
        since: Cursor | str | None = _SAVED,
        full_refresh: bool = False,
        sign_with: bytes | None = None,
    ) -> PullResult:
        """Read every page into a new spool file in ``spool_dir`` and describe it.

        Args:
            spool_dir: directory for the spool (default: the ``spool_dir`` given at construction).
            since: position to resume from; ``None`` means nothing is committed yet (start from
                the config's ``initial``); not given: :meth:`current_cursor` (the cache).
            full_refresh: ignore any cursor and read everything.
            sign_with: key of the HMAC on the spool's description (:meth:`PullResult.save`).

        Raises:
            HttpPullUnavailableError: retries ran out (retryable); no spool is left behind.
            HttpPullUnstableError: re-reads never settled (retryable); no spool is left behind.
            HttpPullUnreadableError: 3xx/4xx, a body that does not fit the config, records out
                of keyset order, a pagination loop (terminal).
            HttpPullConfigError: the token variable is not set.
        """
        directory = spool_dir if spool_dir is not None else self.spool_dir
        if directory is None:
            raise HttpPullConfigError(self.name, ["spool_dir: give fetch() a spool directory"])
        if full_refresh or self.config.incremental is None:
            start = None
        elif since is _SAVED:
            start = self.current_cursor()
        else:
            start = Cursor.parse(since) if since is not None else self.initial_cursor()
        warning = self.config.concurrency_warning()
        if warning:
            log.warning("%s", warning)
        with self._client() as client, SpoolWriter(directory, source=self.name) as spool:
            pull = PageWalk(self.config, client, spool, start)
            pull.run()
            spooled = spool.finish()
            stats = client.stats
        result = PullResult(
            source=self.name,
            uri=self.request_uri(start),
            since=start,
            new_cursor=pull.tracker.cursor if self.config.incremental else None,
            spool_path=spooled.path,
            sha256=spooled.sha256,
            size=spooled.size,
            records=spooled.records,
            columns=spooled.columns,
            pages=pull.pages,
            requests=stats.requests,
            retries=stats.retries,
            passes=pull.passes,
            skipped=pull.skipped,
        )
        result.save(key=sign_with)
        return result

    def _client(self) -> RetryingClient:
        cfg = self.config
        headers = dict(cfg.headers)
        secrets: list[str] = []
        if cfg.auth is not None:
            environ = self._environ if self._environ is not None else os.environ
            token = environ.get(cfg.auth.token_env, "")
            if not token:
                raise HttpPullConfigError(
                    self.name,
                    [
                        f"auth.token_env: environment variable {cfg.auth.token_env} is not set or "
                        "empty; export it with the API token"
                    ],
                )
            headers[cfg.auth.header] = f"{cfg.auth.scheme} {token}" if cfg.auth.scheme else token
            secrets.append(token)
        policy = RetryPolicy(
            max_retries=cfg.max_retries,
            backoff_base_s=cfg.backoff_base_s,
            backoff_max_s=cfg.backoff_max_s,
            retry_after_max_s=cfg.retry_after_max_s,
        )
        return RetryingClient(
            source=self.name,
            timeout_s=cfg.timeout_s,
            policy=policy,
            headers=headers,
            secrets=secrets,
            sleep=self._sleep,
            rng=self._rng,
            clock=self._clock,
            transport=self._transport,
        )
