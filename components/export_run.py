"""Step 4, "Export": a Dash background callback writes the export (in a fresh process, see
export_job) with a progress bar of files written and a cancel button, then shows the result.
Cancel stops the job (Dash kills it) and removes what it had begun (export_job.cancel)."""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html
from dash.exceptions import MissingCallbackContextException

from app.api.hooks import REQUEST_ID_RE
from app.metrics import measure_export
from components import export_job, runtime, team_ui
from components import options as opt
from components import preview as pv
from components.data_in import ALERT as DATA_ALERT
from components.data_in import PASTE_TEXT, SUMMARY
from components.feedback import alert
from components.result import NEXT_FORMAT, START_OVER, result_card
from export_core.errors import ExportError
from export_core.logs import REQUEST_ID
from export_core.store import CANCELLED

log = logging.getLogger("ybb.ui.export")

EXPORT_BUTTON = "export-button"
CANCEL_BUTTON = "export-cancel"
PROGRESS = "export-progress"
PROGRESS_WRAP = "export-progress-wrap"
PROGRESS_TEXT = "export-progress-text"
RESULT = "export-result"
RESULT_FOR = "export-result-for"  # the data key the shown result belongs to
REQUESTED = "export-requested"  # {"export_id": ...}: chosen in the browser on each Export click
# The id an export is recorded under is chosen in the browser when Export is clicked, so that
# Cancel knows it from the first instant (a uuid4 the server checks; the store refuses one that
# is taken): assets/ybb.js exportRequest, and nextFormat for the result card's "Export the same
# data as ..." button, which also switches the format.
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def requested_id(requested: Any) -> str | None:
    """The export id the browser chose, if it is a well-formed uuid4 (else None: the store then
    picks one, and Cancel can only stop the job, not remove what it recorded)."""
    value = requested.get("export_id") if isinstance(requested, dict) else None
    return value if isinstance(value, str) and _UUID4.match(value) else None


_BUSY_HINT = "Try again in a few seconds."
# How often the browser asks for the export's progress and result (Dash's default is 1 s). The
# result shows up at most this long after the export is done. From the click on Export to the
# result card, 25 participants in headless Chromium, 6 exports: 1.33-2.52 s (median 2.4 s)
# with 1 s, 1.30-1.71 s (median 1.6 s) with 0.3 s. Most of the rest is the export process's
# start (a fresh interpreter importing the engine: ~0.3 s on the December machine; export_job).
POLL_MS = 200


def layout() -> dbc.Card:
    """The export card: buttons, progress bar and the result area."""
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("4. Export", className="h6 mb-0")),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            dbc.Button(
                                "Export",
                                id=EXPORT_BUTTON,
                                color="primary",
                                disabled=True,
                                className="me-2",
                            ),
                            dbc.Button(
                                "Cancel",
                                id=CANCEL_BUTTON,
                                color="secondary",
                                outline=True,
                                disabled=True,
                            ),
                        ],
                        className="mb-2",
                    ),
                    html.Div(
                        [
                            html.Span("Export progress", className="visually-hidden"),
                            dbc.Progress(
                                id=PROGRESS,
                                value=0,
                                max=1,
                                striped=True,
                                animated=True,
                                style={"height": "1.4rem"},
                            ),
                            # Beside the bar, not on it: a label on the bar is clipped to its
                            # filled part, and at 0% (a single file, until it is done) unseen.
                            html.Div(
                                id=PROGRESS_TEXT,
                                className="small text-body-secondary mt-1",
                                **{"aria-live": "polite"},
                            ),
                        ],
                        id=PROGRESS_WRAP,
                        className="d-none mb-2",
                    ),
                    html.Div(id=RESULT, **{"aria-live": "polite"}),
                    # Not None: a memory Store mounted with None sets its data on mount, which
                    # counted as a change and ran the export callback on every page load (it
                    # said "Nothing to export yet" and, through `running`, enabled Export).
                    dcc.Store(id=REQUESTED, data={}),
                    dcc.Store(id=RESULT_FOR, data=None),
                ]
            ),
        ],
        className="mb-3",
    )


def cancelled_view() -> Any:
    """What the result area says once the user cancelled."""
    return alert(
        "Export cancelled.", "Nothing was kept; press Export to start again.", color="secondary"
    )


def outcome_view(outcome: tuple[Any, ...]) -> Any:
    """The result card for a finished export, or an alert saying what went wrong."""
    kind = outcome[0]
    if kind == "done":
        return result_card(outcome[1])
    if kind == "error":
        _, name, message, retry_after = outcome
        if name == "Busy":
            return alert(
                "The server is busy.",
                message,
                f"Try again in {retry_after} seconds." if retry_after else _BUSY_HINT,
                color="warning",
            )
        return alert("The export could not be written.", message)
    return alert(
        "Something went wrong while writing the export.",
        f"The error was logged with reference {outcome[1]}.",
        "Try again; if it keeps happening, give the reference to the administrator.",
    )


def run_export(
    set_progress: Any,
    state: dict[str, Any] | None,
    export_type: str,
    template: str,
    fmt: str,
    bom: bool | None,
    filename: str | None,
    sheet: str | None,
    chunking: str,
    export_id: str | None = None,
) -> Any:
    """The background callback body: run the export (under `export_id` if given), reporting
    (files done, total, label)."""
    if not state or state.get("type") != export_type or state.get("template") != template:
        return alert(
            "Nothing to export yet.", "Load data and wait for the preview first.", color="warning"
        )
    options = opt.build_options(export_type, template, fmt, bom, filename, sheet, chunking)
    try:  # the choices the preview used; a team template deleted since is said, not a crash
        pairs = team_ui.column_map_pairs(state.get("column_map"))
        options = team_ui.with_team_template(dataclasses.replace(options, column_map=pairs))
    except ExportError as exc:
        return alert("The export could not be written.", exc.message)
    set_progress((0, 1, "Starting…"))
    begun: list[str] = []

    def started(begun_id: str) -> None:
        begun.append(begun_id)
        set_progress((0, 1, f"Writing {state.get('rows', 0):,} records…"))

    def progress(done: int, total: int) -> None:
        set_progress((done, max(total, 1), f"{done} of {total} files written"))

    REQUEST_ID.set(_request_id_of_callback())
    with measure_export(options, "ui") as measure:
        outcome = export_job.run_isolated(
            runtime.get_settings(), state["key"], options, progress, started, export_id
        )
        if outcome[0] == "done":
            measure.record = outcome[1]
    if outcome[0] == "error" and (
        (begun and export_job.was_removed(begun[0]))  # removed under it: its error is moot
        or (not begun and outcome[2] == CANCELLED)  # cancelled first: the store refused the id
    ):
        return cancelled_view()
    return outcome_view(outcome)


def _request_id_of_callback() -> str | None:
    """The X-Request-ID of the request that started this background callback (app/api/hooks
    puts the id in force among the request's headers; Dash hands those to the job)."""
    try:
        headers = dash.callback_context.headers or {}
    except MissingCallbackContextException:  # called outside a callback: no request
        return None
    found = {k.lower(): v for k, v in headers.items()}.get("x-request-id")
    return found if isinstance(found, str) and REQUEST_ID_RE.match(found) else None


def stale_result_update(state: Any, shown: Any, shown_for: Any) -> Any:
    """What the result area becomes when the preview state changes: an alert ("Export
    cancelled", "Nothing to export yet", an error) answered something that is over, so it
    goes; a result card stays while the same data is loaded (its links still work, and the
    "other format" button changes the format, hence the state), and goes with new data."""
    if not shown:
        return dash.no_update
    is_alert = isinstance(shown, dict) and shown.get("type") == "Alert"
    same_data = isinstance(state, dict) and state.get("key") == shown_for
    return None if is_alert or not same_data else dash.no_update


def register_next_steps(app: dash.Dash) -> None:
    """The result card's buttons: the same data in the other format (switch the format and
    start an export under a new id at once), or start over (clear the data, alerts and
    result; the options stay as they are)."""
    app.clientside_callback(
        ClientsideFunction(namespace="ybb", function_name="nextFormat"),
        Output(opt.FORMAT, "value", allow_duplicate=True),
        Output(REQUESTED, "data", allow_duplicate=True),
        Input({"type": NEXT_FORMAT, "format": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ybb", function_name="startOver"),
        Output(SUMMARY, "data", allow_duplicate=True),
        Output(DATA_ALERT, "children", allow_duplicate=True),
        Output(PASTE_TEXT, "value", allow_duplicate=True),
        Output("data-tabs", "active_tab"),
        Output(RESULT, "children", allow_duplicate=True),
        Output(RESULT_FOR, "data", allow_duplicate=True),
        Input(START_OVER, "n_clicks"),
        prevent_initial_call=True,
    )


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app` (the export one runs in the background)."""

    @app.callback(
        Output(EXPORT_BUTTON, "disabled", allow_duplicate=True),
        Input(pv.STATE, "data"),
        prevent_initial_call=True,
    )
    def _enable(state: Any) -> bool:
        return not state

    app.clientside_callback(
        ClientsideFunction(namespace="ybb", function_name="exportRequest"),
        Output(REQUESTED, "data"),
        Input(EXPORT_BUTTON, "n_clicks"),
        prevent_initial_call=True,
    )
    register_next_steps(app)

    @app.callback(
        Output(RESULT, "children"),
        Output(RESULT_FOR, "data"),
        Input(REQUESTED, "data"),
        State(pv.STATE, "data"),
        State(opt.TYPE, "value"),
        State(opt.TEMPLATE, "value"),
        State(opt.FORMAT, "value"),
        State(opt.CSV_BOM, "value"),
        State(opt.FILENAME, "value"),
        State(opt.SHEET, "value"),
        State(opt.CHUNKING, "value"),
        background=True,
        running=[
            (Output(EXPORT_BUTTON, "disabled"), True, False),
            (Output(CANCEL_BUTTON, "disabled"), False, True),
            (Output(PROGRESS_WRAP, "className"), "mb-2", "d-none mb-2"),
        ],
        cancel=[Input(CANCEL_BUTTON, "n_clicks")],
        progress=[
            Output(PROGRESS, "value"),
            Output(PROGRESS, "max"),
            Output(PROGRESS_TEXT, "children"),
        ],
        progress_default=[0, 1, ""],
        interval=POLL_MS,
        prevent_initial_call=True,
    )
    def _export(set_progress: Any, requested: Any, *values: Any) -> Any:
        export_id = requested_id(requested)
        if export_id is None:  # no Export click behind it (the page just loaded): say nothing
            return dash.no_update, dash.no_update
        key = values[0].get("key") if isinstance(values[0], dict) else None
        try:
            return run_export(set_progress, *values, export_id=export_id), key
        except Exception:  # a failure of the job itself: said on the page, not a silent 500
            reference = uuid.uuid4().hex[:8]
            log.exception("export job failed (reference %s)", reference)
            return outcome_view(("crash", reference)), key

    @app.callback(
        Output(RESULT, "children", allow_duplicate=True),
        Input(pv.STATE, "data"),
        State(RESULT, "children"),
        State(RESULT_FOR, "data"),
        prevent_initial_call=True,
    )
    def _drop_stale(state: Any, shown: Any, shown_for: Any) -> Any:
        return stale_result_update(state, shown, shown_for)

    @app.callback(
        Output(RESULT, "children", allow_duplicate=True),
        Input(CANCEL_BUTTON, "n_clicks"),
        State(REQUESTED, "data"),
        prevent_initial_call=True,
    )
    def _cancel(_clicks: Any, requested: Any) -> Any:
        # The same click makes Dash stop the job (its `cancel` input); this removes what the
        # job had begun, or makes sure it can no longer begin (store.cancel).
        export_id = requested_id(requested)
        if export_id:
            export_job.cancel(export_id)
        return cancelled_view()
