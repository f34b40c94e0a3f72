"""Command line for the provenance ledger: append, checkpoint, prove, verify.

Contract: `main(argv)` returns the exit status — 0 success, 1 verification failed (the report
or error names the first bad entry or checkpoint), 2 bad usage or input, 75 the ledger is busy
(another writer; retry). Results go to stdout (or `--out`), diagnostics and progress to stderr.

    python -m provenance.cli append LEDGER [FILE ...] [--lines]
    python -m provenance.cli checkpoint LEDGER --key-dir DIR
    python -m provenance.cli prove LEDGER INDEX [--size N] > proof.json
    python -m provenance.cli consistency LEDGER OLD [NEW]
    python -m provenance.cli verify LEDGER (--key-dir DIR | --vkey VKEY)
    python -m provenance.cli verify-inclusion --entry F --proof F --checkpoint F --vkey VKEY
    python -m provenance.cli pubkey LEDGER --key-dir DIR

LEDGER is a directory or `s3://bucket/prefix` (credentials, region and endpoint from the AWS
default chain, which honours `AWS_ENDPOINT_URL`; `--endpoint-url URL` overrides the endpoint,
e.g. with the lake's `MAESTRO_LAKE_ENDPOINT_URL`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal

from provenance.exceptions import (
    KeyFileError,
    LedgerBusyError,
    LedgerConfigError,
    LedgerCorruptError,
    LedgerStorageError,
    NoteError,
    ProofError,
)
from provenance.ledger import (
    InclusionProof,
    Ledger,
    LedgerStore,
    open_store,
    verify_inclusion,
    verify_ledger,
)
from provenance.ledger.keys import load_verifier, read_verifier
from provenance.ledger.note import Verifier

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 75


def _location(text: str) -> str | Path:
    """A ledger argument: `s3://bucket/prefix` stays a string (Path would fold its `//`)."""
    if "://" not in text:
        return Path(text)
    if not text.startswith("s3://"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the ledger must be a directory or s3://bucket/prefix"
        )
    from provenance.ledger.s3_io import parse_location

    try:
        return parse_location(text).uri
    except LedgerConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _ledger_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("ledger", type=_location, help="ledger directory or s3://bucket/prefix")
    p.add_argument("--endpoint-url", help="S3-compatible endpoint of an s3:// ledger")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provenance.cli",
        description="Provenance ledger: an append-only Merkle log with signed checkpoints.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("append", help="append entries (for tests and debugging)")
    _ledger_arg(p)
    p.add_argument("files", nargs="*", type=Path, help="entry files (default: stdin)")
    p.add_argument("--lines", action="store_true", help="each non-empty line is one entry")
    p.add_argument("--origin", help="origin of a new ledger")

    p = sub.add_parser("checkpoint", help="sign a checkpoint of the current tree")
    _ledger_arg(p)
    p.add_argument("--key-dir", type=Path, required=True, help="signing key directory")
    p.add_argument("--out", type=Path, help="also write the signed note here")

    p = sub.add_parser("prove", help="emit the inclusion proof (JSON) of entry INDEX")
    _ledger_arg(p)
    p.add_argument("index", type=int)
    p.add_argument("--size", type=int, help="tree size (default: the latest checkpoint's)")
    p.add_argument("--out", type=Path, help="write the proof here instead of stdout")
    p.add_argument("--checkpoint-out", type=Path, help="write the latest checkpoint note here")
    p.add_argument("--entry-out", type=Path, help="write the entry bytes here")

    p = sub.add_parser("consistency", help="emit the consistency proof (JSON) from OLD to NEW")
    _ledger_arg(p)
    p.add_argument("old", type=int)
    p.add_argument("new", type=int, nargs="?", help="default: the current size")
    p.add_argument("--out", type=Path)

    p = sub.add_parser("verify", help="recompute the whole tree and audit every checkpoint")
    _ledger_arg(p)
    _key_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("verify-inclusion", help="verify one entry offline against a checkpoint")
    p.add_argument("--entry", type=Path, required=True, help="file with the entry's bytes")
    p.add_argument("--proof", type=Path, required=True, help="proof JSON from `prove`")
    p.add_argument("--checkpoint", type=Path, required=True, help="signed checkpoint note")
    p.add_argument("--vkey", required=True, help="verifier key, or a file holding it")
    p.add_argument("--origin", help="require this checkpoint origin")

    p = sub.add_parser("pubkey", help="print the verifier key (creates the key on first use)")
    _ledger_arg(p)
    p.add_argument("--key-dir", type=Path, required=True)
    return parser


def _key_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--key-dir", type=Path, help="directory holding the ledger's key")
    group.add_argument("--vkey", help="verifier key, or a file holding it")


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def _store(
    args: argparse.Namespace, mode: Literal["write", "read"], origin: str | None = None
) -> LedgerStore:
    if isinstance(args.ledger, str) and args.endpoint_url:
        from provenance.ledger.s3 import S3Store

        return S3Store.open(args.ledger, mode=mode, origin=origin, endpoint_url=args.endpoint_url)
    return open_store(args.ledger, mode=mode, origin=origin)


def _open(
    args: argparse.Namespace,
    *,
    key_dir: Path | None = None,
    read_only: bool = False,
    origin: str | None = None,
) -> Ledger:
    """Open the LEDGER argument; a local one exactly as `Ledger.open` (key placement checked)."""
    if isinstance(args.ledger, Path) or not args.endpoint_url:
        return Ledger.open(args.ledger, key_dir=key_dir, read_only=read_only, origin=origin)
    store = _store(args, "read" if read_only else "write", origin)
    try:
        return Ledger(store, key_dir=key_dir)
    except BaseException:
        store.close()
        raise


def _append(args: argparse.Namespace) -> int:
    blobs = [f.read_bytes() for f in args.files] if args.files else [sys.stdin.buffer.read()]
    entries = [line for blob in blobs for line in blob.splitlines() if line] if args.lines else blobs
    with _open(args, origin=args.origin) as ledger:
        first = ledger.append_many(entries)
        print(
            f"appended {len(entries)} entries at {first}..{first + len(entries) - 1}; "
            f"size {ledger.size}",
            file=sys.stderr,
        )
    return EXIT_OK


def _checkpoint(args: argparse.Namespace) -> int:
    with _open(args, key_dir=args.key_dir) as ledger:
        signed = ledger.checkpoint()
    _emit(signed.note.decode("utf-8"), None)
    if args.out:
        args.out.write_bytes(signed.note)
    return EXIT_OK


def _prove(args: argparse.Namespace) -> int:
    with _open(args, read_only=True) as ledger:
        latest = ledger.latest_checkpoint()
        size = args.size
        if size is None:
            if latest is None:
                raise LedgerConfigError(
                    "the ledger has no checkpoint yet: run `checkpoint` first, or pass --size"
                )
            size = latest.checkpoint.size
        proof = ledger.inclusion_proof(args.index, size)
        if args.checkpoint_out:
            if latest is None or latest.checkpoint.size != size:
                raise LedgerConfigError(
                    f"the latest checkpoint is not at size {size}; drop --size or --checkpoint-out"
                )
            args.checkpoint_out.write_bytes(latest.note)
        if args.entry_out:
            args.entry_out.write_bytes(ledger.entry(args.index))
    _emit(proof.to_json(), args.out)
    return EXIT_OK


def _consistency(args: argparse.Namespace) -> int:
    with _open(args, read_only=True) as ledger:
        proof = ledger.consistency_proof(args.old, args.new)
    _emit(proof.to_json(), args.out)
    return EXIT_OK


def _verifier(args: argparse.Namespace, origin: str) -> Verifier:
    if args.vkey:
        return read_verifier(args.vkey)
    return load_verifier(args.key_dir, origin)


def _verify(args: argparse.Namespace) -> int:
    store = _store(args, "read")
    try:
        verifier = _verifier(args, store.origin) if store.checkpoint_numbers() else None
        report = verify_ledger(store, verifier=verifier, progress=not args.quiet)
    finally:
        store.close()
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED


def _verify_inclusion(args: argparse.Namespace) -> int:
    proof = InclusionProof.from_json(args.proof.read_bytes())
    cp = verify_inclusion(
        args.entry.read_bytes(),
        proof,
        args.checkpoint.read_bytes(),
        read_verifier(args.vkey),
        origin=args.origin,
    )
    print(f"OK: entry {proof.index} is included in {cp.origin} at size {cp.size}")
    return EXIT_OK


def _pubkey(args: argparse.Namespace) -> int:
    with _open(args, key_dir=args.key_dir, read_only=True) as ledger:
        print(ledger.verifier.vkey)
    return EXIT_OK


_COMMANDS = {
    "append": _append,
    "checkpoint": _checkpoint,
    "prove": _prove,
    "consistency": _consistency,
    "verify": _verify,
    "verify-inclusion": _verify_inclusion,
    "pubkey": _pubkey,
}


def main(argv: list[str] | None = None) -> int:
    """Run the ledger command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (ProofError, NoteError, LedgerCorruptError) as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return EXIT_FAILED
    except LedgerBusyError as err:
        print(f"busy: {err}", file=sys.stderr)
        return EXIT_BUSY
    except (LedgerConfigError, KeyFileError, LedgerStorageError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
