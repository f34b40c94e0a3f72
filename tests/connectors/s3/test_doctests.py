"""The runnable examples in the module docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "connectors.s3.config",
    "connectors.s3.state",
    "connectors.s3.storage",
    "connectors.s3.source",
]


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
