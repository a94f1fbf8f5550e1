"""UI login (YBB_UI_USERS) through Flask's test client on the real app: the gate in front of
pages and Dash endpoints, the sign-in form with its CSRF token and failure limit, sign-out,
session cookies, the same-origin check, and the API left to its own key."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dash
import openpyxl
import pytest
from flask.testing import FlaskClient
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth import UiUsers
from app.auth.gate import safe_next
from app.factory import create_app
from components import history, runtime
from components.export_job import record_summary
from components.links import download_path, download_url
from components.result import result_card
from components.samples import sample_json
from export_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
FAST_HASH = "pbkdf2:sha256:1000"  # cheap for tests; production hashes use scrypt
SUMMARY_CALLBACK = {
    "output": "data-summary-text.children",
    "outputs": {"id": "data-summary-text", "property": "children"},
    "inputs": [{"id": "data-summary", "property": "data", "value": None}],
    "changedPropIds": [],
    "state": [],
}


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "t", **env})


def _users(password: str = PASSWORD) -> str:
    return f"alice:{generate_password_hash(password, method=FAST_HASH)}"


def _app(tmp_path: Path, **env: str) -> dash.Dash:
    return create_app(_settings(tmp_path, YBB_UI_USERS=env.pop("users", _users()), **env))


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return _app(tmp_path).server.test_client()


def _csrf(client: FlaskClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _login(client: FlaskClient, password: str = PASSWORD, **extra: str) -> Any:
    form = {"username": "alice", "password": password, "csrf_token": _csrf(client), **extra}
    return client.post("/login", data=form)


def _layout_csrf(client: FlaskClient) -> str:
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    found = re.search(r'"value":\s*"([^"]+)"[^{}]*"id":\s*"logout-csrf"', layout.text)
    assert found, "the sign-out form's token is in the layout"
    return found.group(1)


def _callback(client: FlaskClient, **headers: str) -> Any:
    return client.post("/_dash-update-component", json=SUMMARY_CALLBACK, headers=headers)


def test_login_off_everything_open(tmp_path: Path) -> None:
    client = create_app(_settings(tmp_path)).server.test_client()
    for path in ("/", "/exports", "/_dash-layout", "/_dash-dependencies", "/_reload-hash"):
        assert client.get(path).status_code == 200, path
    assert "No data loaded yet" in _callback(client).text
    assert "login-form" not in client.get("/login").text  # no login page at all
    assert client.get_cookie("ybb_session") is None
    assert "logout-form" not in client.get("/_dash-layout").text


@pytest.mark.parametrize("path", ["/", "/exports", "/templates", "/api", "/no-such-page"])
def test_pages_redirect_to_login(client: FlaskClient, path: str) -> None:
    resp = client.get(path + "?x=1")
    assert resp.status_code == 303
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query) == {"next": [path + "?x=1"]}


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-layout",
        "/_dash-dependencies",
        "/_reload-hash",
        "/_dash-component-suites/dash/dcc/dash_core_components.js",
    ],
)
def test_dash_endpoints_refuse_with_401(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 401 and resp.json is not None
    assert resp.json["error_code"] == "LOGIN_REQUIRED"
    assert resp.headers["X-YBB-Login"] == "/login"


def test_callbacks_refuse_with_401(client: FlaskClient) -> None:
    resp = _callback(client)
    assert resp.status_code == 401 and resp.json == {
        "status": "error",
        "message": "Sign in first: open /login in the browser.",
        "error_code": "LOGIN_REQUIRED",
    }
    # background-callback polling goes to the same route with a job key
    polled = client.post("/_dash-update-component?cacheKey=abc&job=1", json=SUMMARY_CALLBACK)
    assert polled.status_code == 401


def test_public_paths_stay_open(client: FlaskClient) -> None:
    for path in ("/health", "/assets/ybb.css", "/assets/00-bootstrap.min.css", "/login"):
        with client.get(path) as resp:
            assert resp.status_code == 200, path
    page = client.get("/login").text
    assert '<label class="form-label" for="login-user">' in page
    assert 'for="login-password"' in page and "/assets/00-bootstrap.min.css" in page


def test_wrong_password_and_unknown_user_look_the_same(client: FlaskClient) -> None:
    wrong = _login(client, "not the password")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    with client.session_transaction() as session:
        assert "user" not in session
    assert client.get("/_dash-layout").status_code == 401
    unknown = client.post(
        "/login", data={"username": "mallory", "password": PASSWORD, "csrf_token": _csrf(client)}
    )
    assert unknown.status_code == 401
    error = re.compile(r'<div class="alert alert-danger"[^>]*>([^<]*)</div>')
    assert (
        error.findall(unknown.text) == error.findall(wrong.text) == ["Wrong user name or password."]
    )


def test_right_password_opens_pages_and_callbacks(client: FlaskClient) -> None:
    old_token = _csrf(client)
    resp = _login(client, next="/exports")
    assert resp.status_code == 303 and resp.headers["Location"] == "/exports"
    with client.session_transaction() as session:
        assert session["user"] == "alice" and session["csrf"] != old_token  # rotated
        assert session.permanent
    assert client.get("/exports").status_code == 200
    assert client.get("/_dash-dependencies").status_code == 200
    layout = client.get("/_dash-layout").text
    assert "logout-form" in layout and "alice" in layout
    resp = _callback(client, Origin="http://localhost")
    assert resp.status_code == 200 and "No data loaded yet" in resp.text
    assert client.get("/login").status_code == 303  # signed in: straight on


def test_session_cookie_flags(tmp_path: Path) -> None:
    client = _app(tmp_path, YBB_UI_SESSION_HOURS="2").server.test_client()
    cookie = _login(client).headers["Set-Cookie"]
    assert cookie.startswith("ybb_session=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = _app(tmp_path / "s", YBB_SECURE_COOKIES="1").server.test_client()
    assert "; Secure" in _login(secure).headers["Set-Cookie"]


def test_logout_needs_the_csrf_token(client: FlaskClient) -> None:
    _login(client)
    token = _layout_csrf(client)
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": token + "x"}).status_code == 400
    assert client.get("/_dash-layout").status_code == 200  # still signed in
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"] == "/login?signed_out=1"
    assert client.get("/_dash-layout").status_code == 401
    assert "You are signed out." in client.get("/login?signed_out=1").text


def test_login_without_csrf_token_is_refused(client: FlaskClient) -> None:
    form = {"username": "alice", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 400
    other = _app(Path(str(client.application.config["YBB_SETTINGS"].data_dir) + "-b"))
    foreign = _csrf(other.server.test_client())  # a token from another session
    assert client.post("/login", data={**form, "csrf_token": foreign}).status_code == 400
    with client.session_transaction() as session:
        assert "user" not in session


def test_cross_site_posts_are_refused(client: FlaskClient) -> None:
    _login(client)
    assert _callback(client, Origin="http://evil.example").status_code == 403
    assert _callback(client, Origin="null").status_code == 403
    assert _callback(client, Referer="http://evil.example/page").status_code == 403
    assert _callback(client, Origin="http://localhost").status_code == 200
    assert _callback(client, Referer="http://localhost/").status_code == 200
    proxied = _callback(
        client, Origin="https://ybb.example.org", **{"X-Forwarded-Host": "ybb.example.org"}
    )
    assert proxied.status_code == 200
    token = _layout_csrf(client)
    evil = client.post("/logout", data={"csrf_token": token}, headers={"Origin": "http://x.y"})
    assert evil.status_code == 403 and client.get("/_dash-layout").status_code == 200


def test_failed_sign_ins_are_limited(client: FlaskClient) -> None:
    for _ in range(10):
        assert _login(client, "guess").status_code == 401
    limited = _login(client)  # even the right password waits now
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in limited.text
    with client.session_transaction() as session:
        assert "user" not in session


def test_password_change_ends_existing_sessions(tmp_path: Path) -> None:
    first = _app(tmp_path).server.test_client()
    _login(first)
    cookie = first.get_cookie("ybb_session")
    assert cookie is not None
    changed = _app(tmp_path, users=_users("a brand new password")).server.test_client()
    changed.set_cookie("ybb_session", cookie.value)
    assert changed.get("/_dash-layout").status_code == 401
    same = _app(tmp_path).server.test_client()  # same YBB_UI_USERS value, new hash salt
    same.set_cookie("ybb_session", cookie.value)
    assert same.get("/_dash-layout").status_code == 401


def test_api_is_not_under_ui_login(tmp_path: Path) -> None:
    client = _app(tmp_path).server.test_client()
    assert client.get("/api/ybb/templates").status_code == 200
    body = {"data": [{"id": 1, "first_name": "Amina", "last_name": "K"}]}
    assert client.post("/api/ybb/export/participants", json=body).status_code in (200, 201)
    keyed = _app(tmp_path / "k", YBB_API_KEY="k3y").server.test_client()
    _login(keyed)  # a UI session is not an API credential
    assert keyed.get("/api/ybb/templates").status_code == 401
    assert keyed.get("/api/ybb/templates", headers={"X-API-Key": "k3y"}).status_code == 200
    assert keyed.get("/health").status_code == 200


def test_security_headers_on_ui_responses(client: FlaskClient) -> None:
    login = client.get("/login")
    assert login.headers["X-Frame-Options"] == "DENY"
    assert login.headers["Cache-Control"] == "no-store"
    redirect = client.get("/")
    assert redirect.headers["X-Content-Type-Options"] == "nosniff"
    assert redirect.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/exports", "/exports"),
        ("/exports?a=1", "/exports?a=1"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("exports", "/"),
    ],
)
def test_next_stays_on_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "alice:secret",  # a plain password, not a hash
        "alice",
        ":pbkdf2:sha256:1000$salt$abc",
        "al ice:pbkdf2:sha256:1000$salt$abc",
        "alice:pbkdf2:sha256:1000$s$a,alice:pbkdf2:sha256:1000$s$b",
    ],
)
def test_malformed_user_lists_fail_at_start_up(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ValueError, match="YBB_UI_USERS"):
        UiUsers.parse(raw)
    with pytest.raises(ValueError):
        create_app(_settings(tmp_path, YBB_UI_USERS=raw))


def test_users_verify() -> None:
    users = UiUsers.parse(_users() + "," + "bob:" + generate_password_hash("bobs pass word"))
    assert (
        users.enabled and users.verify("alice", PASSWORD) and users.verify("bob", "bobs pass word")
    )
    assert not users.verify("alice", "bobs pass word") and not users.verify("carol", PASSWORD)
    assert not users.verify("alice", "") and not users.verify("alice", "x" * 5000)
    assert not UiUsers.parse("").enabled


def test_hash_password_cli(tmp_path: Path) -> None:
    def run(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.auth", "hash-password", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )

    done = run(PASSWORD + "\n")
    hashed = done.stdout.strip()
    assert done.returncode == 0 and hashed.startswith("scrypt:")
    assert check_password_hash(hashed, PASSWORD) and PASSWORD not in done.stdout
    client = _app(tmp_path, users=f"alice:{hashed}").server.test_client()
    assert _login(client).status_code == 303
    pbkdf2 = run(PASSWORD + "\n", "--method", "pbkdf2:sha256")
    assert pbkdf2.stdout.startswith("pbkdf2:sha256:")
    short = run("short\n")
    assert short.returncode == 2 and short.stdout == "" and "8 to 1024" in short.stderr
    assert json.dumps(short.stderr).count("short") == 0  # the password is never echoed


def _hrefs(component: Any) -> list[str]:
    found: list[str] = []
    href = getattr(component, "href", None)
    if isinstance(href, str):
        found.append(href)
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found += _hrefs(child)
    return found


def test_with_an_api_key_the_ui_links_are_signed_and_download(tmp_path: Path) -> None:
    client = _app(tmp_path, YBB_API_KEY="k3y").server.test_client()
    records = json.loads(sample_json("participants", 5500))
    created = client.post(
        "/api/ybb/export/participants", json={"data": records}, headers={"X-API-Key": "k3y"}
    )
    assert created.status_code == 200, created.json
    export_id = created.json["data"]["export_id"]
    record = runtime.get_store().get(export_id)
    links = _hrefs(result_card(record_summary(record)))
    assert len(links) == 1 + len(record.files)  # the ZIP and every batch
    history_link = history.history_rows()[0]["download"]
    links.append(re.fullmatch(r"\[Download\]\((.+)\)", history_link).group(1))  # type: ignore[union-attr]
    for link in links:
        assert re.search(r"\?expires=\d+&signature=[\w-]{43}$", link), link
        with client.get(link) as resp:  # no key, no session: the signature is the credential
            assert resp.status_code == 200, link
            body = resp.data
        assert body[:2] == b"PK"  # xlsx and ZIP are both zip containers
    with client.get(links[1]) as resp:
        book = openpyxl.load_workbook(io.BytesIO(resp.data), read_only=True)
    assert book.active.cell(1, 1).value == "ID"
    with client.get(links[0].split("?", 1)[0]) as plain:
        assert plain.status_code == 401
    with client.get(links[0][:-3] + "AAA") as tampered:
        assert tampered.status_code in (401, 403)
    assert download_url(export_id) != download_path(export_id)


def test_the_ui_api_page_loads_directly_with_an_api_key(tmp_path: Path) -> None:
    """The UI's integrator page is exactly /api; the API key guards only /api/... routes."""
    client = _app(tmp_path, YBB_API_KEY="k3y", users="").server.test_client()
    assert client.get("/api").status_code == 200


@pytest.mark.live
def test_the_sign_in_limit_holds_across_gunicorn_workers(tmp_path: Path) -> None:
    """10 failures in all, however the kernel spread them over 2 workers; then every worker
    answers 429, also one that had seen fewer than 10 of them itself (the limit once lived in
    each worker's memory, and was then 10 per worker)."""
    import requests

    from tests.api.live_server import LiveServer

    def attempt(base: str, password: str) -> requests.Response:
        with requests.Session() as session:  # a new connection: the kernel picks the worker
            page = session.get(f"{base}/login", timeout=10)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, page.text
            form = {"username": "alice", "password": password, "csrf_token": token.group(1)}
            return session.post(f"{base}/login", data=form, timeout=10, allow_redirects=False)

    with LiveServer(tmp_path / "data", workers=2, YBB_UI_USERS=_users()) as live:
        failures: dict[str, int] = {}
        for _ in range(10):
            resp = attempt(live.url, "guess")
            assert resp.status_code == 401
            worker = resp.headers["X-Served-By"]
            failures[worker] = failures.get(worker, 0) + 1
        limited: set[str] = set()
        for _ in range(60):  # bounded: until both workers have answered
            resp = attempt(live.url, PASSWORD)  # even the right password waits
            assert resp.status_code == 429, (resp.status_code, failures)
            assert int(resp.headers["Retry-After"]) > 0
            limited.add(resp.headers["X-Served-By"])
            if len(limited) == 2:
                break
        print(f"failures per worker {failures}; 429 from {sorted(limited)}")
        assert len(limited) == 2, "every attempt hit one worker; cross-worker not exercised"
        assert any(failures.get(w, 0) < 10 for w in limited)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_failure_limiter_window_and_clear(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    from app.auth.limiter import FailureLimiter
    from export_core.store import metadata_database

    now = [1000.0]
    env = {"YBB_DATA_DIR": str(tmp_path), "YBB_SECRET_KEY": "t", "YBB_STORE": backend}
    if backend == "postgres":  # the limit shared by every machine
        env["DATABASE_URL"] = request.getfixturevalue("database_url")
    settings = Settings.from_env(env)
    # another worker (or machine): the same SQLite file / PostgreSQL database
    one = FailureLimiter(metadata_database(settings), 3, 60, clock=lambda: now[0])
    other = FailureLimiter(metadata_database(settings), 3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert one.retry_after("ip:x") == 0
        one.record("ip:x")
        now[0] += 10  # failures at 1000, 1010, 1020
    assert other.retry_after("ip:x") == pytest.approx(60 - 30)  # the first leaves at 1060
    assert other.retry_after("user:y") == 0  # keys are separate
    now[0] = 1060.5
    assert one.retry_after("ip:x") == 0  # 2 left in the window
    other.record("ip:x")
    assert one.retry_after("ip:x") == pytest.approx(60 - 50.5)  # 1010 leaves at 1070
    one.clear("ip:x")
    assert other.retry_after("ip:x") == 0
