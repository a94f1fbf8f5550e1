"""The /system page: is the service healthy, how busy was it in the last 24 hours, how full is
its disk - for staff who will never open Prometheus. The same checks as /health?detail=1
(app.health), the exports from the store, the disk from the data dir."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from app.health import health_detail
from components import runtime
from components.feedback import error_alert
from components.result import human_size
from export_core.store import ExportRecord, ExportStore

REFRESH = "system-refresh"
CHECKED_AT = "system-checked-at"
HEALTH = "system-health"
ACTIVITY = "system-activity"
CHART = "system-chart"
STORAGE = "system-storage"
PAGE = 200
MAX_PAGES = 50  # 10,000 exports a day is far beyond this service's use; stop there
HOURS = 24


def layout() -> html.Div:
    """The page body; its cards are filled by a callback when the page opens (and on Refresh)."""
    return html.Div(
        [
            html.Div(
                [
                    html.H1("System", className="h4 mb-0 me-auto"),
                    html.Span(id=CHECKED_AT, className="small text-body-secondary me-2"),
                    dbc.Button("Refresh", id=REFRESH, color="secondary", outline=True, size="sm"),
                ],
                className="d-flex align-items-center mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(_card("Health", HEALTH), lg=6, className="mb-3"),
                    dbc.Col(_card("Storage", STORAGE), lg=6, className="mb-3"),
                ]
            ),
            _card(
                f"Exports in the last {HOURS} hours",
                ACTIVITY,
                dcc.Graph(
                    id=CHART,
                    config={"displayModeBar": False, "responsive": True},
                    style={"height": "240px"},
                ),
            ),
        ]
    )


def _card(title: str, body_id: str, *extra: Any) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.H2(title, className="h6 mb-0")),
            dbc.CardBody([html.Div(id=body_id), *extra]),
        ],
        className="h-100",
    )


def recent_exports(store: ExportStore, now: datetime, hours: int = HOURS) -> list[ExportRecord]:
    """The exports created in the last `hours` (those the store still keeps), newest first."""
    since, found = now - timedelta(hours=hours), []
    for page in range(MAX_PAGES):
        records, total = store.list(limit=PAGE, offset=page * PAGE)
        found.extend(r for r in records if r.created_at >= since)
        if not records or records[-1].created_at < since or (page + 1) * PAGE >= total:
            break
    return found


def activity_figure(records: list[ExportRecord], now: datetime) -> go.Figure:
    """Exports per hour (completed and failed stacked) over the last 24 hours."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    hours = [start + timedelta(hours=h) for h in range(HOURS)]
    counts = {state: Counter[datetime]() for state in ("completed", "failed", "processing")}
    for record in records:
        bucket = record.created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        counts[record.state][bucket] += 1
    peak = max(sum(c[h] for c in counts.values()) for h in hours)
    step = max(1, -(-peak // 5))  # at most ~5 gridlines, never a fraction of an export
    colours = {"completed": "#366092", "failed": "#dc3545", "processing": "#adb5bd"}
    figure = go.Figure(
        [
            go.Bar(name=state.capitalize(), x=hours, y=[c[h] for h in hours], marker_color=colour)
            for state, c in counts.items()
            for colour in [colours[state]]
        ]
    )
    figure.update_layout(
        barmode="stack",
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        xaxis={"tickformat": "%H:%M", "title": {"text": "hour (UTC)", "font": {"size": 11}}},
        # whole-number steps: with automatic ones a quiet day's 0-1 axis read "0 0 0 1 1 1"
        yaxis={"title": None, "rangemode": "tozero", "tickformat": ",d", "dtick": step},
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    return figure


def activity_summary(records: list[ExportRecord]) -> html.Div:
    """Count, records and failures as three figures."""
    failed = sum(1 for r in records if r.state == "failed")
    figures = [
        ("Exports", f"{len(records):,}", "system-exports"),
        ("Records", f"{sum(r.record_count for r in records):,}", "system-records"),
        ("Failed", f"{failed:,}", "system-failed"),
    ]
    return html.Div(
        [
            html.Div(
                [html.Div(label, className="small text-body-secondary"), html.Div(v, id=i)],
                className="me-4 fs-5",
            )
            for label, v, i in figures
        ],
        className="d-flex flex-wrap",
    )


def health_view(report: dict[str, Any]) -> html.Div:
    """The checks as a table, the overall state as a badge, uptime and versions below."""
    ok = not report["failing"]
    rows = [
        html.Tr(
            [
                html.Th(name, scope="row", className="fw-normal"),
                html.Td(
                    dbc.Badge("OK" if c["ok"] else "FAIL", color="success" if c["ok"] else "danger")
                ),
                html.Td(c["detail"], className="small text-break"),
            ]
        )
        for name, c in report["checks"].items()
    ]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    return html.Div(
        [
            dbc.Badge(
                "Ready" if ok else "Not ready: " + ", ".join(report["failing"]),
                color="success" if ok else "danger",
                id="system-status",
                className="mb-2 fs-6",
            ),
            dbc.Table(html.Tbody(rows), size="sm", className="mb-2 align-middle"),
            html.Div(
                f"Worker {report['pid']} up {_duration(report['uptime_seconds'])}",
                className="small text-body-secondary",
            ),
            html.Div(versions, className="small text-body-secondary text-break"),
        ]
    )


def storage_view(settings: Any, records: list[ExportRecord]) -> html.Div:
    """Disk use of the data dir, what the kept exports take, retention and cleanup."""
    usage = shutil.disk_usage(settings.data_dir)
    used_pct = round(100 * (usage.total - usage.free) / max(usage.total, 1))
    kept = sum(f.file_size for r in records for f in r.files) + sum(
        r.archive.zip_file_size for r in records if r.archive is not None
    )
    facts = [
        ("Free", f"{human_size(usage.free)} of {human_size(usage.total)}"),
        ("Exports of the last 24 h", human_size(kept)),
        ("Retention", f"{settings.retention_hours:g} hours"),  # YBB_RETENTION_HOURS
        ("Cleanup", f"every {settings.cleanup_interval_seconds} s"),
        ("Free-space alarm", f"below {settings.health_min_free_mb:,} MB"),
    ]
    return html.Div(
        [
            dbc.Progress(
                value=used_pct,
                label=f"{used_pct}% used",
                color="danger" if used_pct >= 90 else "primary",
                style={"height": "1.4rem"},
                className="mb-2",
                id="system-disk",
            ),
            html.Dl(
                [
                    part
                    for k, v in facts
                    for part in (
                        html.Dt(k, className="col-5 fw-normal"),
                        html.Dd(v, className="col-7 mb-1"),
                    )
                ],
                className="row small mb-0",
            ),
        ]
    )


def _duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min"


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app`."""

    @app.callback(
        Output(HEALTH, "children"),
        Output(STORAGE, "children"),
        Output(ACTIVITY, "children"),
        Output(CHART, "figure"),
        Output(CHECKED_AT, "children"),
        Input(REFRESH, "n_clicks"),
    )
    def _load(_clicks: Any) -> tuple[Any, Any, Any, Any, str]:
        settings, store, now = runtime.get_settings(), runtime.get_store(), datetime.now(UTC)
        report = health_detail(settings, store)  # never raises: a failure is a failed check
        try:
            records = recent_exports(store, now)
        except Exception as exc:  # the store is down: the health card says which part
            records, activity = [], error_alert(exc, doing="listing the recent exports")
        else:
            activity = activity_summary(records)
        return (
            health_view(report),
            storage_view(settings, records),
            activity,
            activity_figure(records, now),
            f"Checked {now:%H:%M:%S} UTC",
        )
