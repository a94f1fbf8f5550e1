"""Export page (`/`): data in -> choose -> preview -> export. Layout only; logic in components."""

import dash
import dash_bootstrap_components as dbc
from dash import html

from components import column_map, data_in, export_run, options, preview

dash.register_page(__name__, path="/", name="Export", title="Export — YBB Export Studio")


def layout(**_query: str) -> html.Div:
    """Steps 1-2 on the left; column matching, preview and export on the right (stacked on
    narrow screens)."""
    return html.Div(
        [
            html.H1("Export data", className="visually-hidden"),
            dbc.Row(
                [
                    dbc.Col([data_in.layout(), options.layout()], lg=4, xxl=3),
                    dbc.Col(
                        [column_map.layout(), preview.layout(), export_run.layout()], lg=8, xxl=9
                    ),
                ]
            ),
        ]
    )
