"""API page (`/api`): routes with curl and PHP examples, linking the OpenAPI document."""

import dash
from dash import html

from components import api_reference

dash.register_page(__name__, path="/api", name="API", title="REST API — YBB Export Studio")


def layout(**_query: str) -> html.Div:
    """The integrator reference."""
    return api_reference.layout()
