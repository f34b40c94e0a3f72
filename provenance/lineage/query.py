"""Lineage questions answered from the ledger: upstream, downstream, column lineage, run history.

The index is built in memory from every OpenLineage entry of the ledger (other entries are
skipped) and refreshed incrementally as the ledger grows (:meth:`LineageIndex.refresh` reads only
new entries). At our scale — thousands to a few hundred thousand events — that is fast and
simple; a larger deployment would persist the index next to the ledger. The ledger is a local
directory (opened read-only for each refresh, exactly as before) or an ``s3://bucket/prefix``
URI: the index then keeps that ledger open read-only between refreshes (opening downloads every
batch object; a refresh lists only the new ones) until :meth:`LineageIndex.close`.

Semantics:

- **Datasets** are identified by (namespace, name). Names linked by a ``symlinks`` facet are
  aliases of one dataset (union-find): the DuckDB copy ``bronze.orders`` and the Delta table it
  was published from are one node, so lineage flows from dbt models into the ingest of the Delta
  table and on to the source files.
- **Dataset edges** are input -> output pairs of each run, merged over all events of the run
  (START may name outputs, COMPLETE adds inputs) and over all runs in the ledger, whatever their
  outcome: a failed ingest may still have committed some inputs (each input commits on its own),
  so history counts. Each node in an answer lists the jobs that link it.
- **Column edges** come from ``columnLineage`` facets: output (dataset, column) <- input
  (dataset, column), with the transformation type; traced transitively to the source columns
  (columns with no further upstream).
- **Runs** of a dataset are the runs that read or wrote it, newest first, with their state (the
  last lifecycle event), times, row counts and the ledger index of each event (for proofs).

Answers are plain JSON-serialisable dicts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.lineage.entry import parse_entry
from provenance.lineage.exceptions import UnknownDatasetError
from provenance.lineage.location import (
    is_uri,
    ledger_exists,
    ledger_location,
    open_ledger,
    s3_client,
)
from provenance.lineage.naming import DatasetRef

if TYPE_CHECKING:
    from provenance.ledger import LedgerStore

__all__ = ["LineageIndex"]

DEFAULT_DEPTH = 20
_TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


@dataclass
class _Run:
    run_id: str
    job: str = ""
    parent: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    inputs: set[DatasetRef] = field(default_factory=set)
    outputs: set[DatasetRef] = field(default_factory=set)
    stats: dict[tuple[str, DatasetRef], dict[str, Any]] = field(default_factory=dict)


class LineageIndex:
    """An in-memory lineage graph over the OpenLineage entries of a ledger."""

    def __init__(self) -> None:
        self.size = 0  # entries read so far
        self._parent: dict[DatasetRef, DatasetRef] = {}
        self._runs: dict[str, _Run] = {}
        # column -> output dataset -> {(input dataset, input column, type, subtype)}
        self._columns: dict[str, dict[DatasetRef, set[tuple[DatasetRef, str, str, str]]]] = {}
        self._known: set[DatasetRef] = set()
        self._remote: tuple[str, str | None, LedgerStore] | None = None  # open S3 ledger

    def close(self) -> None:
        """Release an object-store ledger held open between refreshes (no-op for a local one)."""
        if self._remote is not None:
            self._remote[2].close()
            self._remote = None

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def from_ledger(cls, ledger_dir: str | Path, *, endpoint_url: str | None = None) -> LineageIndex:
        """Index the ledger at ``ledger_dir`` (a directory or ``s3://`` URI; none there: empty)."""
        index = cls()
        try:
            index.refresh(ledger_dir, endpoint_url=endpoint_url)
        except BaseException:
            index.close()
            raise
        return index

    def refresh(self, ledger_dir: str | Path, *, endpoint_url: str | None = None) -> int:
        """Read entries appended since the last refresh; return how many were read.

        ``endpoint_url`` overrides the AWS default chain's S3 endpoint of an ``s3://`` ledger.
        """
        location = ledger_location(ledger_dir)
        if is_uri(location):
            return self._refresh_remote(str(location), endpoint_url)
        if not (Path(location) / "ledger.json").exists():
            return 0
        with open_ledger(location, read_only=True) as ledger:
            return self._read(ledger.store)

    def _refresh_remote(self, location: str, endpoint_url: str | None) -> int:
        if self._remote is not None and self._remote[:2] != (location, endpoint_url):
            self.close()  # asked about another ledger: this index is not meant for two
        if self._remote is None:
            client = s3_client(endpoint_url)
            if not ledger_exists(location, client=client):
                return 0
            ledger = open_ledger(location, read_only=True, client=client)
            self._remote = (location, endpoint_url, ledger.store)
            return self._read(ledger.store)
        store = self._remote[2]
        refresh = getattr(store, "refresh", None)
        if refresh is not None:
            refresh()  # load the batches other writers appended since
        return self._read(store)

    def _read(self, store: LedgerStore) -> int:
        size, start = store.size, self.size
        for i in range(start, size):
            self.add_entry(i, store.entry(i))
        return size - start

    def add_entry(self, index: int, data: bytes) -> None:
        doc = parse_entry(data)
        if doc is not None:
            self.add_event(doc, index=index)
        self.size = max(self.size, index + 1)

    def add_event(self, doc: Mapping[str, Any], *, index: int | None = None) -> None:
        """Index one event (RunEvent, JobEvent or DatasetEvent as a dict)."""
        job = doc.get("job") if isinstance(doc.get("job"), Mapping) else None
        run = doc.get("run") if isinstance(doc.get("run"), Mapping) else None
        job_key = f"{job.get('namespace')}/{job.get('name')}" if job else ""
        if run is not None and run.get("runId"):
            rec = self._runs.setdefault(str(run["runId"]), _Run(str(run["runId"])))
        elif job is not None:  # a JobEvent: static lineage under a pseudo-run per job
            rec = self._runs.setdefault(f"job:{job_key}", _Run(f"job:{job_key}"))
        else:
            rec = None
        if rec is not None:
            rec.job = rec.job or job_key
            parent = ((run or {}).get("facets") or {}).get("parent") or {}
            if isinstance(parent, Mapping) and isinstance(parent.get("run"), Mapping):
                pjob = parent.get("job") or {}
                rec.parent = (
                    f"{pjob.get('namespace')}/{pjob.get('name')}#{parent['run'].get('runId')}"
                )
            rec.events.append(
                {
                    "eventType": doc.get("eventType") or "OTHER",
                    "eventTime": doc.get("eventTime"),
                    "index": index,
                }
            )
        for side in ("inputs", "outputs"):
            for ds in doc.get(side) or []:
                ref = self._add_dataset(ds)
                if ref is None or rec is None:
                    continue
                (rec.inputs if side == "inputs" else rec.outputs).add(ref)
                stat_key = "inputStatistics" if side == "inputs" else "outputStatistics"
                stats = (ds.get("inputFacets" if side == "inputs" else "outputFacets") or {}).get(
                    stat_key
                )
                if isinstance(stats, Mapping):
                    rec.stats[(side, ref)] = {
                        k: stats[k] for k in ("rowCount", "size", "fileCount") if k in stats
                    }
        if isinstance(doc.get("dataset"), Mapping):
            self._add_dataset(doc["dataset"])

    def _add_dataset(self, ds: Any) -> DatasetRef | None:
        if not isinstance(ds, Mapping) or not ds.get("namespace") or not ds.get("name"):
            return None
        ref = DatasetRef(str(ds["namespace"]), str(ds["name"]))
        self._known.add(ref)
        facets = ds.get("facets") or {}
        links = (facets.get("symlinks") or {}).get("identifiers") or []
        for link in links:
            if isinstance(link, Mapping) and link.get("namespace") and link.get("name"):
                target = DatasetRef(str(link["namespace"]), str(link["name"]))
                self._known.add(target)
                self._union(ref, target)
        lineage = (facets.get("columnLineage") or {}).get("fields") or {}
        if isinstance(lineage, Mapping):
            for column, spec in lineage.items():
                for f in (spec or {}).get("inputFields") or []:
                    keys = ("namespace", "name", "field")
                    if not isinstance(f, Mapping) or not all(f.get(k) for k in keys):
                        continue
                    trans = (f.get("transformations") or [{}])[0] or {}
                    src = DatasetRef(str(f["namespace"]), str(f["name"]))
                    self._known.add(src)
                    self._columns.setdefault(str(column), {}).setdefault(ref, set()).add(
                        (
                            src,
                            str(f["field"]),
                            str(trans.get("type") or "DIRECT"),
                            str(trans.get("subtype") or ""),
                        )
                    )
        return ref

    # -- aliases (union-find; the symlink target becomes the representative) -----------------

    def _find(self, ref: DatasetRef) -> DatasetRef:
        root = ref
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        while self._parent.get(ref, ref) != root:  # path compression
            self._parent[ref], ref = root, self._parent[ref]
        return root

    def _union(self, alias: DatasetRef, target: DatasetRef) -> None:
        a, t = self._find(alias), self._find(target)
        if a != t:
            self._parent[a] = t

    def aliases(self, ref: DatasetRef) -> list[DatasetRef]:
        root = self._find(ref)
        return sorted(r for r in self._known if self._find(r) == root)

    def resolve(self, ref: DatasetRef) -> DatasetRef:
        """The dataset's representative; raises UnknownDatasetError if no event names it."""
        if ref not in self._known:
            raise UnknownDatasetError(
                f"dataset {ref.namespace} {ref.name} is not in any lineage event of the ledger; "
                "check the namespace and name (see `upstream` of a dataset you know)"
            )
        return self._find(ref)

    def _node(self, ref: DatasetRef) -> dict[str, Any]:
        root = self._find(ref)
        return {
            "namespace": root.namespace,
            "name": root.name,
            "aliases": [a.as_dict() for a in self.aliases(root) if a != root],
        }

    # -- queries -----------------------------------------------------------------------------

    def _edges(self) -> dict[DatasetRef, dict[DatasetRef, set[str]]]:
        """Canonical output -> {canonical input: jobs}."""
        out: dict[DatasetRef, dict[DatasetRef, set[str]]] = {}
        for rec in self._runs.values():
            for o in rec.outputs:
                for i in rec.inputs:
                    co, ci = self._find(o), self._find(i)
                    if co != ci:
                        out.setdefault(co, {}).setdefault(ci, set()).add(rec.job)
        return out

    def _walk(self, ref: DatasetRef, *, upstream: bool, depth: int) -> dict[str, Any]:
        start = self.resolve(ref)
        edges = self._edges()
        if not upstream:
            reverse: dict[DatasetRef, dict[DatasetRef, set[str]]] = {}
            for o, ins in edges.items():
                for i, jobs in ins.items():
                    reverse.setdefault(i, {}).setdefault(o, set()).update(jobs)
            edges = reverse
        seen = {start: 0}
        queue = deque([start])
        nodes, links = [], []
        while queue:
            cur = queue.popleft()
            if seen[cur] >= depth:
                continue
            for nxt, jobs in sorted(edges.get(cur, {}).items()):
                src, dst = (nxt, cur) if upstream else (cur, nxt)
                links.append({"from": src.uri, "to": dst.uri, "jobs": sorted(jobs)})
                if nxt not in seen:
                    seen[nxt] = seen[cur] + 1
                    nodes.append({**self._node(nxt), "uri": nxt.uri, "distance": seen[nxt]})
                    queue.append(nxt)
        return {
            "dataset": {**self._node(start), "uri": start.uri},
            "direction": "upstream" if upstream else "downstream",
            "depth": depth,
            "datasets": nodes,
            "edges": links,
        }

    def upstream(self, ref: DatasetRef, *, depth: int = DEFAULT_DEPTH) -> dict[str, Any]:
        """Datasets the given one is derived from, transitively (up to ``depth`` hops)."""
        return self._walk(ref, upstream=True, depth=depth)

    def downstream(self, ref: DatasetRef, *, depth: int = DEFAULT_DEPTH) -> dict[str, Any]:
        """Datasets derived from the given one, transitively (up to ``depth`` hops)."""
        return self._walk(ref, upstream=False, depth=depth)

    def _column_inputs(self, ref: DatasetRef, column: str) -> set[tuple[DatasetRef, str, str, str]]:
        root = self._find(ref)
        found: set[tuple[DatasetRef, str, str, str]] = set()
        for out, inputs in self._columns.get(column, {}).items():
            if self._find(out) == root:
                found.update((self._find(i), f, t, s) for i, f, t, s in inputs)
        return found

    def columns(
        self, ref: DatasetRef, column: str, *, depth: int = DEFAULT_DEPTH, direct_only: bool = False
    ) -> dict[str, Any]:
        """The input columns ``column`` is computed from, transitively, and its source columns.

        ``direct_only`` follows only DIRECT edges (values flow), not INDIRECT ones (filters,
        conditions).
        """
        start = self.resolve(ref)
        seen = {(start, column): 0}
        queue = deque([(start, column)])
        upstream, sources = [], []
        while queue:
            ds, col = queue.popleft()
            inputs = sorted(self._column_inputs(ds, col))
            if direct_only:
                inputs = [x for x in inputs if x[2] == "DIRECT"]
            if not inputs and (ds, col) != (start, column):
                sources.append({"namespace": ds.namespace, "name": ds.name, "field": col})
            if seen[(ds, col)] >= depth:
                continue
            for src, f, typ, sub in inputs:
                entry = {
                    "namespace": src.namespace,
                    "name": src.name,
                    "field": f,
                    "from": {"namespace": ds.namespace, "name": ds.name, "field": col},
                    "type": typ,
                    "subtype": sub or None,
                    "distance": seen[(ds, col)] + 1,
                }
                upstream.append(entry)
                if (src, f) not in seen:
                    seen[(src, f)] = seen[(ds, col)] + 1
                    queue.append((src, f))
        return {
            "dataset": {**self._node(start), "uri": start.uri},
            "field": column,
            "depth": depth,
            "upstream": upstream,
            "sources": sorted(sources, key=lambda s: (s["namespace"], s["name"], s["field"])),
        }

    def runs(self, ref: DatasetRef, *, limit: int = 50) -> dict[str, Any]:
        """Runs that read or wrote the dataset (any alias), newest first."""
        root = self.resolve(ref)
        out = []
        for rec in self._runs.values():
            roles = []
            if any(self._find(o) == root for o in rec.outputs):
                roles.append("output")
            if any(self._find(i) == root for i in rec.inputs):
                roles.append("input")
            if not roles or rec.run_id.startswith("job:"):
                continue
            events = sorted(rec.events, key=lambda e: (str(e["eventTime"]), e["index"] or 0))
            terminal = [e for e in events if e["eventType"] in _TERMINAL]
            stats = {side: st for (side, r), st in rec.stats.items() if self._find(r) == root}
            out.append(
                {
                    "runId": rec.run_id,
                    "job": rec.job,
                    "roles": roles,
                    "parent": rec.parent,
                    "state": (terminal[-1] if terminal else events[-1])["eventType"]
                    if events
                    else None,
                    "startTime": events[0]["eventTime"] if events else None,
                    "endTime": terminal[-1]["eventTime"] if terminal else None,
                    "rowCount": (stats.get("outputs") or {}).get("rowCount"),
                    "bytes": (stats.get("outputs") or {}).get("size"),
                    "inputRowCount": (stats.get("inputs") or {}).get("rowCount"),
                    "events": events,
                }
            )
        out.sort(key=lambda r: str(r["startTime"]), reverse=True)
        return {
            "dataset": {**self._node(root), "uri": root.uri},
            "runs": out[:limit],
            "total": len(out),
        }

    def datasets(self) -> list[dict[str, Any]]:
        """Every dataset (representative names) the ledger's events mention."""
        roots = sorted({self._find(r) for r in self._known})
        return [{**self._node(r), "uri": r.uri} for r in roots]
