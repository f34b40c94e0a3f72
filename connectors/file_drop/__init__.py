"""File-drop source: a watched folder per dataset; files claimed atomically, archived afterwards."""

from connectors.file_drop.config import FileDropConfig
from connectors.file_drop.folder import DropFolder, DroppedFile
from connectors.file_drop.reader import FileDropSource

__all__ = ["DropFolder", "DroppedFile", "FileDropConfig", "FileDropSource"]
