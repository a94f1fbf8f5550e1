"""Turning engine errors into alerts a person can act on: what is wrong and where, never a
stack trace. Unexpected errors are logged with a reference the alert quotes."""

from __future__ import annotations

import logging
import uuid

import dash_bootstrap_components as dbc
from dash import html

from export_core.errors import Busy, ExportError, InputError

log = logging.getLogger("ybb.ui")
MAX_LINE_CHARS = 400


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


def error_alert(error: BaseException, *, doing: str, subject: str = "") -> dbc.Alert:
    """An alert for `error` raised while `doing` (e.g. "reading your data"); `subject` names
    what could not be read ("the file people.csv", "the pasted text")."""
    if isinstance(error, InputError):
        where = where_text(error)
        title = "Could not read your data"
        if where:
            title += f" at {where}" + (f" of {subject}" if subject else "")
        elif subject:
            title += f" in {subject}"
        return alert(f"{title}.", error.message, "Fix the data and try again.")
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


def clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """`text` shortened in the middle to about `limit` characters: messages may quote the
    input (a header name, a value), and a hostile one-line paste must not come back as a
    megabyte alert; the end (often "... (column 2)") stays readable."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]} … {text[-(limit - head - 3) :]}"


def alert(title: str, *lines: str, color: str = "danger") -> dbc.Alert:
    """A dismissable alert with a bold title and one paragraph per line (each clipped)."""
    return dbc.Alert(
        [
            html.Strong(clip(title)),
            *[html.P(clip(line), className="mb-0") for line in lines if line],
        ],
        color=color,
        dismissable=True,
        className="mb-2",
    )
