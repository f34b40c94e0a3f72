"""OpenLineage names of Maestro's datasets and jobs (the spec's Naming.md conventions).

Datasets are ``(namespace, name)`` pairs that, put together, give the dataset's URI:

==========================  ==================================  ==============================
what                        namespace                           name
==========================  ==================================  ==============================
local file or folder        ``file``                            absolute path
S3 object or prefix         ``s3://<bucket>``                   key (no leading ``/``)
Delta table                 as its storage location (local path or ``s3://`` URI), no trailing /
HTTP(S) resource            ``https://<host>:<port>``           path (query and credentials dropped)
DuckDB catalog table        ``duckdb://<abs path of db file>``  ``<schema>.<table>``
==========================  ==================================  ==============================

Jobs live in namespace ``maestro`` and are named ``<kind>.<parts>``: ``ingest.orders``,
``dbt.marts.customer_revenue``, ``asset.catalog``. The Dagster run that launched a job is its
parent, in namespace ``dagster``.

Contract: naming is a pure function of the location (the same table always gets the same name,
whoever emits), and a name never carries credentials or secret query parameters.

>>> file_dataset("/data/in/orders.csv")
DatasetRef(namespace='file', name='/data/in/orders.csv')
>>> dataset_for_uri("s3://acme-raw/orders/2026/1.csv")
DatasetRef(namespace='s3://acme-raw', name='orders/2026/1.csv')
>>> dataset_for_uri("https://api.example.com/v1/products?page=2")
DatasetRef(namespace='https://api.example.com:443', name='/v1/products')
>>> duckdb_dataset("/srv/catalog.duckdb", "marts", "customer_revenue").uri
'duckdb:///srv/catalog.duckdb/marts.customer_revenue'
>>> parse_dataset("duckdb:///srv/catalog.duckdb/marts.customer_revenue")
DatasetRef(namespace='duckdb:///srv/catalog.duckdb', name='marts.customer_revenue')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "JOB_NAMESPACE",
    "PARENT_JOB_NAMESPACE",
    "DatasetRef",
    "asset_job_name",
    "dataset_for_uri",
    "dbt_job_name",
    "delta_table_dataset",
    "duckdb_dataset",
    "file_dataset",
    "ingest_job_name",
    "parse_dataset",
    "safe_uri",
]

JOB_NAMESPACE = "maestro"
PARENT_JOB_NAMESPACE = "dagster"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that carry credentials (pre-signed URLs, API keys); their values never leave.
_SECRET_PARAM = re.compile(
    r"(^x-amz-|^x-goog-|token|secret|passw|signature|^sig$|^key$|api[-_]?key|credential|auth)",
    re.IGNORECASE,
)


@dataclass(frozen=True, order=True)
class DatasetRef:
    """A dataset's OpenLineage identity."""

    namespace: str
    name: str

    @property
    def uri(self) -> str:
        """Namespace and name joined into one URI (``file`` names become ``file://`` URIs)."""
        if self.namespace == "file":
            return "file://" + self.name
        if self.name.startswith("/"):
            return self.namespace + self.name
        return f"{self.namespace}/{self.name}"

    def as_dict(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name}


def file_dataset(path: str | os.PathLike[str]) -> DatasetRef:
    """A local file or folder: namespace ``file``, name the absolute path (``file://`` URIs too)."""
    text = os.fspath(path)
    if text.startswith("file:"):
        parts = urlsplit(text)
        text = unquote(parts.path)
    return DatasetRef("file", os.path.abspath(text))


def dataset_for_uri(uri: str) -> DatasetRef:
    """The dataset a URI or local path names, by scheme (see the module table)."""
    if "://" not in uri and not uri.startswith("file:"):
        return file_dataset(uri)
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return file_dataset(uri)
    if scheme in ("s3", "s3a", "s3n"):
        key = unquote(parts.path).lstrip("/")
        return DatasetRef(f"s3://{parts.hostname or parts.netloc}", key or "/")
    if scheme in _DEFAULT_PORTS:
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS[scheme]
        return DatasetRef(f"{scheme}://{host}:{port}", unquote(parts.path) or "/")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return DatasetRef(f"{scheme}://{netloc}", unquote(parts.path) or "/")


def delta_table_dataset(table_uri: str) -> DatasetRef:
    """A Delta table, named from its storage location (local path or object-store URI)."""
    trimmed = table_uri.rstrip("/") or table_uri
    return dataset_for_uri(trimmed)


def duckdb_dataset(catalog_path: str | os.PathLike[str], schema: str, table: str) -> DatasetRef:
    """A table or view of a DuckDB database file: ``duckdb://<abs path>`` + ``schema.table``."""
    return DatasetRef(f"duckdb://{os.path.abspath(os.fspath(catalog_path))}", f"{schema}.{table}")


def parse_dataset(text: str, *, namespace: str | None = None) -> DatasetRef:
    """Read a dataset named on a command line or in a query string.

    Args:
        text: a dataset name (with ``namespace``), or a URI/path: ``file://...``, a local path,
            ``s3://bucket/key``, ``https://host/path``, ``duckdb:///path/db.duckdb/schema.table``.
        namespace: when given, ``text`` is the name within it, taken as is.
    """
    if namespace is not None:
        return DatasetRef(namespace, text)
    if text.startswith("duckdb://"):
        db, sep, name = text[len("duckdb://") :].rpartition("/")
        if not sep or not db or not name:
            raise ValueError(
                f"{text!r} is not duckdb://<db file path>/<schema>.<table>; "
                "or pass the namespace and name separately"
            )
        return DatasetRef(f"duckdb://{db}", name)
    return dataset_for_uri(text)


def safe_uri(uri: str) -> str:
    """``uri`` without user info and without the values of secret-looking query parameters.

    >>> safe_uri("https://u:pw@host/x?page=2&api_key=abc&X-Amz-Signature=f00")
    'https://host/x?page=2&api_key=REDACTED&X-Amz-Signature=REDACTED'
    """
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "REDACTED" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="/:"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _job_part(text: str) -> str:
    part = re.sub(r"[^A-Za-z0-9_\-]+", "_", text.strip()).strip("_")
    if not part:
        raise ValueError(f"{text!r} gives an empty job name part; use letters, digits or '_'")
    return part


def ingest_job_name(dataset: str) -> str:
    """``ingest.<dataset>``: the job that ingests one dataset from all its sources."""
    return f"ingest.{_job_part(dataset)}"


def dbt_job_name(schema: str, name: str) -> str:
    """``dbt.<schema>.<model>``: one dbt model (or seed), by the schema it builds into."""
    return f"dbt.{_job_part(schema)}.{_job_part(name)}"


def asset_job_name(*parts: str) -> str:
    """``asset.<part>...``: any other asset, by its asset key (``asset.catalog``)."""
    if not parts:
        raise ValueError("an asset job name needs at least one asset key part")
    return "asset." + ".".join(_job_part(p) for p in parts)


def path_in_repo(path: str | os.PathLike[str], repo_root: Path) -> str | None:
    """``path`` relative to ``repo_root`` (POSIX form), or None if it lies outside."""
    try:
        return Path(path).resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        return None
