"""``PushSource``: the landed batches of one dataset as a :class:`~connectors.base.Source`.

``discover()`` lists the pending batches (complete ones only: body + receipt) oldest first, as
:class:`~connectors.base.SourceObject` with ``uri`` = ``file://`` URI of the body, ``sha256`` and
``size`` of the stored bytes (from the receipt), ``mtime`` = receive time and ``cursor`` = batch
id. ``read()`` first checks the file still has that sha256 and size, then streams it as
all-string record batches (see :mod:`connectors.http_push.formats`), inflating gzip. Anything
unreadable raises :class:`~connectors.exceptions.SourceUnreadableError` naming the batch and the
problem; the ingest then calls :meth:`Landing.mark_failed`, or :meth:`Landing.mark_processed`
after its lake commit.

>>> src = PushSource(name="partner-push", dataset="orders", landing_root="/srv/landing")
>>> src.kind
'http_push'
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit

from connectors.base import DEFAULT_BATCH_ROWS, Source, SourceObject, sha256_file
from connectors.exceptions import SourceUnreadableError
from connectors.http_push.exceptions import PushConfigError
from connectors.http_push.formats import read_csv, read_json
from connectors.http_push.landing import Landing

if TYPE_CHECKING:
    import pyarrow as pa


class PushSource(Source):
    """Pending batches pushed over HTTP for one dataset."""

    kind: ClassVar[str] = "http_push"

    def __init__(
        self, *, name: str, dataset: str, landing_root: str | Path, verify_sha256: bool = True
    ) -> None:
        super().__init__(name=name, dataset=dataset)
        self.landing = Landing(landing_root)
        self.verify_sha256 = verify_sha256

    def discover(self) -> list[SourceObject]:
        return [
            SourceObject(
                uri=b.path.resolve().as_uri(),
                sha256=b.receipt.sha256,
                size=b.receipt.bytes,
                mtime=datetime.fromisoformat(b.receipt.received_at),
                cursor=b.batch_id,
            )
            for b in self.landing.pending(self.dataset)
        ]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: str | Path = ".") -> PushSource:
        """Build from a sources-file entry: ``name``, ``dataset``, ``landing_root``
        (relative to ``base_dir``) and optional ``verify_sha256``; errors name the field."""
        unknown = sorted(set(data) - {"name", "dataset", "landing_root", "verify_sha256"})
        if unknown:
            raise PushConfigError(
                f"http_push source {data.get('name', '?')!r}: unknown field(s) {unknown}"
            )
        for field in ("name", "dataset", "landing_root"):
            if not isinstance(data.get(field), str | Path) or not str(data[field]).strip():
                raise PushConfigError(
                    f"http_push source {data.get('name', '?')!r}: field "
                    f"{field!r} is required (a non-empty string)"
                )
        verify = data.get("verify_sha256", True)
        if not isinstance(verify, bool):
            raise PushConfigError(
                f"http_push source {data['name']!r}: field 'verify_sha256' "
                f"must be true or false, got {verify!r}"
            )
        root = Path(data["landing_root"]).expanduser()
        return cls(
            name=str(data["name"]),
            dataset=str(data["dataset"]),
            landing_root=root if root.is_absolute() else Path(base_dir) / root,
            verify_sha256=verify,
        )

    @staticmethod
    def batch_id(obj: SourceObject) -> str:
        """The batch id of a discovered object (for Landing.mark_processed / mark_failed)."""
        return obj.cursor or _path(obj.uri).name.split(".", 1)[0]

    def read(
        self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        path = _path(obj.uri)
        label = f"{self.kind} source {self.name!r}, dataset {self.dataset!r}, batch {path.name}"
        if not path.is_file():
            raise SourceUnreadableError(f"{label}: file {path} does not exist (moved or deleted?)")
        if self.verify_sha256:
            sha, size = sha256_file(str(path))
            if (sha, size) != (obj.sha256, obj.size):
                raise SourceUnreadableError(
                    f"{label}: file changed since it landed (sha256 {sha}, {size} bytes; receipt "
                    f"says {obj.sha256}, {obj.size} bytes); quarantine it and ask for a re-push"
                )
        import pyarrow

        suffixes = path.name.split(".")[1:]
        gz = suffixes[-1:] == ["gz"]
        fmt = suffixes[-2] if gz and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
        try:
            if fmt == "csv":
                yield from read_csv(path, gz=gz, batch_rows=batch_rows)
            elif fmt in ("json", "ndjson"):
                yield from read_json(path, gz=gz, ndjson=fmt == "ndjson", batch_rows=batch_rows)
            else:
                raise SourceUnreadableError(f"{label}: unknown format {fmt!r} (from file name)")
        except SourceUnreadableError:
            raise
        except (ValueError, OSError, EOFError, zlib.error, pyarrow.ArrowException) as err:
            # pyarrow.ArrowInvalid is a ValueError; a bad gzip is an OSError or EOFError.
            raise SourceUnreadableError(f"{label}: not readable as {fmt}: {err}") from err
        except RecursionError as err:  # never a crash of the run, whatever the parser met
            raise SourceUnreadableError(f"{label}: not readable as {fmt}: nests too deep") from err


def _path(uri: str) -> Path:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme:
        raise SourceUnreadableError(f"http_push source: {uri!r} is not a local file URI")
    return Path(uri)
