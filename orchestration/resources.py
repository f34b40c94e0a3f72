"""Typed resources, built per environment at run time."""

from __future__ import annotations

import os

import dagster as dg

from config.settings import Settings


class MaestroResource(dg.ConfigurableResource):
    """Gives assets the platform's run-time settings.

    Empty fields fall back to the environment (``config/settings.py``), so the same definitions
    run on a laptop and in production; tests set ``home`` to a temporary folder.
    """

    home: str = ""
    lake_uri: str = ""
    catalog_path: str = ""

    def settings(self) -> Settings:
        env = dict(os.environ)
        if self.home:
            env["MAESTRO_HOME"] = self.home
        if self.lake_uri:
            env["MAESTRO_LAKE_URI"] = self.lake_uri
        if self.catalog_path:
            env["MAESTRO_CATALOG_PATH"] = self.catalog_path
        return Settings.from_env(env)
