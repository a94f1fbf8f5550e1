"""Validate a response against the API's own OpenAPI document (jsonschema_rs, 2020-12)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs


def response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the document declares for (path template, method, status)."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} does not document {status}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return {"components": doc["components"], **schema}


def assert_matches_openapi(
    doc: dict[str, Any], path: str, method: str, status: int, body: Any
) -> None:
    """Fail with the validation errors when `body` does not match the documented schema."""
    validator = jsonschema_rs.Draft202012Validator(response_schema(doc, path, method, status))
    problems = [str(e) for e in validator.iter_errors(body)]
    assert problems == [], f"{method} {path} {status}: {problems[:5]}"
