"""Team templates over REST: list, create/replace and delete the templates staff define
(export_core.team_templates). Exports use them as "template": "team:<name>". The seed's
/api/ybb/templates routes keep listing the catalog's templates only, as the seed does."""

from __future__ import annotations

from typing import Any

import flask

from export_core.errors import NotFound, ValidationError
from export_core.team_templates import TeamTemplate, build_team_template, to_template

from .body import parse_json_object, read_body, require_json_content_type
from .context import api_context
from .errors import handle_any
from .presenters import template_payload
from .routes_exports import json_response
from .team_store import template_store

bp = flask.Blueprint("ybb_team_templates", __name__)
bp.register_error_handler(Exception, handle_any)
MAX_TEMPLATE_BODY = 64 * 1024


def team_payload(team: TeamTemplate) -> dict[str, Any]:
    """One team template as the API shows it (the catalog template shape plus its names)."""
    shown = template_payload(to_template(team, api_context().catalog))
    return {
        "export_type": team.export_type,
        "name": team.name,
        "template": team.template_name,
        **shown,
    }


def _column_object(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("field"), str)
        and (value.get("header") is None or isinstance(value.get("header"), str))
    )


def _columns(body: dict[str, Any]) -> list[tuple[str, str]]:
    """`columns`: [{"field": ..., "header": ...}, ...]; a missing header is the field name."""
    columns = body.get("columns")
    if not isinstance(columns, list) or not all(map(_column_object, columns)):
        raise ValidationError(
            '\'columns\' must be a list of {"field": name, "header": label} objects, in '
            "output order",
            details={"field": "columns"},
        )
    return [(c["field"], c["field"] if c.get("header") is None else c["header"]) for c in columns]


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"'{name}' must be a string", details={"field": name})
    return value


@bp.get("/api/ybb/team-templates")
@bp.get("/api/ybb/team-templates/<export_type>")
def list_team_templates(export_type: str | None = None) -> flask.Response:
    """Every team template, or one data type's."""
    if export_type is not None:
        api_context().catalog.data_type(export_type)
    found = template_store().list_templates(export_type)
    return json_response({"status": "success", "data": [team_payload(t) for t in found]})


@bp.post("/api/ybb/team-templates/<export_type>")
def save_team_template(export_type: str) -> flask.Response:
    """Create or replace a team template of `export_type` (201)."""
    require_json_content_type()
    body = parse_json_object(read_body(MAX_TEMPLATE_BODY))
    team = build_team_template(
        api_context().catalog,
        export_type,
        _text(body, "name"),
        _columns(body),
        _text(body, "description"),
    )
    template_store().save_template(team)
    return json_response({"status": "success", "data": team_payload(team)}, 201)


@bp.delete("/api/ybb/team-templates/<export_type>/<name>")
def delete_team_template(export_type: str, name: str) -> flask.Response:
    """Remove a team template (404 envelope when there is none)."""
    api_context().catalog.data_type(export_type)
    if not template_store().delete_template(export_type, name):
        raise NotFound(f"Team template '{name[:60]}' not found for {export_type}")
    data = {"export_type": export_type, "name": name, "deleted": True}
    return json_response({"status": "success", "data": data})
