"""The kill-point harness: kill real ingest processes at every crash-sensitive moment, re-run once,
and check that the platform converged with nothing lost, doubled, stranded or unrecorded.

A *scenario* sets up a Maestro home with real inputs (files in a drop folder, a CSV export, an
``s3://`` lake on moto behind a fault proxy ...) and names the datasets one ingest run covers and
how it runs (``pipeline``: what the ingest asset calls; ``dagster``: the ingest assets as a Dagster
run, with lineage into the ledger). For each scenario the harness

1. runs it once clean, in a fresh home, as the *oracle*: the bronze and quarantine rows every
   later trial must end with, and (traced) the fault points the run crosses;
2. for every fault point crossed (each hit of it) and for a few random moments, runs it in a fresh
   home as a worker process that SIGKILLs itself there (:mod:`faults`), then re-runs it once
   without faults;
3. checks the invariants on the result (:func:`check`) and records, per trial, where the kill
   landed (the fault log's last line: the point and its hit, or the last point crossed before a
   random-time kill).

Invariants after the single re-run: bronze and quarantine hold exactly the oracle's rows (none
lost, none twice, the quarantine never doubled); no input file is left in the drop folder or in
``_processing`` and every input file's bytes are in the archive or the drop quarantine (none
overwritten or lost); every bronze ``_source_uri`` resolves to a file or object that exists; for
``dagster`` scenarios every ingest commit is recorded in the ledger and the ledger verifies; no
scratch files of the killed process remain.

``python -m tests.harness.killpoints [--scenario NAME] [--random N] [--out FILE]`` runs the
campaign and prints one line per trial and a summary table; ``tests/harness/test_killpoints.py``
runs a sample of it in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
WORKER_TIMEOUT_S = 300
VOLATILE = {"_ingested_at", "_manifest_id", "_quarantined_at", "_source_uri", "_errors"}


@dataclass
class Home:
    """One trial's Maestro home: where things are, and the environment of its processes."""

    root: Path
    env: dict[str, str]
    drop_folders: list[Path] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)  # original file name -> sha256
    s3_client: Any = None

    @property
    def home(self) -> Path:
        return self.root / "home"


@dataclass
class Scenario:
    name: str
    mode: str  # "pipeline" | "dagster"
    datasets: list[str]
    prepare: Callable[[Path], contextlib.AbstractContextManager[Home]]
    ledger: bool = False


@dataclass
class Trial:
    scenario: str
    target: str  # "<point>@<hit>" or "random:<seconds>"
    landed: str  # where the kill landed, "finished" when the run ended before it
    killed: bool
    rerun_rc: int
    violations: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.violations


# -- scenarios ---------------------------------------------------------------------------------


def _base_env(root: Path, sources: list[dict[str, Any]], **extra: str) -> dict[str, str]:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    sources_file = home / "sources.yaml"
    sources_file.write_text(yaml.safe_dump({"sources": sources}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "DAGSTER_"))}
    env.update(
        MAESTRO_HOME=str(home),
        MAESTRO_SOURCES=str(sources_file),
        DAGSTER_HOME=str(home / "dagster"),
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def _drop_inputs(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    inputs = {}
    old = time.time() - 3600
    for src in sorted((SAMPLES / "orders").glob("*.csv")):
        dest = folder / src.name
        shutil.copy(src, dest)
        os.utime(dest, (old, old))
        inputs[src.name] = hashlib.sha256(src.read_bytes()).hexdigest()
    return inputs


@contextlib.contextmanager
def drop_home(root: Path) -> Iterator[Home]:
    folder = root / "drop" / "orders"
    spec = {"name": "orders_drop", "kind": "file_drop", "dataset": "orders", "folder": str(folder),
            "settle_seconds": 1, "options": {"null_values": ["", "NA"]}}
    env = _base_env(root, [spec])
    yield Home(root, env, drop_folders=[folder], inputs=_drop_inputs(folder))



@contextlib.contextmanager
def s3_lake_home(root: Path) -> Iterator[Home]:
    """Drop files into an ``s3://`` lake on moto behind a proxy that loses commit responses."""
    from connectors.s3.local_server import local_s3_server
    from tests.harness.s3_faults import fault_proxy_process

    rules, log = root / "s3-rules.json", root / "s3-faults.jsonl"
    # Every third commit to a table's log lands but its response is lost (an ambiguous commit).
    rules.write_text(json.dumps({"seed": 7, "rules": [
        {"action": "lost_response", "method": "PUT", "path": r"/_delta_log/0+[1-9][0-9]*\.json$",
         "probability": 0.34},
    ]}))
    with local_s3_server(separate_process=True) as s3:
        s3.client().create_bucket(Bucket="lake")
        with fault_proxy_process(s3.endpoint_url, rules, log) as proxy:
            folder = root / "drop" / "orders"
            spec = {"name": "orders_drop", "kind": "file_drop", "dataset": "orders", "folder": str(folder),
                    "settle_seconds": 1, "options": {"null_values": ["", "NA"]}}
            env = _base_env(root, [spec], MAESTRO_LAKE_URI="s3://lake/maestro",
                            **{**s3.env(), "AWS_ENDPOINT_URL": proxy})
            yield Home(root, env, drop_folders=[folder], inputs=_drop_inputs(folder), s3_client=s3.client())


@contextlib.contextmanager
def csv_home(root: Path) -> Iterator[Home]:
    export = root / "exports"
    export.mkdir(parents=True)
    shutil.copy(SAMPLES / "customers.csv", export / "customers.csv")
    spec = {"name": "crm_csv", "kind": "csv", "dataset": "customers", "paths": [str(export / "*.csv")],
            "options": {"null_values": ["", "NA"]}}
    yield Home(root, _base_env(root, [spec]))


@contextlib.contextmanager
def pull_home(root: Path) -> Iterator[Home]:
    """The products API pulled incrementally (keyset pages), served on loopback for the trial."""
    import secrets

    from connectors.http_pull.sample_api import create_app, sample_products
    from sandbox.servers import serve_app

    token = secrets.token_urlsafe(16)
    with serve_app(create_app(token=token, products=sample_products(120))) as url:
        spec = {"name": "catalogue_api", "kind": "http_pull", "dataset": "products",
                "url": f"{url}/products", "auth": {"token_env": "SAMPLE_API_TOKEN"}, "format": "json",
                "record_path": "data.items", "pagination": {"type": "keyset", "size_param": "page_size",
                                                            "page_size": 25},
                "incremental": {"cursor_field": "updated_at", "param": "updated_since",
                                "id_field": "id", "id_param": "after_id"},
                "timeout_s": 10, "max_retries": 2}
        yield Home(root, _base_env(root, [spec], SAMPLE_API_TOKEN=token))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("drop", "pipeline", ["orders"], drop_home),
        Scenario("drop-dagster", "dagster", ["orders"], drop_home, ledger=True),
        Scenario("csv-dagster", "dagster", ["customers"], csv_home, ledger=True),
        Scenario("s3-lake-ambiguous", "pipeline", ["orders"], s3_lake_home),
        Scenario("pull", "pipeline", ["products"], pull_home),
        Scenario("pull-dagster", "dagster", ["products"], pull_home, ledger=True),
    )
}


# -- running -----------------------------------------------------------------------------------


def run_worker(scenario: Scenario, home: Home, *, faults: str = "", log: Path | None = None,
               trace: bool = False, kill_after_s: float | None = None) -> int:
    env = dict(home.env)
    if faults:
        env["MAESTRO_FAULTS"] = faults
    if log is not None:
        env["MAESTRO_FAULTS_LOG"] = str(log)
    if trace:
        env["MAESTRO_FAULTS_TRACE"] = "1"
    cmd = [sys.executable, "-m", "tests.harness.worker", scenario.mode, *scenario.datasets]
    with open(home.root / "worker.log", "a") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            if kill_after_s is not None:
                try:
                    return proc.wait(timeout=kill_after_s)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
            return proc.wait(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{scenario.name}: worker did not finish in {WORKER_TIMEOUT_S} s") from None


def _log_lines(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(x) for x in log.read_text().splitlines() if x.strip()]


# -- checking ----------------------------------------------------------------------------------


def _lake(home: Home) -> Any:
    """The trial's lake, with the trial's own object-store environment (not this process's)."""
    from config.settings import Settings
    from lake.delta import Lake

    settings = Settings.from_env(home.env)
    return Lake(root=settings.lake_uri, storage_options=settings.lake_storage_options(home.env))


def _table_rows(home: Home, layer: str, dataset: str) -> Counter:
    from lake.delta import open_table

    lake = _lake(home)
    dt = open_table(lake.table_uri(layer, dataset), storage_options=lake.options())
    if dt is None:
        return Counter()
    table = dt.to_pyarrow_table()
    names = [n for n in table.column_names if n not in VOLATILE]
    sources = [os.path.basename(u or "").split("__", 1)[-1] for u in table.column("_source_uri").to_pylist()]
    cols = [table.column(n).to_pylist() for n in names]
    return Counter(
        tuple(json.dumps(c[i], default=str) for c in cols) + (sources[i],) for i in range(table.num_rows)
    )


def lake_rows(home: Home, datasets: list[str]) -> dict[str, Counter]:
    layers = ("bronze", "quarantine")
    return {f"{layer}/{ds}": _table_rows(home, layer, ds) for ds in datasets for layer in layers}


def _diff(name: str, got: Counter, want: Counter) -> list[str]:
    if got == want:
        return []
    missing, extra = want - got, got - want
    return [f"{name}: {sum(missing.values())} rows missing, {sum(extra.values())} extra "
            f"(have {sum(got.values())}, want {sum(want.values())})"]


def _pointers(home: Home, datasets: list[str]) -> list[str]:
    from urllib.parse import unquote, urlparse

    from lake.delta import open_table

    lake = _lake(home)
    problems = []
    for ds in datasets:
        dt = open_table(lake.table_uri("bronze", ds), storage_options=lake.options())
        if dt is None:
            continue
        for uri in set(dt.to_pyarrow_table(columns=["_source_uri"]).column(0).to_pylist()):
            parsed = urlparse(uri)
            if parsed.scheme == "file" and not Path(unquote(parsed.path)).exists():
                problems.append(f"bronze/{ds}: _source_uri {uri} does not exist")
            if parsed.scheme == "s3" and home.s3_client is not None:
                try:
                    home.s3_client.head_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
                except Exception:
                    problems.append(f"bronze/{ds}: _source_uri {uri} does not exist")
    return problems


def _drop_folders(home: Home) -> list[str]:
    problems = []
    for folder in home.drop_folders:
        left = [p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        if left:
            problems.append(f"{folder.name}: files left in the drop folder: {sorted(left)}")
        processing = folder / "_processing"
        claimed = processing.rglob("*") if processing.exists() else []
        stranded = [str(p.relative_to(folder)) for p in claimed if p.is_file()]
        if stranded:
            problems.append(f"{folder.name}: files stranded in _processing: {stranded}")
        kept = set()
        for sub in ("_archive", "_quarantine"):
            for p in (folder / sub).rglob("*"):
                if p.is_file() and not p.name.endswith((".json", ".tmp")):
                    kept.add(hashlib.sha256(p.read_bytes()).hexdigest())
        lost = sorted(name for name, digest in home.inputs.items() if digest not in kept)
        if lost:
            problems.append(f"{folder.name}: input files whose bytes are nowhere: {lost}")
    return problems


def _ledger(home: Home, datasets: list[str]) -> list[str]:
    from config.settings import Settings
    from provenance.lineage import LineageSettings
    from provenance.lineage.recovery import missing_from_ledger

    settings = Settings.from_env(home.env)
    lake = _lake(home)
    problems = []
    with LineageSettings.from_settings(settings).open_ledger(read_only=True) as ledger:
        report = ledger.verify()
        if not report.ok:
            problems.append(f"ledger does not verify: {report.summary()}")
        for ds in datasets:
            tables = {layer: lake.table_uri(layer, ds) for layer in ("bronze", "quarantine")}
            missing = missing_from_ledger(ledger, ds, tables, storage_options=lake.options())
            for layer, versions in missing.items():
                if versions:
                    problems.append(f"{layer}/{ds}: commits {versions} are not in the ledger")
    return problems


def _scratch(home: Home) -> list[str]:
    root = home.home / "tmp"
    left = [str(p.relative_to(root)) for p in root.rglob("*")] if root.exists() else []
    return [f"scratch files left: {left[:5]}"] if left else []


def check(scenario: Scenario, home: Home, oracle: dict[str, Counter]) -> list[str]:
    problems: list[str] = []
    for name, rows in lake_rows(home, scenario.datasets).items():
        problems += _diff(name, rows, oracle[name])
    problems += _pointers(home, scenario.datasets)
    problems += _drop_folders(home)
    problems += _scratch(home)
    if scenario.ledger:
        problems += _ledger(home, scenario.datasets)
    return problems


# -- the campaign ------------------------------------------------------------------------------


@dataclass
class Plan:
    scenario: Scenario
    oracle: dict[str, Counter]
    points: list[str]  # "<point>@<hit>" in the order the clean run crossed them
    clean_s: float
    window: tuple[float, float]  # seconds after start when the clean run crossed its first and last point


def plan(scenario: Scenario, work: Path) -> Plan:
    root = Path(tempfile.mkdtemp(prefix=f"oracle-{scenario.name}-", dir=work))
    log = root / "trace.jsonl"
    with scenario.prepare(root) as home:
        t0, started = time.perf_counter(), time.time()
        rc = run_worker(scenario, home, log=log, trace=True)
        clean_s = time.perf_counter() - t0
        if rc != 0:
            raise RuntimeError(f"{scenario.name}: the clean run failed (see {root / 'worker.log'})")
        oracle = lake_rows(home, scenario.datasets)
        problems = check(scenario, home, oracle)
        if problems:
            raise RuntimeError(f"{scenario.name}: the clean run breaks the invariants: {problems}")
    lines = _log_lines(log)
    points = [f"{x['point']}@{x['hit']}" for x in lines]
    window = (lines[0]["at"] - started, lines[-1]["at"] - started) if lines else (0.0, clean_s)
    return Plan(scenario, oracle, points, clean_s, window)


def trial(p: Plan, work: Path, *, point: str | None = None, delay_s: float | None = None) -> Trial:
    scenario = p.scenario
    root = Path(tempfile.mkdtemp(prefix=f"trial-{scenario.name}-", dir=work))
    log = root / "faults.jsonl"
    t0 = time.perf_counter()
    with scenario.prepare(root) as home:
        if point is not None:
            name, _, hit = point.rpartition("@")
            rc = run_worker(scenario, home, faults=f"{name}@{hit}=kill", log=log)
            target = point
        else:
            assert delay_s is not None
            rc = run_worker(scenario, home, log=log, trace=True, kill_after_s=delay_s)
            target = f"random:{delay_s:.2f}s"
        lines = _log_lines(log)
        killed = rc == -signal.SIGKILL
        if not killed:
            landed = "finished"
        elif lines:
            last = lines[-1]
            landed = f"{last['point']}@{last['hit']}" + ("" if last["action"] == "kill" else " (then killed)")
        else:
            landed = "before any point"
        rerun = run_worker(scenario, home)
        violations = check(scenario, home, p.oracle)
        if rerun != 0:
            violations.append(f"the re-run exited {rerun} (see {root / 'worker.log'})")
    return Trial(scenario.name, target, landed, killed, rerun, violations, time.perf_counter() - t0)


def campaign(
    names: list[str],
    *,
    random_kills: int,
    seed: int,
    work: Path,
    report: Callable[[Trial], None] = lambda t: None,
    points_limit: int | None = None,
) -> list[Trial]:
    rng = random.Random(seed)
    trials = []
    for name in names:
        p = plan(SCENARIOS[name], work)
        chosen = p.points if points_limit is None else p.points[:points_limit]
        for point in chosen:
            trials.append(t := trial(p, work, point=point))
            report(t)
        # Random moments around the stretch where the clean run crossed its points (commits and
        # the bookkeeping between them), a little before the first and after the last.
        lo, hi = max(0.2, p.window[0] - 0.5), p.window[1] + 0.5
        for _ in range(random_kills):
            trials.append(t := trial(p, work, delay_s=rng.uniform(lo, hi)))
            report(t)
    return trials


def summary(trials: list[Trial]) -> str:
    lines = ["| scenario | kill moments | killed | landed at distinct points | converged | violations |",
             "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(t.scenario for t in trials):
        ts = [t for t in trials if t.scenario == name]
        distinct = len({t.landed for t in ts if t.killed})
        lines.append(f"| {name} | {len(ts)} | {sum(t.killed for t in ts)} | {distinct} | "
                     f"{sum(t.ok for t in ts)} | {sum(len(t.violations) for t in ts)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    ap.add_argument("--random", type=int, default=3, help="random-time kills per scenario")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="write every trial as JSON lines here")
    ap.add_argument("--keep", action="store_true", help="keep the trial folders")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="maestro-killpoints-"))
    out = open(args.out, "w") if args.out else None  # noqa: SIM115

    def report(t: Trial) -> None:
        mark = "ok  " if t.ok else "FAIL"
        print(f"{mark} {t.scenario:<20} kill at {t.target:<45} landed {t.landed:<45} "
              f"{t.seconds:5.1f}s {'; '.join(t.violations)}", flush=True)
        if out:
            out.write(json.dumps(asdict(t)) + "\n")
            out.flush()

    try:
        trials = campaign(args.scenario or sorted(SCENARIOS), random_kills=args.random, seed=args.seed,
                          work=work, report=report)
    finally:
        if out:
            out.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(summary(trials))
    return 0 if all(t.ok for t in trials) else 1


if __name__ == "__main__":
    sys.exit(main())
