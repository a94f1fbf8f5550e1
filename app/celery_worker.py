"""The Celery worker for the UI's background callbacks, when YBB_CELERY_BROKER_URL is set:

    YBB_CELERY_BROKER_URL=redis://... celery -A app.celery_worker worker --concurrency 2

Run it with the same environment (YBB_DATA_DIR, YBB_SECRET_KEY, ...) as the web server, on a
host that shares its data dir. Building the app here registers each background callback as a
Celery task on the same Celery app the web server sends them to (dash.CeleryManager)."""

from __future__ import annotations

import dash

from app.ui import BACKGROUND_MANAGER
from app.wsgi import server

_manager = server.extensions[BACKGROUND_MANAGER]  # the one the app's callbacks registered on
if not isinstance(_manager, dash.CeleryManager):
    raise RuntimeError(
        "YBB_CELERY_BROKER_URL is not set (or celery is not installed): the UI's background "
        "callbacks run on diskcache in the web server, and no Celery worker is needed"
    )
celery_app = _manager.handle
