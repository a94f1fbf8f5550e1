"""Export page (placeholder until the UI issue lands)."""

import dash
from dash import html

dash.register_page(__name__, path="/", name="Export", title="Export — YBB Export Studio")

layout = html.Div(
    [
        html.H1("YBB Export Studio", className="h3"),
        html.P("Export participants, payments and ambassadors as styled Excel or CSV files."),
    ]
)
