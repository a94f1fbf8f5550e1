"""The /templates page: every data type's templates (field -> header, kind) and the status
mappings, straight from the catalog."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from components.options import KIND_LABELS
from export_core.catalog import Template, get_catalog


def _template_card(template: Template) -> dbc.Card:
    badge = (
        dbc.Badge("Contains personal data", color="warning", text_color="dark", className="ms-2")
        if template.includes_sensitive_data
        else None
    )
    rows = [
        html.Tr(
            [
                html.Td(i),
                html.Td(html.Code(c.field)),
                html.Td(c.header),
                html.Td(KIND_LABELS[c.kind] + (f" ({c.mapping})" if c.mapping else "")),
            ]
        )
        for i, c in enumerate(template.columns, start=1)
    ]
    table = dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th("#", scope="col"),
                        html.Th("Field", scope="col"),
                        html.Th("Header", scope="col"),
                        html.Th("Kind", scope="col"),
                    ]
                )
            ),
            html.Tbody(rows),
        ],
        size="sm",
        striped=True,
        className="mb-0 small",
    )
    return dbc.Card(
        [
            dbc.CardHeader([html.H3(template.name, className="h6 d-inline mb-0"), badge]),
            dbc.CardBody(
                [
                    html.P(template.description, className="small mb-1"),
                    html.P(
                        f"{len(template.columns)} columns; up to "
                        f"{template.chunk_size:,} records per file when split",
                        className="small text-body-secondary",
                    ),
                    table,
                ]
            ),
        ],
        className="mb-3 template-entry",
        id=f"template-{template.export_type}-{template.name}",
    )


def _mappings() -> list[Any]:
    cards = []
    for name, table in get_catalog().status_mappings.items():
        body = html.Tbody(
            [html.Tr([html.Td(html.Code(code)), html.Td(label)]) for code, label in table.items()]
        )
        head = html.Thead(html.Tr([html.Th("Code", scope="col"), html.Th("Label", scope="col")]))
        cards.append(
            dbc.Col(
                dbc.Card(
                    [
                        dbc.CardHeader(html.H3(name, className="h6 mb-0")),
                        dbc.CardBody(dbc.Table([head, body], size="sm", className="mb-0 small")),
                    ],
                    className="mb-3",
                ),
                md=6,
                xl=4,
            )
        )
    return [html.H2("Status mappings", className="h5 mt-2", id="status-mappings"), dbc.Row(cards)]


def layout(after_templates: list[Any] | None = None) -> html.Div:
    """All templates by data type, then `after_templates` (the team's), then the status
    mappings."""
    sections: list[Any] = [
        html.H1("Templates", className="h4"),
        html.P(
            "What each template writes: the record field it reads, the "
            "column header in the file, and how values are shown.",
            className="text-body-secondary",
        ),
    ]
    for data_type in get_catalog().types.values():
        sections.append(html.H2(data_type.label, className="h5 mt-3"))
        sections.append(
            dbc.Row([dbc.Col(_template_card(t), lg=6) for t in data_type.templates.values()])
        )
    return html.Div(sections + (after_templates or []) + _mappings())
