"""Dash UI wiring: extra Dash() arguments (background callback manager) and the page shell."""

from __future__ import annotations

import logging
import os
from typing import Any

import dash

from app.auth import csrf_token, current_user, login_enabled
from components import (
    column_map,
    data_in,
    export_run,
    history,
    options,
    preview,
    runtime,
    system_view,
    team_editor,
)
from components.shell import account_menu, shell
from export_core.settings import Settings

log = logging.getLogger("ybb.ui")
JOB_EXPIRE_SECONDS = 6 * 3600  # finished background-callback results nobody collected
BACKGROUND_MANAGER = "ybb_background_manager"  # server.extensions key (app.factory)


def background_manager(settings: Settings, env: dict[str, str] | None = None) -> Any:
    """The background callback manager: Celery when YBB_CELERY_BROKER_URL is set and celery is
    installed; otherwise diskcache in the data dir, shared by every gunicorn worker."""
    env = dict(os.environ if env is None else env)
    broker = env.get("YBB_CELERY_BROKER_URL", "").strip()
    if broker:
        try:
            from celery import Celery
        except ImportError:
            log.warning(
                "YBB_CELERY_BROKER_URL is set but celery is not installed; "
                "using the diskcache manager"
            )
        else:
            backend = env.get("YBB_CELERY_RESULT_BACKEND", "").strip() or broker
            celery_app = Celery("ybb_export_studio", broker=broker, backend=backend)
            return dash.CeleryManager(celery_app)
    import diskcache

    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    return dash.DiskcacheManager(diskcache.Cache(str(settings.jobs_dir)), expire=JOB_EXPIRE_SECONDS)


def ui_dash_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for dash.Dash() that depend on settings."""
    return {"background_callback_manager": background_manager(settings), "update_title": None}


def init_ui(app: dash.Dash, settings: Settings) -> None:
    """Set the app shell (navbar + page container), the UI services and every callback."""
    runtime.configure(settings)
    app.layout = signed_in_shell if login_enabled(app.server) else shell()
    for component in (
        data_in,
        options,
        preview,
        export_run,
        history,
        system_view,
        column_map,
        team_editor,
    ):
        component.register_callbacks(app)
    prepare_now(app)


def signed_in_shell() -> Any:
    """The layout per request while login is on: the shell with the user's sign-out form
    (its CSRF token is per session, so the layout cannot be built once)."""
    user = current_user()
    return shell(account_menu(user, csrf_token()) if user else None)


def prepare_now(app: dash.Dash) -> None:
    """Run Dash's one-time preparation now rather than on the first request. Dash marks it done
    *before* doing it, so under gunicorn's threaded workers a second concurrent first request
    (the page's scripts) saw an empty script registry and got 500 "dash is not a registered
    library" — a blank page on a fresh worker."""
    with app.server.test_request_context("/"):
        app._setup_server()  # no public API for this
