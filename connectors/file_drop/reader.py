"""File-drop source: each complete dropped file is one input, read like a CSV file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from connectors.base import DEFAULT_BATCH_ROWS, Source, SourceObject
from connectors.csv.reader import _path_of, describe_file, read_csv_batches
from connectors.file_drop.config import FileDropConfig
from connectors.file_drop.folder import DropFolder


class FileDropSource(Source):
    """Discovers complete files in the drop folder; reads a (claimed) file as CSV."""

    kind = "file_drop"

    def __init__(self, config: FileDropConfig, *, base_dir: str | Path = ".") -> None:
        super().__init__(name=config.name, dataset=config.dataset)
        self.config = config
        self.folder = DropFolder(config, base_dir=base_dir)

    def discover(self) -> list[SourceObject]:
        return [describe_file(str(f.path)) for f in self.folder.complete_files()]

    def read(self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        name = _path_of(obj.uri)
        # A claimed file is read through the descriptor the drop folder verified (never by name).
        path = self.folder.readable_path(name)
        if name.lower().endswith(".gz"):
            return _read_gzip_csv(path, self.config, batch_rows)
        return read_csv_batches(path, self.config.options, batch_rows=batch_rows)


def _read_gzip_csv(path: str, config: FileDropConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import gzip
    import shutil
    import tempfile

    from connectors.exceptions import SourceUnreadableError

    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        try:
            with gzip.open(path, "rb") as src:
                shutil.copyfileobj(src, tmp)
        except (OSError, EOFError) as err:
            raise SourceUnreadableError(f"{path}: not a readable gzip file: {err}") from err
        tmp.flush()
        yield from read_csv_batches(tmp.name, config.options, batch_rows=batch_rows)
