"""Step 5, the result card: plain links to the REST download routes (never file bytes through a
callback), the export id, record count, size and expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from components.links import download_url

RESULT_CARD = "result-card"
NEXT_FORMAT = "result-next-format"  # pattern-matching id: {"type": NEXT_FORMAT, "format": ...}
START_OVER = "result-start-over"
FORMAT_LABELS = {"excel": "Excel (.xlsx)", "csv": "CSV"}


def human_size(size: int) -> str:
    """1536 -> '1.5 KB'."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # unreachable; keeps type checkers calm


def when(iso: str) -> str:
    """'2025-07-24T16:27:57' -> '2025-07-24 16:27'."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def total_size(summary: dict[str, Any]) -> int:
    """The download size: the ZIP for multi-file exports, else the file."""
    if summary.get("archive"):
        return int(summary["archive"]["zip_file_size"])
    return sum(int(f["file_size"]) for f in summary["files"])


def _link(text: str, href: str, link_id: str, primary: bool) -> html.A:
    color = "btn-primary" if primary else "btn-outline-primary"
    return html.A(
        text,
        href=href,
        id=link_id,
        className=f"btn {color} btn-sm me-2 mb-2",
        download="",
        role="button",
    )


def _downloads(summary: dict[str, Any]) -> list[Any]:
    export_id = summary["export_id"]
    if not summary.get("archive"):
        file = summary["files"][0]
        label = f"Download {file['file_name']} ({human_size(file['file_size'])})"
        return [_link(label, download_url(export_id), "result-download", True)]
    archive = summary["archive"]
    parts: list[Any] = [
        _link(
            f"Download all as ZIP ({human_size(archive['zip_file_size'])})",
            download_url(export_id, "zip"),
            "result-download-zip",
            True,
        )
    ]
    batches = [
        html.Li(
            html.A(
                f"{f['file_name']}",
                href=download_url(export_id, f["batch_number"]),
                id=f"result-batch-{f['batch_number']}",
                download="",
            ),
            className="small",
        )
        for f in summary["files"]
    ]
    parts.append(
        html.Details(
            [
                html.Summary(f"Or one file at a time ({len(batches)} files)"),
                html.Ol(batches, className="batch-list mb-0"),
            ]
        )
    )
    return parts


def next_steps(summary: dict[str, Any]) -> html.Div:
    """What a person usually does next: the same data in the other format, or new data. Both
    work on the page as it is (assets/ybb.js: nextFormat, startOver), without a reload."""
    other = "csv" if summary.get("format") == "excel" else "excel"
    return html.Div(
        [
            html.Span("Next: ", className="small text-body-secondary me-2"),
            html.Button(
                f"Export the same data as {FORMAT_LABELS[other]}",
                id={"type": NEXT_FORMAT, "format": other},
                className="btn btn-outline-secondary btn-sm me-2 mb-1",
                type="button",
            ),
            html.Button(
                "Start over with new data",
                id=START_OVER,
                className="btn btn-outline-secondary btn-sm mb-1",
                type="button",
            ),
        ],
        className="border-top pt-2 mt-2",
    )


def result_card(summary: dict[str, Any]) -> dbc.Card:
    """The finished export: downloads first, then the facts."""
    facts = [
        ("Export id", html.Code(summary["export_id"], id="result-export-id")),
        ("Records", f"{summary['record_count']:,}"),
        ("Files", f"{len(summary['files'])}" + (" + ZIP" if summary.get("archive") else "")),
        ("Size", human_size(total_size(summary))),
        ("Available until", when(summary["expires_at"])),
    ]
    rows = [
        html.Div(
            [html.Dt(k, className="col-5 col-sm-4"), html.Dd(v, className="col-7 col-sm-8 mb-1")],
            className="row",
        )
        for k, v in facts
    ]
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("Your export is ready", className="h6 mb-0")),
            dbc.CardBody(
                [
                    html.Div(_downloads(summary), className="mb-2"),
                    html.Dl(rows, className="small mb-0"),
                    next_steps(summary),
                ]
            ),
        ],
        id=RESULT_CARD,
        color="success",
        outline=True,
        className="mb-3",
    )
