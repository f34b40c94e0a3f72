"""Crash safety: a real child process appending in a loop is SIGKILLed at random moments.

After every kill the ledger must open, verify clean, hold every acknowledged entry, and hold
each entry whole (byte-identical) or not at all. Torn writes at exact byte positions are
covered deterministically in test_store_recovery.py; this test covers real kills.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from provenance.ledger import Ledger

from .conftest import record_spans

REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import hashlib, sys
from provenance.ledger import Ledger

def entry(i):
    return (f"{i}:" + hashlib.sha256(str(i).encode()).hexdigest() * (1 + i % 13)).encode()

with Ledger.open(sys.argv[1], key_dir=sys.argv[2]) as ledger:
    n, batches = ledger.size, 0
    while True:
        count = 1 + (n * 7919) % 300
        ledger.append_many([entry(i) for i in range(n, n + count)])
        n += count
        print(n, flush=True)
        batches += 1
        if batches % 10 == 0:
            ledger.checkpoint()
"""


def entry(i: int) -> bytes:
    return (f"{i}:" + hashlib.sha256(str(i).encode()).hexdigest() * (1 + i % 13)).encode()


def _run_and_kill(path: Path, keys: Path, delay: float) -> int:
    """Start the appender, SIGKILL it `delay` seconds after its first append; return the
    highest size it acknowledged."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(keys)], stdout=subprocess.PIPE, env=env
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first, "the appender exited before its first append"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    rest = child.stdout.read()
    child.wait()
    assert child.returncode == -signal.SIGKILL
    return max(int(line) for line in [first, *rest.split()])


def test_appends_survive_sigkill_whole_or_not_at_all(tmp_path: Path) -> None:
    path, keys = tmp_path / "ledger", tmp_path / "keys"
    rng = random.Random(20240611)
    checked = 0  # entries before this were compared byte for byte in an earlier round
    for _ in range(6):
        acked = _run_and_kill(path, keys, rng.uniform(0.0, 0.25))
        with Ledger.open(path, key_dir=keys) as ledger:
            assert ledger.size >= acked, "an acknowledged append was lost"
            for i in range(checked, ledger.size):
                assert ledger.entry(i) == entry(i)
            checked = ledger.size + 2
            report = ledger.verify()
            assert report.ok, report.summary()
            spans = record_spans(path / "entries.log")
            assert len(spans) == ledger.size
            assert spans[-1][1] == (path / "entries.log").stat().st_size
            ledger.append_many([entry(ledger.size), entry(ledger.size + 1)])
            ledger.checkpoint()
            assert ledger.verify().ok
    with Ledger.open(path, key_dir=keys, read_only=True) as ledger:
        assert ledger.size > 6 and ledger.verify().ok
