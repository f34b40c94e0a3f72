"""Contract errors: loading (terminal, names file/field/problem) and enforcement."""


class ContractError(Exception):
    """Base class for contract problems."""


class ContractLoadError(ContractError):
    """A contract file is missing, unparsable or invalid. The message names file, field, problem."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        joined = "\n  ".join(problems)
        super().__init__(f"invalid contract {path}:\n  {joined}")


class SchemaMismatchError(ContractError):
    """An input's columns do not fit the contract (missing required or unexpected columns).

    Terminal for that input: it is quarantined whole, with this message as its reason.
    """
