"""Pagination styles: given the request just made and the page it returned, the next request.

Every style stops on an empty page; ``cursor`` and ``next_link`` also stop when the response has
no next cursor / next URL. The reader bounds the number of pages (``pagination.max_pages``) and
refuses a request it already made, so a misbehaving API cannot make a pull loop forever.

- ``none``: one request.
- ``page_number``: ``?page=start, start+1, ...`` (plus the page size parameter when configured).
- ``offset``: ``?offset=0&limit=L``; the next offset adds the number of records *received*, so an
  API that caps the page size below ``limit`` loses nothing.
- ``keyset``: ``?updated_since=<cursor of the last record>&after_id=<its id>``: the records after
  the last one received in ``(cursor_field, id_field)`` order. Stable while the API changes: a
  position does not shift when records move, so nothing is skipped. Stops on a page with no
  record after the requested position (the reader computes ``Page.last``).
- ``cursor``: ``?cursor=<value at cursor_path in the previous body>``.
- ``next_link``: the URL at ``next_path`` in the body, or the ``Link: <...>; rel="next"``
  header; relative links resolve against the page's URL. Links to another origin are refused,
  since following them would send the auth header to a host the config does not name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from connectors.http_pull.config import (
    CursorPagination,
    IncrementalConfig,
    KeysetPagination,
    NextLinkPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
)
from connectors.http_pull.cursor import Cursor
from connectors.http_pull.records import get_path


class PaginationError(ValueError):
    """The API's pagination cannot be followed safely (other origin, bad cursor)."""


@dataclass(frozen=True)
class PageRequest:
    url: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.url, tuple(sorted(self.params.items()))


@dataclass(frozen=True)
class Page:
    """What a paginator may look at: the page's URL, record count, JSON body and Link header,
    and (keyset) the position of its last record after the requested one (``None``: none)."""

    url: str
    records: int
    body: Any = None
    next_link_header: str | None = None
    last: Cursor | None = None


class Paginator(ABC):
    @abstractmethod
    def first(self, url: str, params: dict[str, str]) -> PageRequest: ...

    @abstractmethod
    def next(self, request: PageRequest, page: Page) -> PageRequest | None: ...


class _Single(Paginator):
    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        return PageRequest(url, dict(params))

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        return None


class _PageNumber(Paginator):
    def __init__(self, cfg: PageNumberPagination) -> None:
        self.cfg = cfg

    def _at(self, url: str, params: dict[str, str], number: int) -> PageRequest:
        extra = {self.cfg.page_param: str(number)}
        if self.cfg.size_param:
            extra[self.cfg.size_param] = str(self.cfg.page_size)
        return PageRequest(url, {**params, **extra})

    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        return self._at(url, params, self.cfg.start)

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if page.records == 0:
            return None
        return self._at(request.url, request.params, int(request.params[self.cfg.page_param]) + 1)


class _Offset(Paginator):
    def __init__(self, cfg: OffsetPagination) -> None:
        self.cfg = cfg

    def _at(self, url: str, params: dict[str, str], offset: int) -> PageRequest:
        extra = {self.cfg.offset_param: str(offset), self.cfg.limit_param: str(self.cfg.limit)}
        return PageRequest(url, {**params, **extra})

    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        return self._at(url, params, self.cfg.start)

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if page.records == 0:
            return None
        return self._at(
            request.url, request.params, int(request.params[self.cfg.offset_param]) + page.records
        )


class _Keyset(Paginator):
    def __init__(self, cfg: KeysetPagination, incremental: IncrementalConfig) -> None:
        assert incremental.id_param is not None  # the config requires it for keyset
        self.cfg, self.param, self.id_param = cfg, incremental.param, incremental.id_param

    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        extra = {self.cfg.size_param: str(self.cfg.page_size)} if self.cfg.size_param else {}
        return PageRequest(url, {**params, **extra})

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if page.last is None or page.last.id is None:
            return None
        position = {self.param: page.last.value, self.id_param: page.last.id}
        return PageRequest(request.url, {**request.params, **position})


class _Cursor(Paginator):
    def __init__(self, cfg: CursorPagination) -> None:
        self.cfg = cfg

    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        extra = (
            {self.cfg.size_param: str(self.cfg.page_size)}
            if self.cfg.size_param and self.cfg.page_size
            else {}
        )
        return PageRequest(url, {**params, **extra})

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        value = get_path(page.body, self.cfg.cursor_path)
        if page.records == 0 or value is None or value == "":
            return None
        if isinstance(value, dict | list | bool):
            raise PaginationError(
                f"pagination.cursor_path {self.cfg.cursor_path!r} holds a {type(value).__name__}, "
                "not a cursor string"
            )
        return PageRequest(request.url, {**request.params, self.cfg.cursor_param: str(value)})


class _NextLink(Paginator):
    def __init__(self, cfg: NextLinkPagination) -> None:
        self.cfg = cfg
        self._origin: tuple[str, str] | None = None

    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        self._origin = _origin(url)
        return PageRequest(url, dict(params))

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if self.cfg.next_path is not None:
            link = get_path(page.body, self.cfg.next_path)
            if link is not None and not isinstance(link, str):
                raise PaginationError(
                    f"pagination.next_path {self.cfg.next_path!r} holds a "
                    f"{type(link).__name__}, not a URL"
                )
        else:
            link = page.next_link_header
        if page.records == 0 or not link:
            return None
        url = urljoin(page.url, link)
        if _origin(url) != self._origin:
            raise PaginationError(
                f"the next link points to another origin ({_origin(url)[1]}); refusing to send the "
                "credentials there. Point url at the API that serves every page."
            )
        # The link carries its own query (filters, page token): send it as is.
        return PageRequest(url, {})


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return parts.scheme, f"{parts.hostname or ''}:{port}"


def make_paginator(cfg: Pagination, incremental: IncrementalConfig | None = None) -> Paginator:
    """A fresh paginator for one pass of a pull (paginators hold per-pass state)."""
    if isinstance(cfg, KeysetPagination):
        if incremental is None or incremental.id_param is None:
            raise PaginationError("keyset pagination needs incremental.id_field and id_param")
        return _Keyset(cfg, incremental)
    if isinstance(cfg, NoPagination):
        return _Single()
    if isinstance(cfg, PageNumberPagination):
        return _PageNumber(cfg)
    if isinstance(cfg, OffsetPagination):
        return _Offset(cfg)
    if isinstance(cfg, CursorPagination):
        return _Cursor(cfg)
    return _NextLink(cfg)
