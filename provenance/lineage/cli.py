"""Command line for lineage questions over the provenance ledger; answers are JSON on stdout.

Contract: ``main(argv)`` returns the exit status — 0 answered, 1 the dataset is in no event of
the ledger, 2 bad usage or input, 75 the object store did not answer (retry). Diagnostics go
to stderr.

    python -m provenance.lineage.cli upstream   LEDGER DATASET [--depth N]
    python -m provenance.lineage.cli downstream LEDGER DATASET [--depth N]
    python -m provenance.lineage.cli columns    LEDGER DATASET COLUMN [--depth N] [--direct-only]
    python -m provenance.lineage.cli runs       LEDGER DATASET [--limit N]
    python -m provenance.lineage.cli datasets   LEDGER

LEDGER is the ledger directory or ``s3://bucket/prefix`` (credentials, region and endpoint from
the AWS default chain, which honours ``AWS_ENDPOINT_URL``; ``--endpoint-url`` overrides it).
DATASET is a URI or path (``/lake/bronze/orders``, ``s3://bucket/key``,
``duckdb:///srv/catalog.duckdb/marts.customer_revenue``) or, with ``--namespace NS``, the
dataset's name in that namespace. The ledger engineer's ``provenance.cli`` can expose these as
a ``lineage`` subcommand by delegating to :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import sys

from provenance.exceptions import LedgerBusyError, ProvenanceError
from provenance.lineage.exceptions import UnknownDatasetError
from provenance.lineage.location import ledger_exists, ledger_location
from provenance.lineage.naming import parse_dataset
from provenance.lineage.query import DEFAULT_DEPTH, LineageIndex

__all__ = ["main"]

EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 75


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provenance.lineage.cli",
        description="Lineage of datasets and columns, from the OpenLineage events in the ledger.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def ledger(p: argparse.ArgumentParser) -> None:
        p.add_argument("ledger", help="the ledger directory or s3://bucket/prefix")
        p.add_argument("--endpoint-url", help="S3-compatible endpoint of an s3:// ledger")

    def common(p: argparse.ArgumentParser) -> None:
        ledger(p)
        p.add_argument("dataset", help="dataset URI or path, or its name with --namespace")
        p.add_argument("--namespace", help="the dataset's namespace (DATASET is then its name)")

    for name, text in (
        ("upstream", "datasets this one is derived from"),
        ("downstream", "datasets derived from this one"),
    ):
        p = sub.add_parser(name, help=text)
        common(p)
        p.add_argument("--depth", type=int, default=DEFAULT_DEPTH)
    p = sub.add_parser("columns", help="the columns a column is computed from, to its sources")
    common(p)
    p.add_argument("column")
    p.add_argument("--depth", type=int, default=DEFAULT_DEPTH)
    p.add_argument("--direct-only", action="store_true", help="skip filter/condition inputs")
    p = sub.add_parser("runs", help="runs that read or wrote the dataset, newest first")
    common(p)
    p.add_argument("--limit", type=int, default=50)
    p = sub.add_parser("datasets", help="every dataset the ledger's events mention")
    ledger(p)
    return parser


def _answer(args: argparse.Namespace, index: LineageIndex) -> object:
    if args.command == "datasets":
        return {"datasets": index.datasets()}
    ref = parse_dataset(args.dataset, namespace=args.namespace)
    if args.command == "upstream":
        return index.upstream(ref, depth=args.depth)
    if args.command == "downstream":
        return index.downstream(ref, depth=args.depth)
    if args.command == "columns":
        return index.columns(ref, args.column, depth=args.depth, direct_only=args.direct_only)
    return index.runs(ref, limit=args.limit)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        location = ledger_location(args.ledger)
        if not ledger_exists(location, endpoint_url=args.endpoint_url):
            print(f"error: {location} is not a ledger (no ledger.json)", file=sys.stderr)
            return EXIT_USAGE
        index = LineageIndex.from_ledger(location, endpoint_url=args.endpoint_url)
        try:
            answer = _answer(args, index)
        finally:
            index.close()
    except UnknownDatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNKNOWN
    except (ValueError, ProvenanceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except LedgerBusyError as err:
        print(f"busy: {err}", file=sys.stderr)
        return EXIT_BUSY
    json.dump(answer, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
