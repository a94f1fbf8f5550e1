"""Templates page (`/templates`): every template and status mapping from the catalog."""

import dash
from dash import html

from components import catalog_view, team_editor

dash.register_page(
    __name__, path="/templates", name="Templates", title="Templates — YBB Export Studio"
)


def layout(**_query: str) -> html.Div:
    """The catalog, as tables, then the team's own templates."""
    return catalog_view.layout(after_templates=[team_editor.layout()])
