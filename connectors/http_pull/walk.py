"""One pull's walk over the API's pages: every pass, every page, every record into the spool.

- ``keyset``: each record's position ``(cursor_field, id_field)`` must be after the position the
  request asked for — records at or before it (an API whose filter is inclusive) are skipped as
  already read — and strictly ascending within the pull; anything else means the API does not
  page the way the config says, which would skip records, so it is a terminal error.
- ``page_number``/``offset`` with ``reread_until_stable``: the window is read again, pass after
  pass, until a pass finds no record the earlier passes had not (records are identified by their
  content, so a new version is new). Why this is sound: a record that moves while a pass pages
  (an update gives it the newest cursor value) shifts the records after it, which may hide one of
  them from that pass; but its new version lands at the end of the order, which the same pass
  still reads, so that pass finds something new and another pass follows. A pass that finds
  nothing new saw no such move. ``max_passes`` bounds it (:class:`HttpPullUnstableError`).
  Deleting records during a pull can still hide one from every pass (a deletion leaves no new
  version behind): only keyset pagination is safe against that.
- With ``incremental.id_field``, records at or before the pull's starting position are skipped in
  every style, and every record with a cursor value needs an id.

Memory: one page at a time, plus (re-read passes only) a 16-byte digest per distinct record.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from connectors.http_pull.client import RetryingClient
from connectors.http_pull.config import (
    HttpPullConfig,
    KeysetPagination,
    OffsetPagination,
    PageNumberPagination,
)
from connectors.http_pull.cursor import Cursor, CursorMax
from connectors.http_pull.exceptions import HttpPullUnreadableError, HttpPullUnstableError
from connectors.http_pull.paginate import Page, PageRequest, make_paginator
from connectors.http_pull.records import BodyError, cell, get_path, parse_body, to_json
from connectors.http_pull.spool import SpoolWriter


class PageWalk:
    """Walk every page of one pull from ``start`` into ``spool``; counts are kept on the object."""

    def __init__(
        self, config: HttpPullConfig, client: RetryingClient, spool: SpoolWriter, start: Cursor | None
    ) -> None:
        self.cfg, self.client, self.spool, self.start = config, client, spool, start
        self.tracker = CursorMax(start)
        self.pages = self.passes = self.skipped = 0
        paging = config.pagination
        self.keyset = isinstance(paging, KeysetPagination)
        self.rereads = isinstance(paging, PageNumberPagination | OffsetPagination) and (
            paging.reread_until_stable
        )
        self._digests: set[bytes] | None = set() if self.rereads else None
        self._start_key = self._key_of(start) if start is not None else None

    def run(self) -> None:
        max_passes = getattr(self.cfg.pagination, "max_passes", 1) if self.rereads else 1
        for number in range(1, max_passes + 1):
            self.passes = number
            new, requests = self._one_pass()
            if not self.rereads or (number > 1 and new == 0) or (number == 1 and requests == 1):
                return  # one request is a consistent snapshot; a pass with nothing new settled it
        raise HttpPullUnstableError(
            source=self.cfg.name, url=self.client.shown(self.cfg.url), passes=max_passes
        )

    def _key_of(self, cursor: Cursor) -> tuple[Any, ...] | None:
        if self.cfg.incremental is None or self.cfg.incremental.id_field is None:
            return None
        return self.tracker.key(cursor.value, cursor.id)

    def _one_pass(self) -> tuple[int, int]:
        """Read the window once; return (records new to this pull, requests made)."""
        cfg = self.cfg
        paginator = make_paginator(cfg.pagination, cfg.incremental)
        request: PageRequest | None = paginator.first(cfg.url, base_params(cfg, self.start))
        asked = self._start_key  # the position the current request asks for (keyset)
        seen: set[Any] = set()
        new = requests = 0
        while request is not None:
            shown = self.client.shown(str(httpx.URL(request.url).copy_merge_params(request.params)))
            if requests >= cfg.pagination.max_pages or request.key in seen:
                why = (
                    f"more than pagination.max_pages ({cfg.pagination.max_pages}) pages"
                    if requests >= cfg.pagination.max_pages
                    else "the API sent the same next page twice"
                )
                raise HttpPullUnreadableError(
                    source=cfg.name,
                    url=shown,
                    problem=f"pagination loop: {why}; check the pagination settings",
                )
            seen.add(request.key)
            response = self.client.get(request.url, params=request.params)
            requests += 1
            self.pages += 1
            try:
                body, records = parse_body(
                    response.content,
                    charset=response.charset_encoding,
                    fmt=cfg.format,
                    record_path=cfg.record_path,
                )
                last, asked, added = self._take(records, asked)
                new += added
                request = paginator.next(request, _page(response, len(records), body, last))
            except ValueError as err:  # BodyError, PaginationError, mixed cursor kinds
                raise HttpPullUnreadableError(
                    source=cfg.name,
                    url=shown,
                    problem=self.client.redact(str(err)),
                    status=response.status_code,
                ) from err
        return new, requests

    def _take(
        self, records: list[dict[str, Any]], asked: tuple[Any, ...] | None
    ) -> tuple[Cursor | None, tuple[Any, ...] | None, int]:
        """Spool a page's records; return (last position after ``asked``, new ``asked``, added)."""
        inc = self.cfg.incremental
        last: Cursor | None = None
        added = 0
        for i, record in enumerate(records):
            value = get_path(record, inc.cursor_field) if inc else None
            ident = get_path(record, inc.id_field) if inc and inc.id_field else None
            # A position needs both parts; outside keyset a record without a cursor value is
            # allowed (it cannot move the cursor), one with a value but no id is not.
            if (
                inc is not None
                and inc.id_field is not None
                and (ident is None or value is None)
                and (self.keyset or value is not None)
            ):
                missing = inc.cursor_field if value is None else inc.id_field
                raise BodyError(
                    f"record {i} has no {missing!r}; a position (cursor_field, id_field) "
                    "needs both on every record"
                )
            if ident is not None and value is not None:
                key = self.tracker.key(value, ident)
                floor = asked if self.keyset else self._start_key
                if floor is not None and key <= floor:
                    self.skipped += 1  # at or before the position asked for: read before
                    continue
                if self.keyset:
                    if last is not None and key <= self.tracker.key(last.value, last.id):
                        raise BodyError(
                            f"record {i} ({inc.cursor_field}={cell(value)}, {inc.id_field}="
                            f"{cell(ident)}) is not after the one before it: the API does not "
                            f"return records in ascending ({inc.cursor_field}, {inc.id_field}) "
                            "order, which keyset pagination needs"
                        )
                    last = Cursor(cell(value) or "", cell(ident))
            if self._digests is not None:
                digest = hashlib.blake2b(to_json(record).encode(), digest_size=16).digest()
                if digest in self._digests:
                    continue
                self._digests.add(digest)
            if inc is not None:
                self.tracker.update(value, ident)
            self.spool.write(record)
            added += 1
        if self.keyset and last is not None:
            asked = self.tracker.key(last.value, last.id)
        return last, asked, added


def base_params(cfg: HttpPullConfig, since: Cursor | None) -> dict[str, str]:
    """The config's static query parameters plus the position to resume from."""
    params = dict(cfg.params)
    inc = cfg.incremental
    if inc is not None and since is not None:
        params[inc.param] = since.value
        if inc.id_param is not None and since.id is not None:
            params[inc.id_param] = since.id
    return params


def _page(response: httpx.Response, records: int, body: Any, last: Cursor | None) -> Page:
    link = response.links.get("next", {}).get("url")
    return Page(
        url=str(response.request.url),
        records=records,
        body=body,
        next_link_header=link,
        last=last,
    )
