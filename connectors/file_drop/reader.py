"""File-drop source: each complete dropped file is one input (each member of a zip archive, one).

Files are read like CSV files (:mod:`connectors.csv.reader`): plain, gzip (streamed with the caps
of ``limits``, never inflated to disk) or zip members (``<uri>#member=<name>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from connectors.archive import split_member
from connectors.base import DEFAULT_BATCH_ROWS, Source, SourceObject
from connectors.csv.reader import _path_of, describe_file, describe_inputs, read_input
from connectors.file_drop.config import FileDropConfig
from connectors.file_drop.folder import DropFolder


class FileDropSource(Source):
    """Discovers complete files in the drop folder; reads a (claimed) file or archive member as CSV."""

    kind = "file_drop"

    def __init__(self, config: FileDropConfig, *, base_dir: str | Path = ".") -> None:
        super().__init__(name=config.name, dataset=config.dataset)
        self.config = config
        self.folder = DropFolder(config, base_dir=base_dir)

    def discover(self) -> list[SourceObject]:
        return [describe_file(str(f.path), limits=self.config.limits) for f in self.folder.complete_files()]

    def inputs(self, path: str | Path) -> list[SourceObject]:
        """The inputs a (claimed) file holds: itself, or one per member of a zip archive, named by
        ``path``'s URI but read from the file the drop folder verified when it opened it.

        Raises ``SourceUnreadableError`` for an archive that cannot be read as a whole (see
        :func:`connectors.archive.list_members`).
        """
        opened = self.folder.readable_path(str(path))
        uri = Path(path).absolute().as_uri()
        return describe_inputs(opened, limits=self.config.limits, uri=uri, name=str(path))

    def read(
        self, obj: SourceObject, *, batch_rows: int = DEFAULT_BATCH_ROWS, label: str | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream ``obj`` (a file, or ``#member=`` of a zip archive); ``label`` names it in errors (the
        drop pipeline reads a claimed file but names it where it will stay), default its URI."""
        base, member = split_member(obj.uri)
        # A claimed file is read through the descriptor the drop folder verified (never by name).
        path = self.folder.readable_path(_path_of(base))
        return read_input(
            path, member, self.config.options, limits=self.config.limits, batch_rows=batch_rows,
            label=label or obj.uri,
        )
