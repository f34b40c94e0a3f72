"""An exact set of 64-bit keys for one input that spills to disk: the memory side of key checks.

:class:`SeenKeys` answers "was this key added before, and with which values?" for the primary-key
and unique checks of :mod:`contracts.enforce` (each key carries ``value_width`` 64-bit values: the
first row's hash and number for a primary key, the first row's number for a unique column).
Contract: the answer is exact (no false positives, no misses) however many keys were added and
whether or not they were spilled; callers add only keys that are distinct, sorted and not already
present (:func:`group_firsts` finds them). Memory stays bounded: past ``memory_keys`` keys are
sorted into a run in a temporary file, and what stays in memory is the range of keys seen, one key
per 512 spilled keys and (once a key falls inside that range) a Bloom filter of 4-8 bytes per key.
The temporary files are removed by :meth:`SeenKeys.close` or when the set is collected; they live
under :mod:`tempfile`'s folder, which an ingest run points at its own scratch folder
(``pipeline/scratch.py``), so those of a killed run are removed by the next run. The trade-off is
stated in the docstring of :mod:`contracts.enforce`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import weakref
from typing import TYPE_CHECKING

import numpy as np

import faults

if TYPE_CHECKING:
    from collections.abc import Iterator


def _mix(keys: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads integer keys (often sequential) over all 64 bits."""
    x = keys ^ (keys >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


class _BloomFilter:
    """Blocked Bloom filter of 64-bit keys: one 64-bit word per key, 6 bits set in it.

    Sized for ``capacity`` keys at 32 bits a key (~0.05% false positives when full). Growing means
    building a bigger one from the keys (see :meth:`SeenKeys._build_filter`).
    """

    BITS_PER_KEY = 32
    K = 6

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._log_words = max(1, int(capacity * self.BITS_PER_KEY // 64 - 1).bit_length())
        self._words = np.zeros(1 << self._log_words, dtype=np.uint64)

    def _slots(self, mixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's word (from its high bits) and its bits within the word (from its low bits)."""
        word = (mixed >> np.uint64(64 - self._log_words)).astype(np.intp)
        mask = np.zeros(mixed.shape, dtype=np.uint64)
        one, six_bits = np.uint64(1), np.uint64(63)
        for i in range(self.K):
            mask |= one << ((mixed >> np.uint64(6 * i)) & six_bits)
        return word, mask

    def might_contain(self, mixed: np.ndarray) -> np.ndarray:
        word, mask = self._slots(mixed)
        return (self._words[word] & mask) == mask

    def add(self, mixed: np.ndarray) -> None:
        word, mask = self._slots(mixed)
        # A fancy-indexed |= keeps only the last of keys sharing a word (ufunc.at is ~5x slower),
        # so repeat it for the keys whose bits did not land; each pass settles one per word.
        while word.size:
            self._words[word] |= mask
            lost = (self._words[word] & mask) != mask
            word, mask = word[lost], mask[lost]

    @property
    def nbytes(self) -> int:
        return self._words.nbytes


_BLOCK = 512  # keys per 4 KiB page of a spilled run


class _SpilledRun:
    """Sorted keys (then their values, row by row) in a temporary file; in memory only every
    512th key."""

    def __init__(self, path: str, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """``parts``: (keys, values) pieces, each sorted and above every key before it, written
        one after the other (no joined copy in memory)."""
        size = sum(keys.size for keys, _ in parts)
        pad = (-size) % _BLOCK  # whole pages: repeat the last key (lookups find its first copy)
        self.path, self.size, self.padded = path, size, size + pad
        self.width = parts[0][1].shape[1]
        fences, at = [], 0
        with open(path, "wb") as f:
            for keys, _ in parts:
                keys.tofile(f)
                fences.append(keys[(-at) % _BLOCK :: _BLOCK])  # keys at positions 0, 512, ...
                at += keys.size
            np.repeat(parts[-1][0][-1:], pad).tofile(f)
            if self.width:
                for _, values in parts:
                    np.ascontiguousarray(values).tofile(f)
        self.fences = np.concatenate(fences)

    def iter_keys(self, *, chunk: int = 1 << 20) -> Iterator[np.ndarray]:
        """The run's keys in pieces of ``chunk`` (bounded memory)."""
        with open(self.path, "rb") as f:
            for start in range(0, self.size, chunk):
                yield np.fromfile(f, dtype=np.uint64, count=min(chunk, self.size - start))

    def lookup(self, probe: np.ndarray, found: np.ndarray, values: np.ndarray) -> None:
        """Mark ``probe`` keys present in this run (and fetch their values) in place."""
        block = np.searchsorted(self.fences, probe, side="right") - 1
        cand = np.flatnonzero(block >= 0)
        if cand.size == 0:
            return
        mm = np.memmap(self.path, dtype=np.uint64, mode="r")  # unmapped below: pages leave RSS
        try:
            pages = mm[: self.padded].reshape(-1, _BLOCK)
            for lo in range(0, cand.size, 4096):  # bounded temporaries: 4096 x 512 comparisons
                idx = cand[lo : lo + 4096]
                rows = pages[block[idx]]
                pos = (rows < probe[idx, None]).sum(axis=1)
                hit = rows[np.arange(idx.size), np.minimum(pos, _BLOCK - 1)] == probe[idx]
                found[idx[hit]] = True
                if self.width:
                    at = (block[idx[hit]] * _BLOCK + pos[hit])[:, None] * self.width
                    values[idx[hit]] = mm[self.padded + at + np.arange(self.width)]
        finally:
            del mm


class SeenKeys:
    """Exact set of distinct 64-bit keys, each with ``value_width`` 64-bit values.

    Recent keys are kept in memory as sorted chunks; past ``memory_keys`` they are merged and
    spilled to a temporary file. In front, the range of keys seen and a Bloom filter answer for
    (nearly) every new key without touching either, so lookups cost O(batch) plus O(repeats x
    runs) page reads. The filter is only built once a key falls inside the range seen so far:
    keys that only grow (sequence numbers) never need it.
    """

    def __init__(self, *, memory_keys: int = 1 << 20, value_width: int = 1) -> None:
        self.memory_keys = max(1, memory_keys)
        self.value_width = value_width
        self._filter: _BloomFilter | None = None
        self._lo = self._hi = np.uint64(0)
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self._in_memory = 0
        self._runs: list[_SpilledRun] = []
        self._dir: str | None = None
        self._cleanup: weakref.finalize | None = None
        self.size = 0

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (found mask, stored values or 0: shape (keys, value_width)) for ``keys`` (distinct)."""
        found = np.zeros(keys.size, dtype=bool)
        values = np.zeros((keys.size, self.value_width), dtype=np.uint64)
        if self.size == 0 or keys.size == 0:
            return found, values
        maybe = np.flatnonzero((keys >= self._lo) & (keys <= self._hi))  # new ids often just grow
        if maybe.size:
            if self._filter is None:
                self._build_filter()
            assert self._filter is not None
            maybe = maybe[self._filter.might_contain(_mix(keys[maybe]))]
        if maybe.size == 0:
            return found, values
        probe = keys[maybe]
        sub_found = np.zeros(maybe.size, dtype=bool)
        sub_values = np.zeros((maybe.size, self.value_width), dtype=np.uint64)
        for chunk_keys, chunk_values in self._chunks:
            pos = np.minimum(np.searchsorted(chunk_keys, probe), chunk_keys.size - 1)
            hit = chunk_keys[pos] == probe
            sub_found |= hit
            sub_values[hit] = chunk_values[pos[hit]]
        for run in self._runs:
            run.lookup(probe, sub_found, sub_values)
        found[maybe] = sub_found
        values[maybe] = sub_values
        return found, values

    def add(self, keys: np.ndarray, values: np.ndarray | None = None) -> None:
        """Add ``keys`` (distinct, sorted, none already present) with their ``values``
        (shape (keys, value_width); may be omitted when the width is 0)."""
        if keys.size == 0:
            return
        if values is None:
            values = np.zeros((keys.size, self.value_width), dtype=np.uint64)
        values = values.reshape(keys.size, self.value_width)
        self._lo = keys[0] if self.size == 0 else min(self._lo, keys[0])
        self._hi = keys[-1] if self.size == 0 else max(self._hi, keys[-1])
        self._chunks.append((keys, values))
        self._in_memory += keys.size
        self.size += keys.size
        if self._filter is not None and self.size > self._filter.capacity:
            self._build_filter()
        elif self._filter is not None:
            self._filter.add(_mix(keys))
        if self._in_memory >= self.memory_keys:
            self._spill()

    def _build_filter(self) -> None:
        """A filter with room for the keys so far, twice over, built from them (amortised O(1))."""
        self._filter = None  # free the old one first
        self._filter = _BloomFilter(1 << max(16, (2 * self.size - 1).bit_length()))
        for run in self._runs:
            for part in run.iter_keys():
                self._filter.add(_mix(part))
        for chunk_keys, _ in self._chunks:
            self._filter.add(_mix(chunk_keys))

    def _spill(self) -> None:
        parts = self._chunks
        if not all(a[-1] < b[0] for (a, _), (b, _) in itertools.pairwise(parts)):
            keys = np.concatenate([k for k, _ in parts])
            order = np.argsort(keys, kind="stable")  # the chunks are sorted runs: a linear merge
            parts = [(keys[order], np.concatenate([v for _, v in parts])[order])]
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="maestro-keys-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        path = os.path.join(self._dir, f"run-{len(self._runs):05d}.u64")
        self._runs.append(_SpilledRun(path, parts))
        self._chunks, self._in_memory = [], 0
        faults.point("contracts.keys_spilled")

    def close(self) -> None:
        """Remove the spill files now (they are also removed when the set is collected)."""
        if self._cleanup is not None:
            self._cleanup()
        self._chunks, self._runs = [], []

    @property
    def memory_bytes(self) -> int:
        chunks = sum(k.nbytes + v.nbytes for k, v in self._chunks)
        filter_bytes = self._filter.nbytes if self._filter is not None else 0
        return filter_bytes + chunks + sum(r.fences.nbytes for r in self._runs)


def group_firsts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group equal keys: (stable sort order, True at each group's first row in that order, group id)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    start = np.empty(keys.size, dtype=bool)
    start[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=start[1:])
    return order, start, np.cumsum(start) - 1
