"""Templates page (`/templates`): every template and status mapping from the catalog."""

import dash
from dash import html

from components import catalog_view

dash.register_page(
    __name__, path="/templates", name="Templates", title="Templates — YBB Export Studio"
)


def layout(**_query: str) -> html.Div:
    """The catalog, as tables."""
    return catalog_view.layout()
