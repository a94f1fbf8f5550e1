"""The server-rendered sign-in page, POST /login and POST /logout, with per-session CSRF
tokens. No Dash here: the page works before any UI script is allowed to load."""

from __future__ import annotations

import hmac
import logging
import math
import secrets

import flask

from .gate import EXTENSION, current_user, safe_next
from .limiter import FailureLimiter
from .users import UiUsers

log = logging.getLogger("ybb.auth")
bp = flask.Blueprint("ui_auth", __name__)
CSRF_FIELD = "csrf_token"
LIMITER_EXTENSION = "ybb_ui_login_limiter"
WRONG = "Wrong user name or password."

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · YBB Export Studio</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css">
<link rel="stylesheet" href="/assets/ybb.css">
</head>
<body class="bg-body-tertiary">
<main class="container py-5" style="max-width: 26rem">
  <h1 class="h4 mb-4 text-center">YBB Export Studio</h1>
  <form method="post" action="{{ url_for('ui_auth.login_submit') }}" class="card card-body"
        id="login-form" novalidate>
    <h2 class="h6 mb-3">Sign in</h2>
    {% if notice %}<div class="alert alert-info" role="status">{{ notice }}</div>{% endif %}
    {% if error %}<div class="alert alert-danger" role="alert" id="login-error">{{ error }}</div>
    {% endif %}
    <input type="hidden" name="csrf_token" value="{{ csrf }}">
    <input type="hidden" name="next" value="{{ next }}">
    <div class="mb-3">
      <label class="form-label" for="login-user">User name</label>
      <input class="form-control" id="login-user" name="username" autocomplete="username"
             value="{{ username }}" maxlength="256" required autofocus>
    </div>
    <div class="mb-3">
      <label class="form-label" for="login-password">Password</label>
      <input class="form-control" id="login-password" name="password" type="password"
             autocomplete="current-password" maxlength="1024" required>
    </div>
    <button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button>
  </form>
</main>
</body>
</html>
"""


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = flask.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        flask.session["csrf"] = token
    return token


def csrf_ok() -> bool:
    """Whether the posted form carries this session's CSRF token (constant-time compare)."""
    expected = flask.session.get("csrf")
    given = flask.request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _page(
    status: int = 200, *, error: str = "", notice: str = "", username: str = ""
) -> flask.Response:
    html = flask.render_template_string(
        PAGE,
        csrf=csrf_token(),
        next=safe_next(flask.request.values.get("next")),
        error=error,
        notice=notice,
        username=username[:256],
    )
    resp = flask.make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"  # no clickjacking of the sign-in form
    return resp


@bp.get("/login")
def login_form() -> flask.Response:
    """The sign-in form (or straight on when already signed in)."""
    if current_user():
        return flask.redirect(safe_next(flask.request.args.get("next")), code=303)
    notice = "You are signed out." if flask.request.args.get("signed_out") else ""
    return _page(notice=notice)


def _limiter() -> FailureLimiter:
    limiter: FailureLimiter = flask.current_app.extensions[LIMITER_EXTENSION]
    return limiter


@bp.post("/login")
def login_submit() -> flask.Response:
    """Check the CSRF token, the failure limit and the password; on success start a fresh
    session (old contents cleared, so a planted session cannot be carried over)."""
    if not csrf_ok():
        return _page(400, error="The sign-in form expired. Sign in again.")
    users: UiUsers = flask.current_app.extensions[EXTENSION]
    name = flask.request.form.get("username", "").strip()
    password = flask.request.form.get("password", "")
    keys = (f"ip:{flask.request.remote_addr}", f"user:{name.lower()}")
    wait = max(_limiter().retry_after(k) for k in keys)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        resp = _page(
            429, error=f"Too many failed sign-ins. Try again in {minutes} minute(s).", username=name
        )
        resp.headers["Retry-After"] = str(math.ceil(wait))
        return resp
    if not users.verify(name, password):
        for key in keys:
            _limiter().record(key)
        # The attempted name is logged only when it is a real user (it may be a password).
        log.warning(
            "ui sign-in failed ip=%s user=%s",
            flask.request.remote_addr,
            name if name in users.hashes else "-",
        )
        return _page(401, error=WRONG, username=name)
    _limiter().clear(keys[1])
    target = safe_next(flask.request.form.get("next"))
    flask.session.clear()
    flask.session.permanent = True
    flask.session["user"] = name
    flask.session["fp"] = users.fingerprint(name, str(flask.current_app.secret_key))
    flask.session["csrf"] = secrets.token_urlsafe(32)
    log.info("ui sign-in user=%s ip=%s", name, flask.request.remote_addr)
    return flask.redirect(target, code=303)


@bp.post("/logout")
def logout() -> flask.Response:
    """End the session; refused (400) without this session's CSRF token."""
    if not csrf_ok():
        resp = flask.make_response(
            "Sign-out refused: the form's security token is missing or old. "
            "Reload the page and try again.",
            400,
        )
        resp.mimetype = "text/plain"
        return resp
    user = current_user()
    flask.session.clear()
    log.info("ui sign-out user=%s", user or "-")
    return flask.redirect(flask.url_for("ui_auth.login_form", signed_out=1), code=303)
