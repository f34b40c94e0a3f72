"""Load and validate contract YAML files.

Every problem is reported with the file, the field path (``columns[2].type``) and what is wrong,
all problems of a file at once, so a contract author fixes them in one pass.

>>> from contracts.loader import load_contracts
>>> sorted(load_contracts())  # doctest: +SKIP
['customers', 'orders']
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from contracts.exceptions import ContractLoadError
from contracts.model import Contract

DEFAULT_DIR = Path(__file__).resolve().parent / "datasets"


def _field_path(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load_contract(path: str | Path) -> Contract:
    """Load one contract file; raise :class:`ContractLoadError` naming file, field and problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ContractLoadError(str(path), ["file not found"]) from err
    except UnicodeDecodeError as err:
        problem = f"not valid UTF-8 text: {err.reason} at byte {err.start}"
        raise ContractLoadError(str(path), [problem]) from err
    except OSError as err:
        raise ContractLoadError(str(path), [f"cannot be read: {err.strerror or err}"]) from err
    except yaml.YAMLError as err:
        raise ContractLoadError(str(path), [f"not valid YAML: {err}"]) from err
    if not isinstance(raw, dict):
        raise ContractLoadError(str(path), ["(top level): expected a mapping of contract fields"])
    try:
        contract = Contract.model_validate(raw)
    except ValidationError as err:
        problems: list[str] = []
        for e in err.errors():
            loc, msg = tuple(e["loc"]), e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling against contracts/README.md)"
            elif e["type"] == "missing":
                msg = "required field is missing"
            elif len(loc) >= 2 and loc[-2] in ("min", "max") and loc[-1] in ("int", "float"):
                # One problem, not one per member of the bound's type (int | float).
                loc, msg = loc[:-1], f"must be a number, not {e.get('input')!r}"
            problem = f"{_field_path(loc)}: {msg}"
            if problem not in problems:
                problems.append(problem)
        raise ContractLoadError(str(path), problems) from err
    if contract.name != path.stem:
        raise ContractLoadError(
            str(path), [f"name: {contract.name!r} must match the file name {path.stem!r}"]
        )
    return contract


def load_contracts(directory: str | Path | None = None) -> dict[str, Contract]:
    """Load every ``*.yaml`` contract in ``directory`` (default: ``contracts/datasets``)."""
    directory = Path(directory) if directory else DEFAULT_DIR
    contracts = {}
    for path in sorted(directory.glob("*.yaml")):
        c = load_contract(path)
        contracts[c.name] = c
    return contracts
