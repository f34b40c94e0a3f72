"""The one interface every source kind implements.

A *source* finds inputs (``discover``) and reads one input as a stream of Arrow record batches
(``read``). Every input is described by a :class:`SourceObject`; what a run read is a
:class:`Manifest`, whose ``id`` (a content hash) keys idempotent lake commits, sensor run keys and
provenance entries.

Contract for implementers:

- ``read`` yields ``pyarrow.RecordBatch`` objects of bounded size (``batch_rows`` rows at most,
  default 65,536), so memory stays bounded whatever the input size. Heavy libraries are imported
  lazily inside ``read``.
- Column names are the source's own. Text formats (CSV, NDJSON as text) yield ``string`` columns
  holding the original text, so quarantine can keep it verbatim; typed formats (Parquet, JSON
  numbers) may yield Arrow-native types. Contract enforcement maps either to the contract types.
- A *row* the reader cannot read as a row of its format (a ragged CSV row, invalid bytes in the
  declared encoding, a NDJSON line that is not an object or nests too deep, a field or line over
  its size limit) never fails the input: it is yielded in place, in input order, with the reserved
  column ``_maestro_error`` set to its reason code (``ragged_row``, ``encoding``, ``nul_bytes``,
  ``field_too_large``, ``line_too_long``, ``json_depth``, ``not_an_object`` ...) and
  ``_maestro_raw`` (``large_binary``) holding its original bytes; its contract columns hold what
  could be recovered, or null. Good rows have both null. A reader may also yield ``_maestro_line``
  (``int64``: the 1-based physical line where the row starts). Enforcement quarantines such rows
  with that reason and keeps the raw bytes and line. Readers whose batches hold no such row may
  leave the columns out.
- Text readers keep null tokens (``NA``, ...) as the original text and name them in the batch
  schema's metadata key ``maestro.null_values`` (a JSON list); enforcement treats them as null
  in bronze and keeps the original text in quarantine.
- An input that cannot be read at all raises :class:`~connectors.exceptions.SourceUnreadableError`
  (terminal: the input is quarantined whole); a transient failure (network, 5xx) raises
  :class:`~connectors.exceptions.SourceUnavailableError` (retryable). Messages name the source, the
  input and the problem.
- Nothing here imports dagster.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_BATCH_ROWS = 131_072


@dataclass(frozen=True)
class SourceObject:
    """One input exactly as it was read: enough to find it again and prove it unchanged.

    ``sha256`` and ``size`` are those of the bytes as stored (the provenance pointer: what the URI
    names); ``content_sha256``, when set, is the hash of the decoded content those bytes hold (a
    gzip file's inflated bytes, a zip member's), on which idempotency is keyed, so the same data
    stored plain and compressed is one input. Unset, the content is the stored bytes.
    """

    uri: str
    sha256: str
    size: int
    etag: str | None = None
    version_id: str | None = None
    mtime: datetime | None = None
    byte_range: tuple[int, int] | None = None
    cursor: str | None = None
    content_sha256: str | None = None

    @property
    def content_key(self) -> str:
        """The hash idempotency is keyed on: the decoded content's, else the stored bytes'."""
        return self.content_sha256 or self.sha256

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mtime"] = self.mtime.isoformat() if self.mtime else None
        d["byte_range"] = list(self.byte_range) if self.byte_range else None
        return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class Manifest:
    """What one ingest read: the source, the dataset it feeds and every input object.

    ``id`` is a content hash over the dataset and the objects' (uri, sha256) pairs, so re-reading
    the same bytes gives the same id however the run was triggered.
    """

    source: str
    kind: str
    dataset: str
    objects: tuple[SourceObject, ...]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)

    @property
    def id(self) -> str:
        payload = json.dumps(
            {"dataset": self.dataset, "objects": sorted((o.sha256, o.uri) for o in self.objects)},
            sort_keys=True,
        ).encode()
        return hashlib.sha256(payload).hexdigest()

    @property
    def content_id(self) -> str:
        """Hash over the objects' content only (not their names, nor how they are stored): same
        data, same id. Objects without ``content_sha256`` (plain files, older manifests) hash as
        before, by their stored bytes."""
        payload = json.dumps({"dataset": self.dataset, "sha256": sorted(o.content_key for o in self.objects)})
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "kind": self.kind,
            "dataset": self.dataset,
            "created_at": self.created_at.isoformat(),
            "objects": [o.to_dict() for o in self.objects],
        }


class Source(ABC):
    """A configured source of one dataset. Subclasses set ``kind`` and implement both methods."""

    kind: ClassVar[str]

    def __init__(self, *, name: str, dataset: str) -> None:
        self.name = name
        self.dataset = dataset

    @abstractmethod
    def discover(self) -> list[SourceObject]:
        """Inputs available now (for pull sources: what a run would read), oldest first."""

    @abstractmethod
    def read(self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Stream one input as record batches of at most ``batch_rows`` rows."""


def sha256_file(path: str, *, chunk: int = 4 << 20) -> tuple[str, int]:
    """Return (hex sha256, size) of a local file, reading it in bounded chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
