"""Turning engine errors into alerts a person can act on: what is wrong and where, never a
stack trace. Unexpected errors are logged with a reference the alert quotes."""

from __future__ import annotations

import logging
import uuid

import dash_bootstrap_components as dbc
from dash import html

from export_core.errors import Busy, ExportError, InputError

log = logging.getLogger("ybb.ui")


def where_text(error: InputError) -> str:
    """'line 3, column 14' / 'row 7, column "email"' from an InputError's position."""
    parts = []
    if error.line is not None:
        parts.append(f"line {error.line}")
    if error.row is not None:
        parts.append(f"row {error.row}")
    if error.column is not None:
        column = error.column
        parts.append(f'column "{column}"' if isinstance(column, str) else f"column {column}")
    return ", ".join(parts)


def error_alert(error: BaseException, *, doing: str) -> dbc.Alert:
    """An alert for `error` raised while `doing` (e.g. "reading your data")."""
    if isinstance(error, InputError):
        where = where_text(error)
        return alert(
            f"Could not read your data{' at ' + where if where else ''}.",
            error.message,
            "Fix the data and try again.",
        )
    if isinstance(error, Busy):
        return alert(
            "The server is busy.",
            error.message,
            f"Try again in {error.retry_after} seconds.",
            color="warning",
        )
    if isinstance(error, ExportError):
        return alert(f"Problem while {doing}.", error.message)
    reference = uuid.uuid4().hex[:8]
    log.exception("unexpected error while %s (reference %s)", doing, reference)
    return alert(
        f"Something went wrong while {doing}.",
        f"This is not a problem with your data. The error was logged with reference {reference}.",
        "Try again; if it keeps happening, give the reference to the administrator.",
    )


def alert(title: str, *lines: str, color: str = "danger") -> dbc.Alert:
    """A dismissable alert with a bold title and one paragraph per line."""
    return dbc.Alert(
        [html.Strong(title), *[html.P(line, className="mb-0") for line in lines if line]],
        color=color,
        dismissable=True,
        className="mb-2",
    )
