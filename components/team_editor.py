"""Team templates on /templates: a form to define one (data type, name, description, and the
columns in order as "field: Header" lines, pre-filled from the type's standard template) and
the list of the team's templates with a Delete button each. They sit beside the catalog's
templates, which nothing here can change (export_core.team_templates)."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, html

from components import team_ui
from components.feedback import error_alert
from export_core.catalog import get_catalog
from export_core.errors import ExportError
from export_core.team_templates import build_team_template

TYPE = "team-type"
NAME = "team-name"
DESCRIPTION = "team-description"
COLUMNS = "team-columns"
SAVE = "team-save"
NOTE = "team-note"
LIST = "team-list"
DELETE = "team-delete"  # pattern-matching type; index = "<type>/<name>"


def columns_text(export_type: str) -> str:
    """The standard template of `export_type` as editable "field: Header" lines."""
    template = get_catalog().template(export_type, "standard")
    return "\n".join(f"{c.field}: {c.header}" for c in template.columns)


def parse_columns(text: str) -> list[tuple[str, str]]:
    """ "field: Header" lines (blank lines skipped; no header -> the field name)."""
    pairs = []
    for line in (text or "").splitlines():
        if line.strip():
            field, _, header = line.partition(":")
            pairs.append((field.strip(), header.strip() or field.strip()))
    return pairs


def _field(label: str, control: Any, control_id: str, hint: str | None = None) -> html.Div:
    extra = html.Div(hint, className="form-text") if hint else None
    return html.Div(
        [dbc.Label(label, html_for=control_id, className="small fw-semibold mb-1"), control, extra],
        className="mb-2",
    )


def layout() -> html.Div:
    """The team templates section: the form and the list."""
    catalog = get_catalog()
    types = [{"label": t.label, "value": t.name} for t in catalog.types.values()]
    first = types[0]["value"]
    fields = ", ".join(catalog.data_type(first).field_kinds)
    form = dbc.Card(
        [
            dbc.CardHeader(html.H3("New team template", className="h6 mb-0")),
            dbc.CardBody(
                [
                    _field("Data type", dbc.Select(id=TYPE, options=types, value=first), TYPE),
                    _field("Name", dbc.Input(id=NAME, maxLength=60, size="sm"), NAME),
                    _field(
                        "Description",
                        dbc.Input(id=DESCRIPTION, maxLength=200, size="sm"),
                        DESCRIPTION,
                    ),
                    _field(
                        "Columns, in order",
                        dbc.Textarea(
                            id=COLUMNS,
                            value=columns_text(first),
                            rows=9,
                            className="font-monospace small",
                        ),
                        COLUMNS,
                        f"One per line as field: Header. Fields: {fields}",
                    ),
                    dbc.Button("Save team template", id=SAVE, color="primary", size="sm"),
                    html.Div(id=NOTE, className="small mt-2", **{"aria-live": "polite"}),
                ]
            ),
        ],
        className="mb-3",
    )
    return html.Div(
        [
            html.H2("Team templates", className="h5 mt-3", id="team-templates"),
            html.P(
                "Your team's own column selections. Use them on the Export page or from the "
                'API as "team:<name>"; the built-in templates above stay as they are.',
                className="text-body-secondary small",
            ),
            dbc.Row(
                [
                    dbc.Col(form, lg=5),
                    dbc.Col(html.Div(team_list(), id=LIST), lg=7),
                ]
            ),
        ]
    )


def team_list() -> Any:
    """Every team template as a compact table row with its columns and a Delete button."""
    rows = []
    for team in team_ui.template_store().list_templates():
        label = get_catalog().data_type(team.export_type).label
        rows.append(
            html.Tr(
                [
                    html.Td(label),
                    html.Td(html.Code(team.template_name)),
                    html.Td(", ".join(team.headers), className="text-break"),
                    html.Td(
                        dbc.Button(
                            "Delete",
                            id={"type": DELETE, "index": f"{team.export_type}/{team.name}"},
                            color="danger",
                            outline=True,
                            size="sm",
                        )
                    ),
                ]
            )
        )
    if not rows:
        return html.P("No team templates yet.", className="small text-body-secondary")
    head = html.Thead(
        html.Tr([html.Th(t, scope="col") for t in ("Type", "Template", "Headers", "")])
    )
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="small")


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app`."""

    @app.callback(Output(COLUMNS, "value"), Input(TYPE, "value"), prevent_initial_call=True)
    def _prefill(export_type: str) -> str:
        return columns_text(export_type)

    @app.callback(
        Output(NOTE, "children"),
        Output(LIST, "children"),
        Input(SAVE, "n_clicks"),
        State(TYPE, "value"),
        State(NAME, "value"),
        State(DESCRIPTION, "value"),
        State(COLUMNS, "value"),
        prevent_initial_call=True,
    )
    def _save(_clicks: Any, export_type: str, name: Any, description: Any, text: Any) -> Any:
        try:
            team = build_team_template(
                get_catalog(),
                export_type,
                (name or "").strip(),
                parse_columns(text),
                (description or "").strip(),
            )
            team_ui.template_store().save_template(team)
        except ExportError as exc:
            return error_alert(exc, doing="saving the team template"), dash.no_update
        note = html.Span(f"Saved {team.template_name}.", className="text-success")
        return note, team_list()

    @app.callback(
        Output(LIST, "children", allow_duplicate=True),
        Input({"type": DELETE, "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def _delete(clicks: list[Any]) -> Any:
        if not any(clicks) or not isinstance(ctx.triggered_id, dict):
            raise dash.exceptions.PreventUpdate
        export_type, _, name = str(ctx.triggered_id["index"]).partition("/")
        team_ui.template_store().delete_template(export_type, name)
        return team_list()
