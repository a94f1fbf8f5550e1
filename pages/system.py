"""Operations page (`/system`): health checks, the last 24 hours of exports, disk and retention."""

import dash
from dash import html

from components import system_view

dash.register_page(__name__, path="/system", name="System", title="System — YBB Export Studio")


def layout(**_query: str) -> html.Div:
    """The system overview."""
    return system_view.layout()
