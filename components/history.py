"""The /exports page: recent exports from the store, with download links and a confirmed delete."""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from components import runtime
from components.export_job import record_summary
from components.feedback import alert, error_alert
from components.links import download_url
from components.result import human_size, total_size, when

GRID = "history-grid"
EMPTY = "history-empty"
REFRESH = "history-refresh"
DELETE = "history-delete"
CONFIRM = "history-confirm"
CONFIRM_TEXT = "history-confirm-text"
CONFIRM_YES = "history-confirm-yes"
CONFIRM_NO = "history-confirm-no"
ALERT = "history-alert"
LOADED = "history-loaded"
LIMIT = 200

COLUMNS = [
    {"headerName": "Created", "field": "created", "minWidth": 140},
    {"headerName": "Type", "field": "export_type"},
    {"headerName": "Template", "field": "template"},
    {"headerName": "Records", "field": "record_count", "type": "rightAligned"},
    {"headerName": "Files", "field": "files", "type": "rightAligned", "maxWidth": 110},
    {"headerName": "Size", "field": "size", "type": "rightAligned"},
    {"headerName": "Expires", "field": "expires", "minWidth": 140},
    {"headerName": "State", "field": "state"},
    {"headerName": "Download", "field": "download", "cellRenderer": "markdown", "minWidth": 130},
]


def layout() -> html.Div:
    """The history page body; rows arrive from a callback when the page opens."""
    grid = dag.AgGrid(
        id=GRID,
        columnDefs=COLUMNS,
        rowData=[],
        getRowId="params.data.export_id",
        defaultColDef={"resizable": True, "sortable": True, "filter": True, "flex": 1},
        dashGridOptions={
            "rowSelection": {"mode": "singleRow", "enableClickSelection": True},
            "domLayout": "autoHeight",
            "pagination": True,
            "paginationPageSize": 20,
            "paginationPageSizeSelector": False,
        },
        style={"width": "100%"},
    )
    confirm = dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Delete this export?")),
            dbc.ModalBody(id=CONFIRM_TEXT),
            dbc.ModalFooter(
                [
                    dbc.Button("Keep it", id=CONFIRM_NO, color="secondary", outline=True),
                    dbc.Button("Delete", id=CONFIRM_YES, color="danger"),
                ]
            ),
        ],
        id=CONFIRM,
        is_open=False,
    )
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Recent exports", className="h4 mb-0 me-auto"),
                    dbc.Button(
                        "Refresh",
                        id=REFRESH,
                        color="secondary",
                        outline=True,
                        size="sm",
                        className="me-2",
                    ),
                    dbc.Button(
                        "Delete selected",
                        id=DELETE,
                        color="danger",
                        outline=True,
                        size="sm",
                        disabled=True,
                    ),
                ],
                className="d-flex align-items-center mb-3",
            ),
            html.Div(id=ALERT, **{"aria-live": "polite"}),
            html.Div(id=EMPTY),
            html.Div(grid, id="history-grid-wrap"),
            dcc.Store(id=LOADED, data=0),
            confirm,
        ]
    )


def history_rows() -> list[dict[str, Any]]:
    """The store's recent exports as grid rows."""
    records, _total = runtime.get_store().list(limit=LIMIT)
    rows = []
    for record in records:
        summary = record_summary(record)
        link = (
            f"[Download]({download_url(record.export_id)})" if record.state == "completed" else ""
        )
        rows.append(
            {
                "export_id": record.export_id,
                "created": when(summary["created_at"]),
                "export_type": record.export_type,
                "template": record.template,
                "record_count": f"{record.record_count:,}",
                "files": str(len(record.files)) + (" + ZIP" if record.archive else ""),
                "size": human_size(total_size(summary)) if record.files else "",
                "expires": when(summary["expires_at"]),
                "state": record.state,
                "download": link,
            }
        )
    return rows


def empty_state(rows: list[dict[str, Any]]) -> Any:
    """A friendly note when there is nothing to list."""
    if rows:
        return None
    return dbc.Alert(
        ["No exports yet. ", dcc.Link("Create one on the Export page", href="/"), "."], color="info"
    )


def delete_export(export_id: str) -> Any:
    """Delete one export; an alert saying what happened."""
    try:
        runtime.get_store().delete(export_id)
    except Exception as exc:
        return error_alert(exc, doing="deleting the export")
    return alert("Export deleted.", f"{export_id} and its files were removed.", color="success")


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app`."""

    @app.callback(
        Output(GRID, "rowData"),
        Output(EMPTY, "children"),
        Output("history-grid-wrap", "className"),
        Input(REFRESH, "n_clicks"),
        Input(LOADED, "data"),
    )
    def _load(_clicks: Any, _loaded: Any) -> tuple[Any, Any, str]:
        try:
            rows = history_rows()
        except Exception as exc:
            return [], error_alert(exc, doing="listing exports"), "d-none"
        return rows, empty_state(rows), "" if rows else "d-none"

    @app.callback(Output(DELETE, "disabled"), Input(GRID, "selectedRows"))
    def _selected(selected: Any) -> bool:
        return not selected

    @app.callback(
        Output(CONFIRM, "is_open"),
        Output(CONFIRM_TEXT, "children"),
        Input(DELETE, "n_clicks"),
        Input(CONFIRM_NO, "n_clicks"),
        State(GRID, "selectedRows"),
        prevent_initial_call=True,
    )
    def _ask(_delete: Any, _no: Any, selected: Any) -> tuple[bool, Any]:
        if dash.ctx.triggered_id != DELETE or not selected:
            return False, dash.no_update
        row = selected[0]
        return True, (
            f"The {row['export_type']} export of {row['record_count']} records "
            f"created {row['created']} and its files will be removed for everyone."
        )

    @app.callback(
        Output(ALERT, "children"),
        Output(CONFIRM, "is_open", allow_duplicate=True),
        Output(LOADED, "data"),
        Input(CONFIRM_YES, "n_clicks"),
        State(GRID, "selectedRows"),
        State(LOADED, "data"),
        prevent_initial_call=True,
    )
    def _delete(_yes: Any, selected: Any, loaded: int) -> tuple[Any, bool, int]:
        if not selected:
            return dash.no_update, False, loaded
        return delete_export(selected[0]["export_id"]), False, (loaded or 0) + 1
