"""create_app(): builds Dash (use_pages) on a Flask server and registers the REST blueprint.
No business logic lives here."""

from __future__ import annotations

from pathlib import Path

import dash
import flask

from app.api import register_api
from app.auth import init_auth
from app.health import register_health
from app.ui import BACKGROUND_MANAGER, init_ui, ui_dash_kwargs
from export_core.logs import configure_logging
from export_core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_server(settings: Settings) -> flask.Flask:
    """The Flask server with settings, secret key and the health route."""
    server = flask.Flask("ybb_export_studio", root_path=str(ROOT))
    server.config["YBB_SETTINGS"] = settings
    server.secret_key = settings.secret_key
    register_health(server)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return server


def create_app(settings: Settings | None = None) -> dash.Dash:
    """Build the whole app. `settings` defaults to the environment's."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    server = create_server(settings)
    register_api(server, settings)
    init_auth(server, settings)  # UI login (YBB_UI_USERS); /api and /health untouched
    ui_kwargs = ui_dash_kwargs(settings)
    # Kept where app.celery_worker (a Celery worker building this app) can find its Celery app.
    server.extensions[BACKGROUND_MANAGER] = ui_kwargs["background_callback_manager"]
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(ROOT / "pages"),
        assets_folder=str(ROOT / "assets"),
        title="YBB Export Studio",
        suppress_callback_exceptions=True,
        serve_locally=True,
        **ui_kwargs,
    )
    init_ui(app, settings)
    return app
