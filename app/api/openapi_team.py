"""OpenAPI pieces for header matching and team templates: the export body's `column_map` and
"team:<name>" templates, and the /api/ybb/team-templates routes."""

from __future__ import annotations

from typing import Any

from export_core.catalog import Catalog
from export_core.team_templates import (
    HEADER_RE,
    MAX_DESCRIPTION_CHARS,
    MAX_HEADER_CHARS,
    NAME_RE,
)

JSON = "application/json"
TEAM_TEMPLATE_NAME = r"^team:[A-Za-z0-9][A-Za-z0-9 _.-]{0,59}$"


def body_additions(catalog: Catalog, export_type: str, templates: list[str]) -> dict[str, Any]:
    """Export body properties: `template` also takes "team:<name>"; `column_map`."""
    fields = list(catalog.data_type(export_type).field_kinds)
    return {
        "template": {
            "anyOf": [
                {"enum": [*templates, None]},
                {"type": "string", "pattern": TEAM_TEMPLATE_NAME},
            ],
            "default": "standard",
            "description": 'A catalog template, or a team template as "team:<name>".',
        },
        "column_map": {
            "type": ["object", "null"],
            "additionalProperties": {"enum": [*fields, None]},
            "description": "Source column -> field (null: ignore the column); overrides the "
            "automatic header matching. Unknown fields, or two columns on one field: 400.",
        },
    }


def _team_schema(catalog: Catalog, export_type: str) -> dict[str, Any]:
    fields = list(catalog.data_type(export_type).field_kinds)
    header = {
        "type": ["string", "null"],
        "maxLength": MAX_HEADER_CHARS,
        "pattern": HEADER_RE.pattern,
        "description": "Defaults to the field name. Not starting with = + - @ or a space.",
    }
    column = {
        "type": "object",
        "required": ["field"],
        "properties": {"field": {"enum": fields}, "header": header},
    }
    return {
        "type": "object",
        "required": ["name", "columns"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_RE.pattern},
            "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION_CHARS},
            "columns": {"type": "array", "minItems": 1, "items": column},
        },
    }


def team_template_ops(catalog: Catalog, op: Any, ok: Any, errors: Any) -> dict[str, Any]:
    """The team-template paths (`op`, `ok`, `errors` are openapi.py's builders). The type's
    routes are documented per data type, as the export routes are: each POST body takes its
    own type's fields."""
    type_param = {
        "name": "export_type",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(catalog.types)},
    }
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    per_type = {
        f"/api/ybb/team-templates/{name}": {
            "get": op(
                f"Team templates of {name}",
                {"200": ok("TeamTemplates", "OK.")},
                operationId=f"team_templates_{name}",
            ),
            "post": op(
                f'Create or replace a {name} team template (use it as "team:<name>")',
                {"201": ok("TeamTemplate", "Saved."), **errors(400, 413, 415, 422)},
                operationId=f"save_team_template_{name}",
                requestBody={
                    "required": True,
                    "content": {JSON: {"schema": _team_schema(catalog, name)}},
                },
            ),
        }
        for name in catalog.types
    }
    return {
        "/api/ybb/team-templates": {
            "get": op("Team templates", {"200": ok("TeamTemplates", "OK.")})
        },
        **per_type,
        "/api/ybb/team-templates/{export_type}/{name}": {
            "delete": op(
                "Delete a team template",
                {"200": ok("TeamTemplateDeleted", "Deleted."), **errors(404)},
                parameters=[type_param, name_param],
            )
        },
    }


def team_component_schemas() -> dict[str, Any]:
    """Response schemas of the team-template routes."""
    template = {
        "type": "object",
        "required": ["export_type", "name", "template", "fields", "headers"],
        "properties": {
            "export_type": {"type": "string"},
            "name": {"type": "string"},
            "template": {"type": "string", "pattern": TEAM_TEMPLATE_NAME},
            "fields": {"type": "array", "items": {"type": "string"}},
            "headers": {"type": "array", "items": {"type": "string"}},
        },
    }
    ok = {"const": "success"}
    return {
        "TeamTemplate": {
            "type": "object",
            "required": ["status", "data"],
            "properties": {"status": ok, "data": template},
        },
        "TeamTemplateDeleted": {
            "type": "object",
            "required": ["status", "data"],
            "properties": {
                "status": ok,
                "data": {
                    "type": "object",
                    "required": ["export_type", "name", "deleted"],
                    "properties": {"deleted": {"const": True}},
                },
            },
        },
        "TeamTemplates": {
            "type": "object",
            "required": ["status", "data"],
            "properties": {"status": ok, "data": {"type": "array", "items": template}},
        },
    }
