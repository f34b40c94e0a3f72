"""Command line for lineage questions over the provenance ledger; answers are JSON on stdout.

Contract: ``main(argv)`` returns the exit status — 0 answered, 1 the dataset is in no event of
the ledger, 2 bad usage or input. Diagnostics go to stderr.

    python -m provenance.lineage.cli upstream   LEDGER DATASET [--depth N]
    python -m provenance.lineage.cli downstream LEDGER DATASET [--depth N]
    python -m provenance.lineage.cli columns    LEDGER DATASET COLUMN [--depth N] [--direct-only]
    python -m provenance.lineage.cli runs       LEDGER DATASET [--limit N]
    python -m provenance.lineage.cli datasets   LEDGER

DATASET is a URI or path (``/lake/bronze/orders``, ``s3://bucket/key``,
``duckdb:///srv/catalog.duckdb/marts.customer_revenue``) or, with ``--namespace NS``, the
dataset's name in that namespace. The ledger engineer's ``provenance.cli`` can expose these as
a ``lineage`` subcommand by delegating to :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from provenance.exceptions import ProvenanceError
from provenance.lineage.exceptions import UnknownDatasetError
from provenance.lineage.naming import parse_dataset
from provenance.lineage.query import DEFAULT_DEPTH, LineageIndex

__all__ = ["main"]

EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provenance.lineage.cli",
        description="Lineage of datasets and columns, from the OpenLineage events in the ledger.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("ledger", type=Path, help="the ledger directory")
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
    p.add_argument("ledger", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not (args.ledger / "ledger.json").is_file():
        print(f"error: {args.ledger} is not a ledger (no ledger.json)", file=sys.stderr)
        return EXIT_USAGE
    try:
        index = LineageIndex.from_ledger(args.ledger)
        if args.command == "datasets":
            answer: object = {"datasets": index.datasets()}
        else:
            ref = parse_dataset(args.dataset, namespace=args.namespace)
            if args.command == "upstream":
                answer = index.upstream(ref, depth=args.depth)
            elif args.command == "downstream":
                answer = index.downstream(ref, depth=args.depth)
            elif args.command == "columns":
                answer = index.columns(
                    ref, args.column, depth=args.depth, direct_only=args.direct_only
                )
            else:
                answer = index.runs(ref, limit=args.limit)
    except UnknownDatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNKNOWN
    except (ValueError, ProvenanceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    json.dump(answer, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
