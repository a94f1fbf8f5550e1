"""THE helper every API error test goes through: the seed's error envelope, exactly."""

from __future__ import annotations

from typing import Any

ENVELOPE_KEYS = {"status", "message", "error_code", "details"}


def _json(resp: Any) -> Any:
    return resp.get_json() if hasattr(resp, "get_json") else resp.json()


def assert_error_envelope(resp: Any, status: int, message: str | None = None) -> dict[str, Any]:
    """Assert `resp` (Flask test or `requests` response) is the error envelope with `status`
    (and `message` when given); returns the decoded body for further checks."""
    body_text = resp.get_data(as_text=True) if hasattr(resp, "get_data") else resp.text
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {body_text}"
    assert resp.headers["Content-Type"].startswith("application/json")
    body = _json(resp)
    assert isinstance(body, dict)
    assert body["status"] == "error"
    assert set(body) <= ENVELOPE_KEYS, f"unexpected keys {set(body) - ENVELOPE_KEYS}"
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["error_code"], str) and body["error_code"].isupper()
    assert "Traceback" not in body["message"]
    if "details" in body:
        assert isinstance(body["details"], dict)
    if message is not None:
        assert body["message"] == message
    assert resp.headers.get("X-Request-ID")
    return body
