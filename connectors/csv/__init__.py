"""CSV source: local paths and globs, streamed as all-string record batches."""

from connectors.csv.config import CsvOptions, CsvSourceConfig
from connectors.csv.reader import CsvSource, read_csv_batches

__all__ = ["CsvOptions", "CsvSource", "CsvSourceConfig", "read_csv_batches"]
