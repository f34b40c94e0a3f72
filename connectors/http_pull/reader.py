"""``HttpPullSource``: pull every page of a JSON/NDJSON/CSV API into a spool, then stream it.

Two ways to use it:

- Two steps (what the orchestration does, so the cursor moves only after the lake commit)::

      result = source.fetch(spool_dir)              # all pages -> one NDJSON spool file
      manifest = source.manifest(result)            # sha256/size known now
      for batch in read_spool(result.spool_path, batch_rows, columns=result.columns):
          ...                                       # enforce contract, commit to the lake
      cursor_store.set(source.name, result.new_cursor)   # only after the commit succeeded

- The :class:`~connectors.base.Source` interface: ``discover()`` returns one
  :class:`~connectors.base.SourceObject` describing the pull a run would do now (its ``uri`` is
  the URL with the cursor parameter; ``sha256`` is empty until read), and ``read(obj)`` fetches
  into ``spool_dir`` then yields the batches; ``source.last_result`` holds the
  :class:`PullResult` (with the manifest's sha256) once the first batch is out.

Neither path saves a cursor: see :mod:`connectors.http_pull.cursor` for the contract. A failing
pull raises before anything is returned and leaves no spool file behind.

The auth token is read from the environment variable named in ``auth.token_env`` when a pull
starts (never at import); pass ``environ`` to supply it from the settings layer.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from connectors.base import DEFAULT_BATCH_ROWS, Manifest, Source, SourceObject
from connectors.http_pull.client import RetryingClient, RetryPolicy
from connectors.http_pull.config import HttpPullConfig
from connectors.http_pull.cursor import CursorMax, CursorStore
from connectors.http_pull.exceptions import HttpPullConfigError, HttpPullUnreadableError
from connectors.http_pull.paginate import Page, PageRequest, make_paginator
from connectors.http_pull.records import get_path, parse_body
from connectors.http_pull.spool import SpoolWriter, read_spool

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class PullResult:
    """What one pull fetched. ``new_cursor`` is to be saved only after a successful commit."""

    source: str
    uri: str
    since: str | None
    new_cursor: str | None
    spool_path: Path
    sha256: str
    size: int
    records: int
    columns: tuple[str, ...]
    pages: int
    requests: int
    retries: int
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def source_object(self) -> SourceObject:
        """The manifest entry: same cursor and same bytes give the same manifest id."""
        return SourceObject(
            uri=self.uri,
            sha256=self.sha256,
            size=self.size,
            mtime=self.fetched_at,
            cursor=self.since,
        )


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

    def current_cursor(self) -> str | None:
        """The cursor the next pull starts from: the saved one, else the config's ``initial``."""
        inc = self.config.incremental
        if inc is None:
            return None
        saved = self.cursor_store.get(self.name) if self.cursor_store else None
        return saved if saved is not None else inc.initial

    def request_uri(self, since: str | None) -> str:
        """The base URL with the static params and the cursor parameter: the pull's identity."""
        return str(httpx.URL(self.config.url).copy_merge_params(self._base_params(since)))

    def _base_params(self, since: str | None) -> dict[str, str]:
        params = dict(self.config.params)
        if self.config.incremental and since is not None:
            params[self.config.incremental.param] = since
        return params

    # -- Source interface -------------------------------------------------------------------

    def discover(self) -> list[SourceObject]:
        """One object: the pull a run would do now (sha256 is known only after ``read``)."""
        since = self.current_cursor()
        return [SourceObject(uri=self.request_uri(since), sha256="", size=0, cursor=since)]

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
        since: str | None = None,
        full_refresh: bool = False,
    ) -> PullResult:
        """Read every page into a new spool file in ``spool_dir`` and describe it.

        Args:
            spool_dir: directory for the spool (default: the ``spool_dir`` given at construction).
            since: cursor to resume from (default: :meth:`current_cursor`).
            full_refresh: ignore any cursor and read everything.

        Raises:
            HttpPullUnavailableError: retries ran out (retryable); no spool is left behind.
            HttpPullUnreadableError: 3xx/4xx, a body that does not fit the config, a pagination
                loop (terminal).
            HttpPullConfigError: the token variable is not set.
        """
        directory = spool_dir if spool_dir is not None else self.spool_dir
        if directory is None:
            raise HttpPullConfigError(self.name, ["spool_dir: give fetch() a spool directory"])
        if full_refresh or self.config.incremental is None:
            since = None
        elif since is None:
            since = self.current_cursor()
        with self._client() as client, SpoolWriter(directory, source=self.name) as spool:
            pages, new_cursor = self._pull_pages(client, spool, since)
            spooled = spool.finish()
            stats = client.stats
        return PullResult(
            source=self.name,
            uri=self.request_uri(since),
            since=since,
            new_cursor=new_cursor,
            spool_path=spooled.path,
            sha256=spooled.sha256,
            size=spooled.size,
            records=spooled.records,
            columns=spooled.columns,
            pages=pages,
            requests=stats.requests,
            retries=stats.retries,
        )

    def _pull_pages(
        self, client: RetryingClient, spool: SpoolWriter, since: str | None
    ) -> tuple[int, str | None]:
        """Request page after page into ``spool``; return (pages, new cursor)."""
        cfg = self.config
        cursor_field = cfg.incremental.cursor_field if cfg.incremental else None
        tracker = CursorMax(since)
        paginator = make_paginator(cfg.pagination)
        request: PageRequest | None = paginator.first(cfg.url, self._base_params(since))
        seen: set[Any] = set()
        pages = 0
        while request is not None:
            shown = client.shown(str(httpx.URL(request.url).copy_merge_params(request.params)))
            if pages >= cfg.pagination.max_pages or request.key in seen:
                why = (
                    f"more than pagination.max_pages ({cfg.pagination.max_pages}) pages"
                    if pages >= cfg.pagination.max_pages
                    else "the API sent the same next page twice"
                )
                raise HttpPullUnreadableError(
                    source=self.name,
                    url=shown,
                    problem=f"pagination loop: {why}; check the pagination settings",
                )
            seen.add(request.key)
            response = client.get(request.url, params=request.params)
            pages += 1
            try:
                body, records = parse_body(
                    response.content,
                    charset=response.charset_encoding,
                    fmt=cfg.format,
                    record_path=cfg.record_path,
                )
                for record in records:
                    if cursor_field is not None:
                        tracker.update(get_path(record, cursor_field))
                    spool.write(record)
                request = paginator.next(request, self._page(response, len(records), body))
            except ValueError as err:  # BodyError, PaginationError, mixed cursor kinds
                raise HttpPullUnreadableError(
                    source=self.name,
                    url=shown,
                    problem=client.redact(str(err)),
                    status=response.status_code,
                ) from err
        return pages, (tracker.value if cursor_field is not None else None)

    @staticmethod
    def _page(response: httpx.Response, records: int, body: Any) -> Page:
        link = response.links.get("next", {}).get("url")
        return Page(
            url=str(response.request.url), records=records, body=body, next_link_header=link
        )

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
