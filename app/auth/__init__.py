"""Optional sign-in for the UI (YBB_UI_USERS). Off by default, for local use.

When on, every UI route (pages and Dash's /_dash-* endpoints) needs a signed-in session: pages
redirect to /login, Dash's XHRs get 401 JSON. /api/ybb keeps its own API key, /health and
/assets stay open. Sessions are Flask's signed cookie (HttpOnly, SameSite=Lax, Secure when
YBB_SECURE_COOKIES=1), cleared and refilled on sign-in; /login and /logout forms carry a
per-session CSRF token; state-changing UI requests must come from this origin."""

from __future__ import annotations

import logging
from datetime import timedelta

import flask

from export_core.settings import Settings
from export_core.store import metadata_database

from .gate import EXTENSION, current_user, gate, security_headers
from .limiter import FailureLimiter
from .users import UiUsers
from .views import LIMITER_EXTENSION, bp, csrf_token

__all__ = ["UiUsers", "csrf_token", "current_user", "init_auth", "login_enabled"]
log = logging.getLogger("ybb.auth")
SESSION_COOKIE = "ybb_session"
FAILURES_PER_KEY = 10  # per user name and per client IP, within the window, all workers
FAILURE_WINDOW_SECONDS = 15 * 60


def configure_session(server: flask.Flask, settings: Settings) -> None:
    """Cookie settings for Flask's signed session (used only by the UI login)."""
    server.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # The signed timestamp is checked against this on every request; each response
        # renews it, so it is an idle timeout.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.ui_session_hours),
        SESSION_REFRESH_EACH_REQUEST=True,
    )


def init_auth(server: flask.Flask, settings: Settings) -> UiUsers:
    """Set up the session cookie, security headers and (when YBB_UI_USERS is set) the login
    pages and the gate in front of every UI route. ValueError on a malformed YBB_UI_USERS."""
    users = UiUsers.parse(settings.ui_users)
    configure_session(server, settings)
    server.extensions[EXTENSION] = users
    server.after_request(security_headers)
    if not users.enabled:
        if settings.api_key:
            log.warning(
                "YBB_API_KEY protects /api/ybb but the UI has no login (YBB_UI_USERS is "
                "empty): anyone who can reach the UI can list and download exports"
            )
        return users
    server.extensions[LIMITER_EXTENSION] = FailureLimiter(
        metadata_database(settings), FAILURES_PER_KEY, FAILURE_WINDOW_SECONDS
    )
    server.register_blueprint(bp)
    server.before_request(gate)
    return users


def login_enabled(server: flask.Flask) -> bool:
    """Whether `server` requires a UI login."""
    users: UiUsers | None = server.extensions.get(EXTENSION)
    return bool(users and users.enabled)
