"""HTTP push source: partners POST batches to an authenticated ASGI service; they land durably
in a landing area that :class:`PushSource` reads and :class:`Landing` moves on.

Start the service with ``python -m connectors.http_push serve --config push.yaml``; see
``README.md`` in this folder. Importing this package does not import Starlette or uvicorn; the
app lives in :mod:`connectors.http_push.app`.
"""

from connectors.http_push.config import PushConfig, RateConfig
from connectors.http_push.landing import CommitResult, Landing, PendingBatch
from connectors.http_push.reader import PushSource
from connectors.http_push.receipts import Receipt, ReceiptSigner, verify_receipt

__all__ = [
    "CommitResult",
    "Landing",
    "PendingBatch",
    "PushConfig",
    "PushSource",
    "RateConfig",
    "Receipt",
    "ReceiptSigner",
    "verify_receipt",
]
