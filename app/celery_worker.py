"""The Celery worker for the UI's background callbacks, when YBB_CELERY_BROKER_URL is set:

    YBB_CELERY_BROKER_URL=redis://... celery -A app.celery_worker worker --concurrency 2

Run it with the same environment (YBB_DATA_DIR, YBB_SECRET_KEY, ...) as the web server, on a
host that shares its data dir. Building the app here registers each background callback as a
Celery task on the same Celery app the web server sends them to (dash.CeleryManager).

As gunicorn's master does, the worker starts the UI's export launcher before its pool
(components/export_launcher.py), unless YBB_UI_EXPORT_LAUNCHER=0: each export then runs in a
process forked from it rather than in a fresh interpreter (~0.3 s less each). If the launcher
ends (killed, crashed), the worker's main process starts it again on the same socket within
LAUNCHER_CHECK_SECONDS (a step on the worker's own timer); meanwhile exports start fresh
interpreters, slower and with nothing lost."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import dash
from celery import bootsteps, signals

from app.ui import BACKGROUND_MANAGER
from app.wsgi import server
from components import export_launcher

_manager = server.extensions[BACKGROUND_MANAGER]  # the one the app's callbacks registered on
if not isinstance(_manager, dash.CeleryManager):
    raise RuntimeError(
        "YBB_CELERY_BROKER_URL is not set (or celery is not installed): the UI's background "
        "callbacks run on diskcache in the web server, and no Celery worker is needed"
    )
celery_app = _manager.handle

_LAUNCHER: list[export_launcher.Launcher] = []
LAUNCHER_CHECK_SECONDS = 5.0
log = logging.getLogger("ybb.celery")


@signals.worker_init.connect
def start_export_launcher(**_: Any) -> None:
    """The worker's main process, before it starts its pool: the launcher (its socket named in
    the environment the pool processes inherit)."""
    if export_launcher.enabled() and not _LAUNCHER:
        _LAUNCHER.append(export_launcher.start())


@signals.worker_shutdown.connect
def stop_export_launcher(**_: Any) -> None:
    """The worker's main process, at shutdown: the launcher stopped."""
    while _LAUNCHER:
        _LAUNCHER.pop().stop()


def restart_launcher_if_gone() -> None:
    """The worker's main process, every LAUNCHER_CHECK_SECONDS: the launcher started again if
    it has ended."""
    for launcher in _LAUNCHER:
        if launcher.restart_if_gone():
            log.warning("export launcher had ended; started again: pid %d", launcher.process.pid)


class LauncherWatch(bootsteps.StartStopStep):  # type: ignore[misc]
    """Looks after the launcher from the worker's timer (the main process's event loop with
    the prefork pool: no thread of its own beside the pool's forks)."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Timer"}
    entry: Any = None

    def start(self, worker: Any) -> None:
        self.entry = worker.timer.call_repeatedly(LAUNCHER_CHECK_SECONDS, restart_launcher_if_gone)

    def stop(self, worker: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()


celery_app.steps["worker"].add(LauncherWatch)
