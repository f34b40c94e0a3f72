"""File-drop source: a watched folder per dataset; files claimed atomically, archived afterwards."""

from connectors.file_drop.config import FileDropConfig
from connectors.file_drop.exceptions import DropPathError, FileChangedError, UnsafeEntryError
from connectors.file_drop.folder import DropFolder
from connectors.file_drop.reader import FileDropSource
from connectors.file_drop.scan import DroppedFile, IgnoredEntry

__all__ = [
    "DropFolder",
    "DropPathError",
    "DroppedFile",
    "FileChangedError",
    "FileDropConfig",
    "FileDropSource",
    "IgnoredEntry",
    "UnsafeEntryError",
]
