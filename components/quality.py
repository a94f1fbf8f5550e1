"""The QualityReport beside the preview: what mapping noticed, in plain words."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from export_core.model import QualityReport

QUALITY_PANEL = "quality-panel"
_SHOWN_PER_LIST = 6  # long lists are cut; the counts still add up in the summary line


def _counts(title: str, counts: dict[str, int], explain: str) -> Any:
    if not counts:
        return None
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    shown = [html.Li(f"{header}: {n:,}") for header, n in items[:_SHOWN_PER_LIST]]
    if len(items) > _SHOWN_PER_LIST:
        shown.append(html.Li(f"… and {len(items) - _SHOWN_PER_LIST} more columns"))
    return dbc.ListGroupItem(
        [
            html.Div(title, className="fw-semibold"),
            html.Div(explain, className="text-body-secondary"),
            html.Ul(shown, className="mb-0 ps-3"),
        ]
    )


def _unknown(codes: dict[str, dict[str, int]]) -> Any:
    if not codes:
        return None
    lines = []
    for header, by_code in codes.items():
        top = sorted(by_code.items(), key=lambda kv: -kv[1])[:_SHOWN_PER_LIST]
        lines.append(html.Li(f"{header}: " + ", ".join(f'"{c}" × {n:,}' for c, n in top)))
    return dbc.ListGroupItem(
        [
            html.Div("Unknown codes", className="fw-semibold"),
            html.Div("Written as they are, without a label.", className="text-body-secondary"),
            html.Ul(lines, className="mb-0 ps-3"),
        ]
    )


def _single(title: str, count: int, explain: str) -> Any:
    if not count:
        return None
    return dbc.ListGroupItem(
        [
            html.Div(f"{title}: {count:,}", className="fw-semibold"),
            html.Div(explain, className="text-body-secondary"),
        ]
    )


FORMULA_NOTE = (
    "In the CSV file these start with a ' so that spreadsheet programs show them as text, "
    "not as a formula (phone numbers like +62… too)."
)


def quality_panel(quality: QualityReport, fmt: str = "excel") -> list[Any]:
    """The report as a list group; a green line when nothing needs attention. Formula-like
    cells are reported only for CSV, the one format where they are changed (a ' is put in
    front); in an Excel file they are text cells exactly as given, nothing to report."""
    items = [
        _counts("Empty cells", quality.missing, "These cells will be empty in the file."),
        _unknown(quality.unknown_codes),
        _counts(
            "Unreadable dates or numbers", quality.unparseable, "Written as the original text."
        ),
        _single("Formula-like cells", quality.formula_like if fmt == "csv" else 0, FORMULA_NOTE),
        _single(
            "Cut cells", quality.truncated, "Longer than Excel's 32,767 characters; cut to fit."
        ),
    ]
    if quality.extra_fields:
        shown = ", ".join(quality.extra_fields[:10])
        more = len(quality.extra_fields) - 10
        items.append(
            dbc.ListGroupItem(
                [
                    html.Div("Columns not in this template", className="fw-semibold"),
                    html.Div(
                        shown + (f" and {more} more" if more > 0 else ""),
                        className="text-body-secondary",
                    ),
                ]
            )
        )
    problems = [i for i in items if i is not None]
    head = html.P([html.Strong(f"{quality.rows:,}"), " records"], className="mb-2")
    if not problems:
        return [head, dbc.Alert("No problems found.", color="success", className="py-2 mb-0")]
    return [head, dbc.ListGroup(problems, flush=True, className="small quality-list")]
