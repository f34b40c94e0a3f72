"""Private by default: the file modes of everything the platform creates on the local disk.

The lake, the quarantine (original row text), the DuckDB catalog, the ledger, the keys and the
Dagster home (whose event log holds run metadata and logs) are readable by whoever can read the
files, and nothing in them is meant for other local users. So every process the platform starts
creates files with umask ``077`` (directories ``0700``, files ``0600``; SQLite, delta-rs, DuckDB
and the ledger all honour the umask), and the top-level folders are made ``0700`` explicitly,
also when an older installation created them wider: a private folder hides whatever is inside,
whichever tool wrote it.

:func:`private_umask` is applied by every entry point (``maestro``, the demo, the code location
loaded by Dagster's code servers, and so the run workers they start). :func:`secure_home` creates
and tightens the folders of one installation. Nothing here imports Dagster.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from config.settings import Settings

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_UMASK", "private_umask", "secure_home", "tighten"]

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

log = logging.getLogger(__name__)


def private_umask() -> int:
    """Make this process (and the processes it starts) create private files; the old umask."""
    old = os.umask(PRIVATE_UMASK)
    os.umask(old | PRIVATE_UMASK)
    return old


def tighten(path: Path, mode: int) -> bool:
    """Remove group and other access from ``path`` if we own it; whether its mode changed.

    A path owned by someone else (a shared mount point, root's folder) is left alone: we could not
    change it, and it is not ours to change.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & ~mode == 0:
        return False
    os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    log.warning("tightened %s from %o to %o", path, stat.S_IMODE(st.st_mode), stat.S_IMODE(st.st_mode) & mode)
    return True


def _private_dir(path: Path) -> None:
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR_MODE)


def secure_home(settings: Settings) -> list[Path]:
    """Create (or tighten) the installation's private folders; the folders it looked after.

    ``$MAESTRO_HOME``, the Dagster home, the keys, and — when they are local — the lake root and
    the ledger are ``0700``; the catalog file, when it exists, ``0600``. Parents of a configured
    location outside the home are not touched.
    """
    folders = [settings.home, settings.dagster_home, settings.keys_dir]
    if "://" not in settings.lake_uri or settings.lake_uri.startswith("file://"):
        folders.append(Path(settings.lake_uri.removeprefix("file://")))
    if isinstance(settings.ledger_dir, Path):
        folders.append(settings.ledger_dir)
    for folder in folders:
        _private_dir(folder)
    tighten(settings.catalog_path, PRIVATE_FILE_MODE)
    return folders
