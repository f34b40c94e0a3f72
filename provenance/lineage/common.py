"""Building blocks shared by every event builder: run identity, job and run facets, versions.

Contract: builders produce ``openlineage.client.event_v2.RunEvent`` objects that validate against
the official OpenLineage schemas; they describe data by names, schemas, URIs, hashes and counts,
never by row values. Run ids are UUIDs; :func:`stable_run_id` derives one from the Dagster run id
and the job name so the START and the COMPLETE/FAIL of one asset agree without shared state.
"""

from __future__ import annotations

import functools
import subprocess
import traceback
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from openlineage.client.constants import __version__ as OPENLINEAGE_CLIENT_VERSION
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    JobFacet,
    RunFacet,
    documentation_job,
    error_message_run,
    job_type_job,
    nominal_time_run,
    parent_run,
    processing_engine_run,
    source_code_location_job,
    sql_job,
)

from provenance.lineage.datasets import DatasetSpec
from provenance.lineage.exceptions import EventBuildError
from provenance.lineage.naming import JOB_NAMESPACE, PARENT_JOB_NAMESPACE, path_in_repo
from provenance.lineage.settings import REPO_ROOT

__all__ = [
    "OPENLINEAGE_CLIENT_VERSION",
    "EventKind",
    "RunContext",
    "job_facets",
    "package_version",
    "producer_uri",
    "run_event",
    "run_facets",
    "stable_run_id",
]

EventKind = Literal["START", "COMPLETE", "FAIL", "ABORT", "RUNNING", "OTHER"]
_RUN_ID_NAMESPACE = uuid.UUID("6f1c3a52-2d3e-5b8c-9a41-6d2a9e0c7b15")


@functools.cache
def package_version() -> str:
    """The installed maestro-conductor version (``0+unknown`` when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("maestro-conductor")
    except PackageNotFoundError:
        return "0+unknown"


def producer_uri() -> str:
    """The ``producer`` of every event and facet Maestro builds."""
    return f"https://maestro-conductor.dev/maestro-conductor/{package_version()}"


def stable_run_id(parent_run_id: str, job_name: str) -> str:
    """A run id (UUID) fixed by the Dagster run id and the job: START and COMPLETE agree."""
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{parent_run_id}/{job_name}"))


def _check_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as err:
        raise EventBuildError(
            f"{what} {value!r} is not a UUID; OpenLineage run ids are UUIDs"
        ) from err


@dataclass(frozen=True)
class RunContext:
    """Who runs: this run's id, the Dagster run that launched it, and its nominal time.

    Build it with :meth:`for_dagster` in asset code; pass the same values at START and at
    COMPLETE/FAIL and both events carry the same run id.
    """

    run_id: str
    parent_run_id: str | None = None
    parent_job_name: str | None = None
    parent_job_namespace: str = PARENT_JOB_NAMESPACE
    nominal_start: datetime | None = None
    nominal_end: datetime | None = None

    def __post_init__(self) -> None:
        _check_uuid(self.run_id, "run id")
        if self.parent_run_id is not None:
            _check_uuid(self.parent_run_id, "parent (Dagster) run id")
            if not self.parent_job_name:
                raise EventBuildError("a parent run id needs the parent job's name")

    @classmethod
    def for_dagster(
        cls,
        *,
        dagster_run_id: str,
        dagster_job_name: str,
        job_name: str,
        nominal_start: datetime | None = None,
        nominal_end: datetime | None = None,
    ) -> RunContext:
        """The run of ``job_name`` inside Dagster run ``dagster_run_id`` (a UUID)."""
        return cls(
            run_id=stable_run_id(_check_uuid(dagster_run_id, "Dagster run id"), job_name),
            parent_run_id=dagster_run_id,
            parent_job_name=dagster_job_name,
            nominal_start=nominal_start,
            nominal_end=nominal_end,
        )

    @classmethod
    def standalone(cls, *, nominal_start: datetime | None = None) -> RunContext:
        """A run with no parent (scripts, tests); a fresh time-ordered UUID."""
        from openlineage.client.uuid import generate_new_uuid

        return cls(run_id=str(generate_new_uuid()), nominal_start=nominal_start)


@dataclass(frozen=True)
class GitInfo:
    commit: str
    remote: str | None


@functools.cache
def git_info(repo_root: Path) -> GitInfo | None:
    """HEAD commit and origin URL of the checkout at ``repo_root`` (None without git)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(repo_root), *args],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    return GitInfo(commit=commit, remote=git("config", "--get", "remote.origin.url"))


def job_facets(
    job_type: str,
    *,
    producer: str,
    source_path: str | Path | None = None,
    repo_root: Path | None = None,
    description: str | None = None,
    sql: str | None = None,
) -> dict[str, JobFacet]:
    """``jobType`` always; ``sourceCodeLocation`` when ``source_path`` lies in a git checkout."""
    facets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="MAESTRO", jobType=job_type, producer=producer
        )
    }
    root = (repo_root or REPO_ROOT).resolve()
    info = git_info(root) if source_path is not None else None
    rel = path_in_repo(root / source_path, root) if source_path is not None else None
    if info is not None and rel is not None:
        facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git",
            url=(root / rel).as_uri(),
            repoUrl=info.remote or root.as_uri(),
            path=rel,
            version=info.commit,
            producer=producer,
        )
    if description:
        facets["documentation"] = documentation_job.DocumentationJobFacet(
            description=description, producer=producer
        )
    if sql:
        facets["sql"] = sql_job.SQLJobFacet(query=sql, dialect="duckdb", producer=producer)
    return facets


def run_facets(
    run: RunContext, *, producer: str, error: BaseException | str | None = None
) -> dict[str, RunFacet]:
    facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=package_version(),
            name="maestro-conductor",
            openlineageAdapterVersion=OPENLINEAGE_CLIENT_VERSION,
            producer=producer,
        )
    }
    if run.parent_run_id is not None and run.parent_job_name:
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run.parent_run_id, facets=None),
            job=parent_run.Job(
                namespace=run.parent_job_namespace, name=run.parent_job_name, facets=None
            ),
            producer=producer,
        )
    if run.nominal_start is not None:
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=_iso(run.nominal_start),
            nominalEndTime=_iso(run.nominal_end) if run.nominal_end else None,
            producer=producer,
        )
    if error is not None:
        if isinstance(error, BaseException):
            message = f"{type(error).__name__}: {error}"
            stack = "".join(traceback.format_exception(error)) or None
        else:
            message, stack = str(error), None
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", stackTrace=stack, producer=producer
        )
    return facets


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise EventBuildError(f"timestamp {moment!r} has no timezone; pass an aware UTC datetime")
    return moment.astimezone(UTC).isoformat()


def run_event(
    event_type: EventKind | RunState,
    *,
    job_name: str,
    job_facet_map: Mapping[str, JobFacet],
    run: RunContext,
    inputs: Sequence[DatasetSpec] = (),
    outputs: Sequence[DatasetSpec] = (),
    error: BaseException | str | None = None,
    event_time: datetime | None = None,
    producer: str | None = None,
) -> RunEvent:
    """Assemble a RunEvent in job namespace ``maestro``."""
    producer = producer or producer_uri()
    state = event_type if isinstance(event_type, RunState) else RunState(event_type)
    return RunEvent(
        eventType=state,
        eventTime=_iso(event_time or datetime.now(UTC)),
        run=Run(runId=run.run_id, facets=run_facets(run, producer=producer, error=error)),
        job=Job(namespace=JOB_NAMESPACE, name=job_name, facets=dict(job_facet_map)),
        inputs=[d.as_input(producer) for d in inputs],
        outputs=[d.as_output(producer) for d in outputs],
        producer=producer,
    )
