"""History page (`/exports`): recent exports with download and delete."""

import dash
from dash import html

from components import history

dash.register_page(__name__, path="/exports", name="History", title="History — YBB Export Studio")


def layout(**_query: str) -> html.Div:
    """The history grid."""
    return history.layout()
