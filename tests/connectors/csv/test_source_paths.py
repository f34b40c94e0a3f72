"""The CSV source's paths: plain files only; a link matching the pattern is never followed."""

from __future__ import annotations

import os
from pathlib import Path

from connectors.csv import CsvSource, CsvSourceConfig


def test_a_link_matching_the_pattern_is_not_followed(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "a.csv").write_text("x\n1\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("key\nhunter2\n")
    os.symlink(secret, exports / "b.csv")
    source = CsvSource(CsvSourceConfig(name="csv", dataset="orders", paths=[str(exports / "*.csv")]))
    assert source.paths() == [str(exports / "a.csv")]
