"""HTTP pull source: paginated JSON / NDJSON / CSV APIs, retried, spooled, resumed by a cursor.

The public surface is re-exported here; see ``README.md`` in this folder for the configuration,
the retry policy, pagination that stays complete while the API changes, and the cursor contract
(the cursor belongs in the commit of the records it covers).
"""

from connectors.http_pull.client import RetryingClient, RetryPolicy, parse_retry_after
from connectors.http_pull.config import HttpPullConfig, load_configs
from connectors.http_pull.cursor import CachedCursor, Cursor, CursorMax, CursorStore
from connectors.http_pull.exceptions import (
    CursorStateError,
    HttpPullConfigError,
    HttpPullUnavailableError,
    HttpPullUnreadableError,
    HttpPullUnstableError,
)
from connectors.http_pull.reader import HttpPullSource
from connectors.http_pull.result import PullResult, entry_verified, narrow_pull, sign_entry
from connectors.http_pull.spool import (
    SpoolBusyError,
    SpoolLock,
    clear_unfinished,
    finished_pulls,
    read_spool,
    remove_pull,
)

__all__ = [
    "CachedCursor",
    "Cursor",
    "CursorMax",
    "CursorStateError",
    "CursorStore",
    "HttpPullConfig",
    "HttpPullConfigError",
    "HttpPullSource",
    "HttpPullUnavailableError",
    "HttpPullUnreadableError",
    "HttpPullUnstableError",
    "PullResult",
    "RetryPolicy",
    "RetryingClient",
    "SpoolBusyError",
    "SpoolLock",
    "clear_unfinished",
    "entry_verified",
    "finished_pulls",
    "load_configs",
    "narrow_pull",
    "parse_retry_after",
    "read_spool",
    "remove_pull",
    "sign_entry",
]
