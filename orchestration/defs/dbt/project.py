"""The dbt project's location and its parsed manifest (parsed on first load, and when stale)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from config.settings import REPO_ROOT, Settings

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"
MANIFEST = DBT_TARGET_DIR / "manifest.json"


def _newest_source_mtime() -> float:
    newest = 0.0
    for sub in ("models", "seeds", "macros", "tests", "snapshots"):
        for p in (DBT_PROJECT_DIR / sub).rglob("*"):
            if p.is_file():
                newest = max(newest, p.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (DBT_PROJECT_DIR / name).stat().st_mtime)
    return newest


def dbt_env(settings: Settings) -> dict[str, str]:
    return {"MAESTRO_CATALOG_PATH": str(settings.catalog_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def ensure_manifest(settings: Settings) -> Path:
    """Return the manifest path, running ``dbt parse`` first when it is missing or stale."""
    if MANIFEST.exists() and MANIFEST.stat().st_mtime >= _newest_source_mtime():
        return MANIFEST
    DBT_TARGET_DIR.mkdir(parents=True, exist_ok=True)
    with open(DBT_TARGET_DIR / ".parse.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if MANIFEST.exists() and MANIFEST.stat().st_mtime >= _newest_source_mtime():
            return MANIFEST
        from dbt.cli.main import dbtRunner

        os.environ.update(dbt_env(settings))
        result = dbtRunner().invoke(
            [
                "parse",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(DBT_TARGET_DIR),
                "--quiet",
            ]
        )
        if not result.success:
            raise RuntimeError(f"dbt parse failed for {DBT_PROJECT_DIR}: {result.exception}")
    return MANIFEST
