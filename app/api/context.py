"""The per-app services the API views use, kept in server.extensions["ybb_api"]."""

from __future__ import annotations

from dataclasses import dataclass

import flask

from export_core.catalog import Catalog
from export_core.jobs import JobRunner
from export_core.settings import Settings
from export_core.store import ExportStore
from export_core.store.maintenance import CleanupScheduler

EXTENSION = "ybb_api"


@dataclass
class ApiContext:
    """Settings, catalog, store, background job runner and the cleanup scheduler."""

    settings: Settings
    catalog: Catalog
    store: ExportStore
    jobs: JobRunner
    scheduler: CleanupScheduler


def api_context() -> ApiContext:
    """The ApiContext of the current app."""
    ctx: ApiContext = flask.current_app.extensions[EXTENSION]
    return ctx
