"""The page shell: navigation bar on every page, then the current page."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

NAVBAR = "navbar"
SIGNED_IN_AS = "nav-signed-in-as"
LOGOUT_FORM = "logout-form"
LOGOUT_BUTTON = "logout-button"
NAV_LINKS = [
    ("Export", "/"),
    ("History", "/exports"),
    ("Templates", "/templates"),
    ("API", "/api"),
    ("System", "/system"),
]


def account_menu(user: str, csrf: str) -> html.Form:
    """Who is signed in, and a sign-out button: a plain POST form carrying the session's CSRF
    token (a native form submit, so signing out works even if a callback is stuck)."""
    return html.Form(
        [
            html.Span(user, id=SIGNED_IN_AS, className="navbar-text small me-2"),
            dcc.Input(type="hidden", name="csrf_token", value=csrf, id="logout-csrf"),
            html.Button(
                "Sign out",
                id=LOGOUT_BUTTON,
                type="submit",
                className="btn btn-outline-light btn-sm",
            ),
        ],
        id=LOGOUT_FORM,
        action="/logout",
        method="POST",
        className="d-flex align-items-center ms-lg-3",
    )


def navbar(account: html.Form | None = None) -> dbc.Navbar:
    """The top navigation (links are real <a> elements, so Tab and Enter work), with the
    account menu when a user is signed in."""
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
                *([account] if account is not None else []),
            ],
            fluid=True,
        ),
        id=NAVBAR,
        color="primary",
        dark=True,
        className="mb-3",
        tag="nav",
    )


def shell(account: html.Form | None = None) -> html.Div:
    """The whole app layout (with `account`, the signed-in user's menu, when login is on)."""
    return html.Div(
        [
            html.A("Skip to content", href="#main", className="visually-hidden-focusable"),
            navbar(account),
            dbc.Container(html.Main(dash.page_container, id="main"), fluid="xxl", className="pb-4"),
        ]
    )
