"""Step 1, "Your data": upload a file, paste JSON/CSV, or load a sample. The data is parsed on
the server once and kept in the upload cache; the browser keeps only its key and a summary."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html

from components import runtime, upload_route
from components.data_load import load_bytes, too_large_message
from components.feedback import alert, error_alert
from components.samples import sample_json, sample_types
from export_core.catalog import get_catalog
from export_core.errors import InputError

CARD = "data-card"  # a file dropped anywhere on this card is uploaded (assets/ybb_upload.js)
UPLOAD = "data-upload"
UPLOAD_CONFIG = "data-upload-config"
UPLOAD_PROGRESS = "data-upload-progress"
UPLOAD_PROGRESS_TEXT = "data-upload-progress-text"
UPLOAD_REQUEST = "data-upload-request"
PASTE_TEXT = "data-paste-text"
PASTE_BUTTON = "data-paste-button"
SAMPLE_TYPE = "data-sample-type"
SAMPLE_BUTTON = "data-sample-button"
SUMMARY = "data-summary"
ALERT = "data-alert"
SUMMARY_TEXT = "data-summary-text"
SIZE_LIMIT = "data-size-limit"
PASTE_REQUEST = "data-paste-request"
LARGE_PASTE_CHARS = 1_000_000  # pasted text above this is cleared once loaded (see below)


def _upload_tab() -> dbc.Tab:
    # dcc.Upload is only the file chooser here: assets/ybb_upload.js takes the chosen (or
    # dropped) file before dcc.Upload reads it and sends it to the upload route with progress,
    # instead of as base64 through a callback (2.5 s for a 19 MB file, and no big files at all).
    limit_mb = runtime.get_settings().max_upload_bytes // 1_048_576
    zone = dcc.Upload(
        id=UPLOAD,
        accept=".json,.csv,.xlsx,application/json,text/csv",
        multiple=False,
        className="upload-zone",
        className_active="upload-zone upload-zone-active",
        children=html.Div(
            [
                html.Span("Drag a file onto this card or ", className="me-1"),
                html.Span("choose a file", className="btn btn-outline-primary btn-sm"),
                html.Div(f".json, .csv or .xlsx, up to {limit_mb} MB", className="form-text"),
            ]
        ),
    )
    progress = html.Div(
        [
            html.Div(
                html.Div(className="progress-bar", role="progressbar", style={"width": "0%"}),
                className="progress",
                style={"height": "0.6rem"},
            ),
            html.Div(
                id=UPLOAD_PROGRESS_TEXT,
                className="small text-body-secondary mt-1",
                **{"aria-live": "polite"},
            ),
        ],
        id=UPLOAD_PROGRESS,
        className="mt-2 d-none",
    )
    return dbc.Tab(
        html.Div(
            [
                html.Label("File upload", htmlFor=UPLOAD, className="visually-hidden"),
                zone,
                progress,
            ],
            className="pt-3",
        ),
        label="Upload a file",
        tab_id="upload",
    )


def _paste_tab() -> dbc.Tab:
    return dbc.Tab(
        html.Div(
            [
                dbc.Label(
                    'Paste JSON (a list, or {"data": [...]}) or CSV with a header row',
                    html_for=PASTE_TEXT,
                ),
                dbc.Textarea(
                    id=PASTE_TEXT,
                    rows=6,
                    className="font-monospace small mb-2",
                    placeholder='[{"id": 1, "first_name": "Amina", ...}]',
                    spellCheck=False,
                ),
                html.Div(
                    "Read as soon as you paste or stop typing.",
                    className="form-text mt-0 mb-1",
                ),
                # Kept for keyboard users, who may prefer to say when they are done.
                dbc.Button("Read pasted data", id=PASTE_BUTTON, color="primary", size="sm"),
            ],
            className="pt-3",
        ),
        label="Paste",
        tab_id="paste",
    )


def _sample_tab() -> dbc.Tab:
    catalog = get_catalog()
    options = [{"label": catalog.types[t].label, "value": t} for t in sample_types()]
    return dbc.Tab(
        html.Div(
            [
                dbc.Label("Sample dataset (25 made-up records)", html_for=SAMPLE_TYPE),
                dbc.InputGroup(
                    [
                        dbc.Select(id=SAMPLE_TYPE, options=options, value=options[0]["value"]),
                        dbc.Button("Load sample", id=SAMPLE_BUTTON, color="primary"),
                    ],
                    size="sm",
                ),
            ],
            className="pt-3",
        ),
        label="Sample",
        tab_id="sample",
    )


def layout() -> dbc.Card:
    """The data-in card: tabs for upload / paste / sample, the alert area and the summary."""
    settings = runtime.get_settings()
    upload_url = dash.get_relative_path(upload_route.UPLOAD_PATH)
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("1. Your data", className="h6 mb-0")),
            dbc.CardBody(
                [
                    dbc.Tabs(
                        [_upload_tab(), _paste_tab(), _sample_tab()],
                        id="data-tabs",
                        active_tab="upload",
                    ),
                    dcc.Store(id=SUMMARY, storage_type="session"),
                    dcc.Store(id=UPLOAD_REQUEST),
                    dcc.Store(id=PASTE_REQUEST),
                    dcc.Store(id=SIZE_LIMIT, data=settings.max_upload_bytes),
                    # Read by assets/ybb_upload.js: where files go, the size refused up front.
                    html.Div(
                        id=UPLOAD_CONFIG,
                        hidden=True,
                        **{"data-url": upload_url, "data-limit": str(settings.max_upload_bytes)},
                    ),
                    html.Div(id=ALERT, className="mt-3", **{"aria-live": "polite"}),
                    html.Div(id=SUMMARY_TEXT, className="small text-body-secondary"),
                ]
            ),
        ],
        id=CARD,
        className="mb-3 data-card",
    )


def summary_text(summary: dict[str, Any] | None) -> Any:
    """One line describing the loaded data, or a hint when nothing is loaded yet."""
    if not summary:
        return "No data loaded yet."
    columns = ", ".join(summary["columns"][:8])
    more = summary["column_count"] - min(8, len(summary["columns"]))
    return [
        html.Strong(f"{summary['rows']:,} records"),
        f" from {summary['source']} — {summary['column_count']} columns: {columns}",
        f" and {more} more" if more > 0 else "",
    ]


def _summary_for(
    trigger: str | None, upload_request: Any, paste_text: str | None, sample_type: str | None
) -> dict[str, Any] | None:
    """The summary for what triggered the load (None: nothing to load); InputError when bad."""
    limit = runtime.get_settings().max_upload_bytes
    if trigger == UPLOAD_REQUEST and isinstance(upload_request, dict):
        return upload_route.summary_from_answer(upload_request, limit)
    if trigger == PASTE_REQUEST and isinstance(upload_request, dict):
        if upload_request.get("too_large"):
            raise InputError(too_large_message(upload_request["too_large"], limit, "pasted text"))
        trigger, paste_text = PASTE_BUTTON, str(upload_request.get("text") or "")
    if trigger == PASTE_BUTTON:
        if not (paste_text or "").strip():
            raise InputError("The text box is empty. Paste JSON or CSV text first.")
        return load_bytes((paste_text or "").encode("utf-8"), None, "pasted text")
    if trigger == SAMPLE_BUTTON and sample_type in sample_types():
        return load_bytes(
            sample_json(sample_type).encode("utf-8"), "sample.json", f"the {sample_type} sample"
        )
    return None


def _subject(trigger: str | None, request: Any) -> str:
    """What the alert says could not be read."""
    if trigger == UPLOAD_REQUEST and isinstance(request, dict):
        return f"the file {request.get('filename') or 'upload'}"
    if trigger in (PASTE_BUTTON, PASTE_REQUEST):
        return "the pasted text"
    return "your data"


def load_data(
    trigger: str | None, request: Any, paste_text: str | None, sample_type: str | None
) -> tuple[Any, Any]:
    """The callback body: (summary or no_update, alert). Bad input leaves the current data.
    `request` is the upload request (UPLOAD_REQUEST) or the paste request (PASTE_REQUEST)."""
    try:
        summary = _summary_for(trigger, request, paste_text, sample_type)
    except Exception as exc:  # every failure becomes an alert; unexpected ones are logged
        subject = _subject(trigger, request)
        return dash.no_update, error_alert(exc, doing="reading your data", subject=subject)
    if summary is None:
        return dash.no_update, dash.no_update
    return summary, alert(
        "Data loaded.", f"{summary['rows']:,} records are ready to preview.", color="success"
    )


def release_large_inputs(
    trigger: str | None, request: Any, *, loaded: bool
) -> tuple[Any, Any, Any]:
    """(upload request, paste request, paste text) to set after a load: the upload route's
    answer and the paste request's copy of the text are dropped once read, and a large paste
    is cleared from the text box after it loaded. Megabytes held in the page's state made every
    later callback of the page (grid paging, export) seconds slower."""
    mine = isinstance(request, dict)
    upload = None if trigger == UPLOAD_REQUEST and mine else dash.no_update
    paste = None if trigger == PASTE_REQUEST and mine else dash.no_update
    text = str(request.get("text") or "") if paste is None else ""
    return upload, paste, "" if loaded and len(text) > LARGE_PASTE_CHARS else dash.no_update


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app`."""
    upload_route.register(app.server)
    # In the browser: refuse pastes above the limit before sending them (a paste travels only
    # inside its request, so a refused one never reaches the server); a paste or typing is
    # read once the text has stopped changing for a moment (debounced in assets/ybb.js).
    # Files never pass through a callback: assets/ybb_upload.js posts them to the upload route
    # and puts the route's answer into UPLOAD_REQUEST.
    app.clientside_callback(
        ClientsideFunction(namespace="ybb", function_name="pasteRequest"),
        Output(PASTE_REQUEST, "data"),
        Input(PASTE_BUTTON, "n_clicks"),
        Input(PASTE_TEXT, "value"),
        State(SIZE_LIMIT, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(SUMMARY, "data"),
        Output(ALERT, "children"),
        Output(UPLOAD_REQUEST, "data", allow_duplicate=True),
        Output(PASTE_REQUEST, "data", allow_duplicate=True),
        Output(PASTE_TEXT, "value"),
        Input(UPLOAD_REQUEST, "data"),
        Input(PASTE_REQUEST, "data"),
        Input(SAMPLE_BUTTON, "n_clicks"),
        State(SAMPLE_TYPE, "value"),
        prevent_initial_call=True,
    )
    def _load(
        upload_request: Any, paste_request: Any, _sample: Any, sample_type: str | None
    ) -> tuple[Any, ...]:
        trigger = str(dash.ctx.triggered_id) if dash.ctx.triggered_id else None
        request = paste_request if trigger == PASTE_REQUEST else upload_request
        summary, message = load_data(trigger, request, None, sample_type)
        released = release_large_inputs(trigger, request, loaded=isinstance(summary, dict))
        return summary, message, *released

    @app.callback(Output(SUMMARY_TEXT, "children"), Input(SUMMARY, "data"))
    def _summary(summary: dict[str, Any] | None) -> Any:
        return summary_text(summary)
