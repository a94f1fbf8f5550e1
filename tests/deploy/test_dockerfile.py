"""deploy/Dockerfile, read (no container engine on the test machines, so it is not built):
slim base, non-root user, a health check on /health, gunicorn with the project's
app/gunicorn_conf.py, and every COPY source present in the repository."""

from __future__ import annotations

import re

from tests.api.live_server import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    steps = _instructions()
    assert re.fullmatch(r"python:3\.\d+-slim", dict(steps)["FROM"])
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_user = max(i for i, (op, _) in enumerate(steps) if op == "USER")
    assert steps[-1][0] == "CMD" and last_user < len(steps) - 1
    health = dict(steps)["HEALTHCHECK"]
    assert "/health" in health and "--timeout=" in health
    assert '"--config", "app/gunicorn_conf.py", "app.wsgi:server"' in dict(steps)["CMD"]


def test_dockerfile_copies_only_what_exists() -> None:
    for op, arg in _instructions():
        if op == "COPY":
            sources = [a for a in arg.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), source
