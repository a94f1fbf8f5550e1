"""Step 2, "Choose": data type (detected, changeable), template (with description, fields and a
personal-data badge), format (Excel / CSV with optional BOM), file and sheet names, chunking.
Template choices come from the catalog, so a new template appears here without code."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from components import team_ui
from components.data_in import SUMMARY
from export_core.catalog import Template, get_catalog
from export_core.model import ExportOptions

TYPE = "opt-type"
TYPE_HINT = "opt-type-hint"
TEMPLATE = "opt-template"
TEMPLATE_CARD = "opt-template-card"
FORMAT = "opt-format"
CSV_BOM = "opt-csv-bom"
FILENAME = "opt-filename"
SHEET = "opt-sheet"
CHUNKING = "opt-chunking"
KIND_LABELS = {
    "integer": "number",
    "money": "money",
    "date": "date",
    "datetime": "date & time",
    "text": "text",
    "status": "status label",
    "boolean": "yes/no",
}


def _field(label: str, control: Any, control_id: str, hint: Any = None) -> html.Div:
    return html.Div(
        [
            dbc.Label(label, html_for=control_id, className="form-label small fw-semibold mb-1"),
            control,
            hint,
        ],
        className="mb-2",
    )


def layout() -> dbc.Card:
    """The options card."""
    catalog = get_catalog()
    types = [{"label": t.label, "value": t.name} for t in catalog.types.values()]
    body = [
        _field(
            "Data type",
            dbc.Select(id=TYPE, options=types, value=types[0]["value"]),
            TYPE,
            html.Div(id=TYPE_HINT, className="form-text"),
        ),
        _field(
            "Template",
            dbc.Select(id=TEMPLATE, options=template_options(types[0]["value"]), value="standard"),
            TEMPLATE,
        ),
        html.Div(id=TEMPLATE_CARD, children=template_card(types[0]["value"], "standard")),
        _field(
            "Format",
            dbc.RadioItems(
                id=FORMAT,
                inline=True,
                value="excel",
                options=[
                    {"label": "Excel (.xlsx)", "value": "excel"},
                    {"label": "CSV", "value": "csv"},
                ],
            ),
            FORMAT,
        ),
        dbc.Checkbox(
            id=CSV_BOM,
            label="Add a BOM to the CSV (for Excel on Windows)",
            value=True,
            disabled=True,
            className="small mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(
                    _field(
                        "File name",
                        dbc.Input(id=FILENAME, placeholder="automatic", maxLength=120, size="sm"),
                        FILENAME,
                    ),
                    md=6,
                ),
                dbc.Col(
                    _field(
                        "Sheet name",
                        dbc.Input(id=SHEET, placeholder="Data", maxLength=31, size="sm"),
                        SHEET,
                    ),
                    md=6,
                ),
            ],
            className="g-2",
        ),
        _field(
            "Files",
            dbc.RadioItems(
                id=CHUNKING,
                value="auto",
                options=[
                    {
                        "label": "Split large exports automatically (several files + ZIP)",
                        "value": "auto",
                    },
                    {"label": "Always one file", "value": "off"},
                ],
            ),
            CHUNKING,
        ),
    ]
    return dbc.Card(
        [dbc.CardHeader(html.H2("2. Choose", className="h6 mb-0")), dbc.CardBody(body)],
        className="mb-3",
    )


def template_options(export_type: str) -> list[dict[str, str]]:
    """Select options for the templates of `export_type`: the catalog's, then the team's."""
    templates = get_catalog().data_type(export_type).templates.values()
    shown = [{"label": _template_label(t), "value": t.name} for t in templates]
    for team in team_ui.team_templates(export_type):
        value, template = team_ui.team_template_value(team)
        shown.append(
            {"label": f"Team: {team.name} ({len(template.columns)} columns)", "value": value}
        )
    return shown


def _template_label(template: Template) -> str:
    suffix = " — personal data" if template.includes_sensitive_data else ""
    return f"{template.name.capitalize()} ({len(template.columns)} columns){suffix}"


def template_card(export_type: str, name: str) -> Any:
    """Description, personal-data badge and the field -> header list of one template."""
    template = team_ui.resolve(export_type, name)
    badge = (
        dbc.Badge(
            "Contains personal data",
            color="warning",
            text_color="dark",
            className="ms-2",
            id="opt-sensitive-badge",
        )
        if template.includes_sensitive_data
        else None
    )
    items = [
        html.Li(
            [
                html.Span(c.header),
                html.Span(f" ({KIND_LABELS[c.kind]})", className="text-body-secondary"),
            ]
        )
        for c in template.columns
    ]
    return html.Div(
        [
            html.P([template.description, badge], className="small mb-1"),
            html.Details(
                [
                    html.Summary(f"{len(items)} columns", className="small"),
                    html.Ol(items, className="small columns-list mb-0"),
                ]
            ),
        ],
        className="template-card mb-2",
    )


def build_options(
    export_type: str,
    template: str,
    fmt: str,
    bom: bool | None,
    filename: str | None,
    sheet: str | None,
    chunking: str,
) -> ExportOptions:
    """The engine's ExportOptions from the pickers' values (blank names mean automatic)."""
    return ExportOptions(
        export_type=export_type,
        template=template,
        format=fmt,
        filename=(filename or "").strip() or None,
        sheet_name=(sheet or "").strip() or None,
        chunking=chunking,
        csv_bom=bool(bom) and fmt == "csv",
    )


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app`."""

    @app.callback(
        Output(TYPE, "value"),
        Output(TYPE_HINT, "children"),
        Input(SUMMARY, "data"),
        State(TYPE, "value"),
    )
    def _detected(summary: dict[str, Any] | None, current: str) -> tuple[str, str]:
        detected = (summary or {}).get("detected_type")
        if not summary:
            return current, ""
        if not detected:
            return current, "Could not tell the data type from the columns; pick it here."
        label = get_catalog().types[detected].label
        return detected, f"Detected from the columns: {label}. You can change it."

    @app.callback(
        Output(TEMPLATE, "options"),
        Output(TEMPLATE, "value"),
        Input(TYPE, "value"),
        State(TEMPLATE, "value"),
    )
    def _templates(export_type: str, current: str | None) -> tuple[Any, str]:
        options = template_options(export_type)
        names = [o["value"] for o in options]
        return options, current if current in names else "standard"

    @app.callback(Output(TEMPLATE_CARD, "children"), Input(TYPE, "value"), Input(TEMPLATE, "value"))
    def _card(export_type: str, name: str) -> Any:
        if not team_ui.is_known(export_type, name):
            return dash.no_update
        return template_card(export_type, name)

    @app.callback(Output(CSV_BOM, "disabled"), Output(SHEET, "disabled"), Input(FORMAT, "value"))
    def _format(fmt: str) -> tuple[bool, bool]:
        return fmt != "csv", fmt == "csv"
