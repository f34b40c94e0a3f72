"""HTTP pull source: paginated JSON / NDJSON / CSV APIs, retried, spooled, resumed by a cursor.

The public surface is re-exported here; see ``README.md`` in this folder for the configuration,
the retry policy and the cursor contract (the cursor moves only when the caller saves it after a
successful commit).
"""

from connectors.http_pull.client import RetryingClient, RetryPolicy, parse_retry_after
from connectors.http_pull.config import HttpPullConfig, load_configs
from connectors.http_pull.cursor import CursorMax, CursorStore
from connectors.http_pull.exceptions import (
    CursorStateError,
    HttpPullConfigError,
    HttpPullUnavailableError,
    HttpPullUnreadableError,
)
from connectors.http_pull.reader import HttpPullSource, PullResult
from connectors.http_pull.spool import read_spool

__all__ = [
    "CursorMax",
    "CursorStateError",
    "CursorStore",
    "HttpPullConfig",
    "HttpPullConfigError",
    "HttpPullSource",
    "HttpPullUnavailableError",
    "HttpPullUnreadableError",
    "PullResult",
    "RetryPolicy",
    "RetryingClient",
    "load_configs",
    "parse_retry_after",
    "read_spool",
]
