"""Step 4, "Export": a Dash background callback writes the export (in a fresh process, see
export_job) with a progress bar of files written and a cancel button, then shows the result."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from components import export_job, runtime
from components import options as opt
from components import preview as pv
from components.feedback import alert
from components.result import result_card

EXPORT_BUTTON = "export-button"
CANCEL_BUTTON = "export-cancel"
PROGRESS = "export-progress"
PROGRESS_WRAP = "export-progress-wrap"
RESULT = "export-result"
_BUSY_HINT = "Try again in a few seconds."
# How often the browser asks for the export's progress and result (Dash's default is 1 s). The
# result shows up at most this long after the export is done. From the click on Export to the
# result card, 25 participants in headless Chromium, 6 exports: 1.33-2.52 s (median 2.4 s)
# with 1 s, 1.30-1.71 s (median 1.6 s) with 0.3 s. Most of the rest is the export process's
# start (a fresh interpreter importing the engine, ~0.5 s: see export_job).
POLL_MS = 300


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
                                label="",
                                style={"height": "1.4rem"},
                            ),
                        ],
                        id=PROGRESS_WRAP,
                        className="d-none mb-2",
                    ),
                    html.Div(id=RESULT, **{"aria-live": "polite"}),
                ]
            ),
        ],
        className="mb-3",
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
) -> Any:
    """The background callback body: run the export, reporting (files done, total, label)."""
    if not state or state.get("type") != export_type or state.get("template") != template:
        return alert(
            "Nothing to export yet.", "Load data and wait for the preview first.", color="warning"
        )
    options = opt.build_options(export_type, template, fmt, bom, filename, sheet, chunking)
    set_progress((0, 1, "Starting…"))

    def progress(done: int, total: int) -> None:
        set_progress((done, max(total, 1), f"{done} of {total} files written"))

    outcome = export_job.run_isolated(runtime.get_settings(), state["key"], options, progress)
    return outcome_view(outcome)


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app` (the export one runs in the background)."""

    @app.callback(
        Output(EXPORT_BUTTON, "disabled", allow_duplicate=True),
        Input(pv.STATE, "data"),
        prevent_initial_call=True,
    )
    def _enable(state: Any) -> bool:
        return not state

    @app.callback(
        Output(RESULT, "children"),
        Input(EXPORT_BUTTON, "n_clicks"),
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
        progress=[Output(PROGRESS, "value"), Output(PROGRESS, "max"), Output(PROGRESS, "label")],
        progress_default=[0, 1, ""],
        interval=POLL_MS,
        prevent_initial_call=True,
    )
    def _export(set_progress: Any, _clicks: Any, *values: Any) -> Any:
        return run_export(set_progress, *values)
