"""The price table: measured resource use to US dollars.

The table lives in configuration (``metrics/prices.yaml`` by default; its comments cite the public
list prices the defaults come from). :func:`load_prices` validates it at load time and raises
:class:`~metrics.exceptions.MetricsConfigError` naming the file and the field. :func:`price`
turns one run's usage into cost components:

- compute:  CPU seconds x (instance $/hour / vCPUs / 3600);
- storage:  GB written x $/GB-month x months charged per write (GB = 2^30 bytes, as S3 bills);
- requests: GET / 1,000 x $ + PUT / 1,000 x $, when the counts are known (else $0 and unknown);
- transfer: GB read x $/GB in (0 on the public clouds).

>>> table = load_prices()
>>> round(table.compute.usd_per_vcpu_second * 3600 * table.compute.vcpus, 4)
0.1008
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from metrics.exceptions import MetricsConfigError

DEFAULT_PRICES = Path(__file__).with_name("prices.yaml")
GB = 1024**3
"""Bytes per billed GB: AWS bills S3 storage and transfer in GB of 2^30 bytes."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComputePrice(_Strict):
    instance: str
    usd_per_instance_hour: float = Field(ge=0)
    vcpus: int = Field(gt=0)

    @property
    def usd_per_vcpu_second(self) -> float:
        return self.usd_per_instance_hour / self.vcpus / 3600


class StoragePrice(_Strict):
    usd_per_gb_month: float = Field(ge=0)
    months_charged_per_write: float = Field(ge=0)


class RequestPrice(_Strict):
    usd_per_1000_put: float = Field(ge=0)
    usd_per_1000_get: float = Field(ge=0)


class TransferPrice(_Strict):
    usd_per_gb_in: float = Field(ge=0)


class PriceTable(_Strict):
    version: int = Field(ge=1)
    currency: str = Field(pattern=r"^USD$")
    compute: ComputePrice
    storage: StoragePrice
    requests: RequestPrice
    transfer: TransferPrice

    @property
    def id(self) -> str:
        """Short hash of the prices, stored with every cost record (which prices made it)."""
        payload = json.dumps(self.model_dump(), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: str | Path, model: type[M], *, what: str) -> M:
    """Load ``path`` as YAML into ``model``; errors name the file, the field and the fix."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise MetricsConfigError(f"{what} file {path} does not exist; pass an existing YAML file") from err
    except yaml.YAMLError as err:
        raise MetricsConfigError(f"{what} file {path} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise MetricsConfigError(f"{what} file {path} must hold a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            + (f" (got {e['input']!r})" if e["type"] != "missing" else "")
            for e in err.errors()
        )
        raise MetricsConfigError(
            f"{what} file {path} is invalid: {problems}; fix the field(s) and reload"
        ) from err


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The price table at ``path`` (default: the packaged ``metrics/prices.yaml``)."""
    return load_yaml_model(path or DEFAULT_PRICES, PriceTable, what="price")


class Priceable(Protocol):
    """What :func:`price` needs of a record (a :class:`~metrics.cost.CostRecord` has it)."""

    @property
    def cpu_s(self) -> float: ...
    @property
    def bytes_read(self) -> int: ...
    @property
    def bytes_written(self) -> int: ...
    @property
    def requests_get(self) -> int | None: ...
    @property
    def requests_put(self) -> int | None: ...


@dataclass(frozen=True)
class CostComponents:
    compute_usd: float
    storage_usd: float
    requests_usd: float
    transfer_usd: float
    requests_known: bool

    @property
    def total_usd(self) -> float:
        return self.compute_usd + self.storage_usd + self.requests_usd + self.transfer_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "compute_usd": self.compute_usd,
            "storage_usd": self.storage_usd,
            "requests_usd": self.requests_usd,
            "transfer_usd": self.transfer_usd,
            "total_usd": self.total_usd,
        }


def price(record: Priceable, table: PriceTable) -> CostComponents:
    """Cost components of one run's measured use under ``table``.

    Request counts are only known when the caller counted them (object-store GET/PUT); unknown
    counts cost $0 here and ``requests_known`` is False, so reports can say so.
    """
    known = record.requests_get is not None or record.requests_put is not None
    get, put = record.requests_get or 0, record.requests_put or 0
    return CostComponents(
        compute_usd=record.cpu_s * table.compute.usd_per_vcpu_second,
        storage_usd=record.bytes_written
        / GB
        * table.storage.usd_per_gb_month
        * table.storage.months_charged_per_write,
        requests_usd=get / 1000 * table.requests.usd_per_1000_get
        + put / 1000 * table.requests.usd_per_1000_put,
        transfer_usd=record.bytes_read / GB * table.transfer.usd_per_gb_in,
        requests_known=known,
    )


def storage_month_usd(storage_bytes: int, table: PriceTable) -> float:
    """What keeping ``storage_bytes`` costs per month (a table's running storage bill)."""
    return storage_bytes / GB * table.storage.usd_per_gb_month
