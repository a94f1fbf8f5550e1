"""Dash UI wiring: extra Dash() arguments (background callback manager) and the page shell."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc

from export_core.settings import Settings


def ui_dash_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for dash.Dash() that depend on settings."""
    return {}


def init_ui(app: dash.Dash, settings: Settings) -> None:
    """Set the app shell (navbar + page container) and UI services (upload cache)."""
    app.layout = dbc.Container(
        [
            dbc.NavbarSimple(
                brand="YBB Export Studio",
                brand_href="/",
                color="primary",
                dark=True,
                className="mb-3",
            ),
            dash.page_container,
        ],
        fluid=True,
    )
