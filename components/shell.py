"""The page shell: navigation bar on every page, then the current page."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

NAVBAR = "navbar"
NAV_LINKS = [("Export", "/"), ("History", "/exports"), ("Templates", "/templates"), ("API", "/api")]


def navbar() -> dbc.Navbar:
    """The top navigation (links are real <a> elements, so Tab and Enter work)."""
    links = [
        dbc.NavItem(dbc.NavLink(text, href=href, active="exact", id=f"nav-{text.lower()}"))
        for text, href in NAV_LINKS
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(
                    [
                        html.Img(
                            src=dash.get_asset_url("logo.svg"),
                            height="28",
                            alt="",
                            className="me-2",
                        ),
                        "YBB Export Studio",
                    ],
                    href="/",
                ),
                dbc.Nav(links, navbar=True, className="ms-auto"),
            ],
            fluid=True,
        ),
        id=NAVBAR,
        color="primary",
        dark=True,
        className="mb-3",
        tag="nav",
    )


def shell() -> html.Div:
    """The whole app layout."""
    return html.Div(
        [
            html.A("Skip to content", href="#main", className="visually-hidden-focusable"),
            navbar(),
            dbc.Container(html.Main(dash.page_container, id="main"), fluid="xxl", className="pb-4"),
        ]
    )
