"""Who gets through to the UI: the login gate, the same-origin check for state-changing
requests, and security headers on UI responses. /api is left to the API's own key check."""

from __future__ import annotations

from urllib.parse import urlsplit

import flask

from .users import UiUsers

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# /health/ready and /metrics have their own token rule (app/metrics.token_refusal).
PUBLIC_PATHS = frozenset(
    {"/login", "/logout", "/health", "/health/ready", "/metrics", "/_favicon.ico", "/favicon.ico"}
)
PUBLIC_PREFIXES = ("/assets/",)  # CSS, logo, clientside JS: no data in them
XHR_PREFIXES = ("/_dash-", "/_reload-hash", "/_alive")
LOGIN_HEADER = "X-YBB-Login"  # tells assets/ybb.js to send the browser to the login page
EXTENSION = "ybb_ui_auth"


def is_api_path(path: str) -> bool:
    """REST routes (/api/ybb/..., the seed's /api/export/... aliases): the API key governs
    them. Exactly "/api" is the UI's page for integrators, so it is not one of them."""
    return path.startswith("/api/")


def is_public(path: str) -> bool:
    """Paths served without a UI login (the API has its own key check)."""
    return is_api_path(path) or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def wants_json(request: flask.Request) -> bool:
    """Dash's XHR endpoints and any non-GET get a 401 JSON answer, pages a redirect."""
    return request.path.startswith(XHR_PREFIXES) or request.method not in SAFE_METHODS


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return "\x00invalid"


def same_origin(request: flask.Request) -> bool:
    """False when the browser says the request comes from another site: Origin (or, when a
    browser omits it, Referer) must name this host. X-Forwarded-Host counts too, for reverse
    proxies that rewrite Host; a cross-site page cannot set that header without a CORS
    preflight, which the UI never grants. Requests with neither header are not from a browser
    form or script of another site, so they pass (the login still applies)."""
    hosts = {request.host.lower()}
    forwarded = request.headers.get("X-Forwarded-Host", "")
    hosts.update(h.strip().lower() for h in forwarded.split(",") if h.strip())
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin != "null" and _netloc(origin) in hosts
    referer = request.headers.get("Referer")
    if referer is not None:
        return _netloc(referer) in hosts
    return True


def current_user() -> str | None:
    """The signed-in user of this request, or None. A session whose password fingerprint no
    longer matches YBB_UI_USERS (password changed, user removed) counts as signed out."""
    users: UiUsers | None = flask.current_app.extensions.get(EXTENSION)
    name = flask.session.get("user")
    if users is None or not isinstance(name, str):
        return None
    expected = users.fingerprint(name, str(flask.current_app.secret_key))
    given = flask.session.get("fp")
    if expected is None or not isinstance(given, str) or given != expected:
        return None
    return name


def json_refusal(status: int, message: str, code: str) -> flask.Response:
    """The API's error envelope shape, for refused UI XHRs."""
    resp = flask.jsonify(status="error", message=message, error_code=code)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def safe_next(target: str | None) -> str:
    """A local path to return to after signing in; anything else (other hosts, `//x`,
    backslashes, control characters) becomes "/"."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(ord(c) < 32 or c == "\\" for c in target)
        or len(target) > 2000
    ):
        return "/"
    return target


def gate() -> flask.Response | None:
    """The before_request check for every non-API request while login is on."""
    request = flask.request
    if is_api_path(request.path):
        return None
    if request.method not in SAFE_METHODS and not same_origin(request):
        return json_refusal(
            403,
            "Cross-site request refused: the Origin/Referer does not match this server. "
            "Behind a reverse proxy, forward the Host header (or X-Forwarded-Host).",
            "CROSS_ORIGIN",
        )
    if is_public(request.path) or current_user():
        return None
    if wants_json(request):
        resp = json_refusal(401, "Sign in first: open /login in the browser.", "LOGIN_REQUIRED")
        resp.headers[LOGIN_HEADER] = "/login"
        return resp
    full = request.full_path if request.query_string else request.path
    target = flask.url_for("ui_auth.login_form", next=safe_next(full))
    return flask.redirect(target, code=303)


def security_headers(resp: flask.Response) -> flask.Response:
    """Headers for UI responses (the API sets its own): no framing by other sites, no MIME
    sniffing, no full URLs leaked in Referer to other sites."""
    if not is_api_path(flask.request.path):
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
    return resp
