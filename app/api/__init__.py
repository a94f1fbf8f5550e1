"""The REST API (`/api/ybb/...`): a thin Flask blueprint over export_core."""

from __future__ import annotations

import flask
from werkzeug.exceptions import HTTPException

from app.metrics import observe_cleanup, register_metrics
from export_core.catalog import get_catalog
from export_core.jobs import ThreadJobRunner
from export_core.settings import Settings
from export_core.store import open_store
from export_core.store.maintenance import CleanupScheduler

from .context import EXTENSION, ApiContext
from .errors import handle_http_exception
from .hooks import install_hooks
from .routes_exports import bp as exports_bp
from .routes_links import bp as links_bp
from .routes_meta import bp as meta_bp
from .team_templates import bp as team_templates_bp

CLEANUP_LOCK_NAME = "cleanup.lock"


def register_api(server: flask.Flask, settings: Settings) -> None:
    """Attach the API blueprint, error handlers and request hooks to `server`."""
    store = open_store(settings)  # an unknown YBB_STORE fails here, at start-up
    scheduler = CleanupScheduler(
        store,
        settings.data_dir / CLEANUP_LOCK_NAME,
        settings.cleanup_interval_seconds,
        observe=observe_cleanup,
    )
    server.extensions[EXTENSION] = ApiContext(
        settings=settings,
        catalog=get_catalog(),
        store=store,
        jobs=ThreadJobRunner(max_workers=max(1, settings.max_concurrent_exports)),
        scheduler=scheduler,
    )
    # Flask enforces this on Content-Length and on streamed (chunked) bodies alike.
    server.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    server.register_blueprint(exports_bp)
    server.register_blueprint(links_bp)
    server.register_blueprint(meta_bp)
    server.register_blueprint(team_templates_bp)
    server.register_error_handler(HTTPException, handle_http_exception)
    install_hooks(server, settings, scheduler.ensure_started)
    register_metrics(server)
