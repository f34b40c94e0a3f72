"""Benchmark of the provenance ledger: append throughput, full verification, proof cost.

Run: `.venv/bin/python bench/ledger_bench.py [--sizes 100000,1000000] [--dir DIR]`.

Entries are ~500-byte JSON event references (hashes and URIs, as real callers write). Each
figure is printed next to its floor measured in the same run on the same machine — the cost of
the unavoidable work without the ledger (hash + write + fsync for appends; read + leaf hashes for
verification) — and next to its target: >= 20,000 appends/s in batches, full verification of
1,000,000 entries < 10 s, inclusion proof generation + verification < 1 ms (judged on the mean;
the p99 also shows scheduling noise when the machine is busy).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from provenance.ledger import RFC6962, Ledger, verify_inclusion_proof, verify_ledger
from provenance.ledger.framing import frame_records


def make_entry(i: int) -> bytes:
    """A ~500-byte OpenLineage-style event reference: hashes and URIs, never row values."""
    digest = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    doc = {
        "eventType": "COMPLETE",
        "eventTime": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
        "runId": f"01890f2e-{i % 65536:04x}-7000-8000-{i:012x}",
        "job": "maestro://orchestration/defs/ingest/bronze_orders",
        "inputs": [f"s3://landing/orders/2026/01/01/part-{i:08d}.csv"],
        "output": f"delta://lake/bronze/orders@v{i}",
        "outputSha256": digest,
        "contract": "contracts/datasets/orders.yaml@1.4.0",
        "policyBundleSha256": hashlib.sha256(digest.encode()).hexdigest(),
        "rowCount": i * 7 % 100000,
    }
    return json.dumps(doc, sort_keys=True).encode()


def batches(start: int, stop: int, size: int) -> Iterator[list[bytes]]:
    for lo in range(start, stop, size):
        yield [make_entry(i) for i in range(lo, min(lo + size, stop))]


def bench_append(root: Path, *, batch: int, count: int) -> tuple[float, float]:
    """Return (ledger appends/s, floor appends/s) for `count` entries in batches of `batch`."""
    pre = list(batches(0, count, batch))
    with Ledger.open(root / f"append-{batch}") as ledger:
        t0 = time.perf_counter()
        for chunk in pre:
            ledger.append_many(chunk)
        ledger_rate = count / (time.perf_counter() - t0)
    fd = os.open(root / f"floor-{batch}.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        t0 = time.perf_counter()
        for chunk in pre:
            os.write(fd, frame_records(chunk, RFC6962.hash_leaves(chunk))[0])
            os.fsync(fd)
        floor_rate = count / (time.perf_counter() - t0)
    finally:
        os.close(fd)
    return ledger_rate, floor_rate


def build(root: Path, size: int) -> tuple[Path, Path]:
    path, keys = root / f"ledger-{size}", root / "keys"
    with Ledger.open(path, key_dir=keys, origin=f"bench.example/ledger/{size}") as ledger:
        for chunk in batches(0, size, 10_000):
            ledger.append_many(chunk)
            if ledger.size % 250_000 == 0 or ledger.size == size:
                ledger.checkpoint()
    return path, keys


def bench_verify(path: Path, keys: Path) -> tuple[float, float, bool]:
    """Return (verify seconds, floor seconds, ok): floor = read the log + every leaf hash."""
    with Ledger.open(path, key_dir=keys, read_only=True) as ledger:
        verifier = ledger.verifier
    t0 = time.perf_counter()
    report = verify_ledger(path, verifier=verifier)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    data, pos, sha = (path / "entries.log").read_bytes(), 0, hashlib.sha256
    while pos < len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        sha(b"\x00" + data[pos + 8 : pos + 8 + length]).digest()
        pos += 8 + length
    return seconds, time.perf_counter() - t0, report.ok


def bench_proofs(path: Path, *, samples: int = 2000) -> dict[str, float]:
    with Ledger.open(path, read_only=True) as ledger:
        size, root = ledger.size, ledger.root()
        rng = random.Random(7)
        indexes = [rng.randrange(size) for _ in range(samples)]
        times, lengths, json_bytes = [], [], []
        for index in indexes:
            t0 = time.perf_counter()
            proof = ledger.inclusion_proof(index, size)
            verify_inclusion_proof(index, size, proof.leaf_hash, proof.hashes, root)
            times.append(time.perf_counter() - t0)
            lengths.append(len(proof.hashes))
            json_bytes.append(len(proof.to_json()))
        t0 = time.perf_counter()
        for old in indexes[:200]:
            ledger.consistency_proof(max(old, 1), size).verify()
        consistency = (time.perf_counter() - t0) / 200
    times.sort()
    return {
        "mean_ms": statistics.fmean(times) * 1e3,
        "p50_ms": times[len(times) // 2] * 1e3,
        "p99_ms": times[int(len(times) * 0.99)] * 1e3,
        "hashes": statistics.fmean(lengths),
        "bytes": statistics.fmean(lengths) * 32,
        "json_bytes": statistics.fmean(json_bytes),
        "consistency_ms": consistency * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="ledger sizes to verify")
    parser.add_argument("--appends", type=int, default=200_000, help="entries per append run")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ledger-bench-", dir=args.dir))
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"entry size ~{len(make_entry(123456))} bytes; work dir {root}")
    rows: list[tuple[str, str, str, str]] = []
    try:
        for batch in (100, 1000, 10_000):
            rate, floor = bench_append(root, batch=batch, count=args.appends)
            rows.append(
                (
                    f"append, batches of {batch}",
                    f"{rate:,.0f} /s",
                    f"{floor:,.0f} /s",
                    ">= 20,000 /s" + (" ok" if rate >= 20_000 else " MISSED"),
                )
            )
        with Ledger.open(root / "single") as ledger:
            t0 = time.perf_counter()
            for i in range(300):
                ledger.append(make_entry(i))
            rows.append(
                (
                    "append, one at a time (fsync each)",
                    f"{300 / (time.perf_counter() - t0):,.0f} /s",
                    "",
                    "(reference)",
                )
            )
        for size in sizes:
            t0 = time.perf_counter()
            path, keys = build(root, size)
            rows.append(
                (
                    f"build {size:,} entries (batches of 10k)",
                    f"{time.perf_counter() - t0:.1f} s",
                    "",
                    "",
                )
            )
            seconds, floor, ok = bench_verify(path, keys)
            target = "< 10 s" + (" ok" if seconds < 10 else " MISSED") if size >= 1e6 else ""
            rows.append(
                (
                    f"verify {size:,} entries{'' if ok else ' (FAILED)'}",
                    f"{seconds:.2f} s",
                    f"{floor:.2f} s",
                    target,
                )
            )
            if size == max(sizes):
                p = bench_proofs(path)
                rows.append(
                    (
                        f"inclusion proof gen+verify @ {size:,}",
                        f"{p['mean_ms']:.3f} ms mean, {p['p50_ms']:.3f} p50, {p['p99_ms']:.3f} p99",
                        "",
                        "< 1 ms mean" + (" ok" if p["mean_ms"] < 1 else " MISSED"),
                    )
                )
                rows.append(
                    (
                        f"inclusion proof size @ {size:,}",
                        f"{p['hashes']:.1f} hashes = {p['bytes']:.0f} B "
                        f"({p['json_bytes']:.0f} B JSON)",
                        "",
                        "",
                    )
                )
                rows.append(
                    (
                        f"consistency proof gen+verify @ {size:,}",
                        f"{p['consistency_ms']:.3f} ms",
                        "",
                        "",
                    )
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    widths = [
        max(len(r[i]) for r in [("measure", "result", "floor", "target"), *rows]) for i in range(4)
    ]
    for row in [("measure", "result", "floor", "target"), tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
