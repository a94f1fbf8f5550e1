"""Step 3, "Preview": the mapped output exactly as it will be written — template headers,
translated statuses, formatted dates and money — for the whole dataset, paged from the server
(AG Grid's infinite row model asks for 100 rows at a time), with the QualityReport and the plan.

The summary comes from `service.preview`; the grid's pages come from `cells.display_rows` on the
memoised mapped frame, the same function `service.preview` uses, so paging never re-maps."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, dcc, html

from components import column_map, runtime, team_ui
from components import options as opt
from components.data_in import SUMMARY
from components.feedback import alert, error_alert
from components.quality import QUALITY_PANEL, quality_panel
from export_core import service
from export_core.cells import display_rows

GRID = "preview-grid"  # the container; the grid inside has a pattern-matching id
GRID_TYPE = "preview-grid-instance"
STATE = "preview-state"
PLAN = "preview-plan"
WARMUP = "preview-grid-warmup"
ALERT = "preview-alert"
PAGE_SIZE = 100
EXPIRED = "The loaded data has expired from the server's cache. Load it again."


def grid(
    headers: tuple[str, ...] | list[str], token: str, sample: list[dict[str, str]] | None = None
) -> dag.AgGrid:
    """The preview grid for one (data, type, template). A new token gives the grid a new id,
    so React mounts a fresh grid whose infinite row model asks for its first page again."""
    return dag.AgGrid(
        id={"type": GRID_TYPE, "token": token},
        rowModelType="infinite",
        columnDefs=column_defs(headers, sample or []),
        defaultColDef={"resizable": True, "sortable": False, "suppressMovable": True},
        dashGridOptions={
            "pagination": True,
            "paginationPageSize": PAGE_SIZE,
            "paginationPageSizeSelector": False,
            "cacheBlockSize": PAGE_SIZE,
            "maxBlocksInCache": 20,
            "rowBuffer": 0,
            "infiniteInitialRowCount": 1,
            "enableCellTextSelection": True,
            "suppressColumnVirtualisation": True,  # at most 15 columns; all in the DOM
        },
        style={"height": "min(460px, 52vh)", "width": "100%"},
        className="preview-grid",
    )


EMPTY_GRID = html.Div("Load data to see the preview.", className="preview-empty")


def layout() -> dbc.Card:
    """The preview card: plan line, the paged grid and the quality panel."""
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("3. Preview", className="h6 mb-0")),
            dbc.CardBody(
                [
                    html.Div(id=ALERT, **{"aria-live": "polite"}),
                    html.P(id=PLAN, className="plan-line mb-2", children="Nothing to preview yet."),
                    dcc.Store(id=STATE),
                    # An empty, hidden grid mounted with the page makes the browser fetch and
                    # compile AG Grid's lazily loaded code (870 KB) before data arrives; the
                    # first real grid then mounts at once (~0.25 s sooner, headless Chromium).
                    html.Div(
                        dag.AgGrid(id=WARMUP, columnDefs=[], rowData=[]),
                        hidden=True,
                        **{"aria-hidden": "true"},
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                dcc.Loading(html.Div(EMPTY_GRID, id=GRID), delay_show=300),
                                # Full width up to 1400 px (at 1366x768 the grid beside the
                                # report showed 3 of 9 columns), beside the report above.
                                xxl=8,
                                className="mb-3 mb-xxl-0",
                            ),
                            dbc.Col(
                                [
                                    html.H3("Data quality", className="h6"),
                                    html.Div(
                                        id=QUALITY_PANEL,
                                        className="small",
                                        children="Load data to see its quality report.",
                                    ),
                                ],
                                xxl=4,
                            ),
                        ]
                    ),
                ]
            ),
        ],
        className="mb-3",
    )


CHAR_PX = 8  # about one character of the grid's 14px font (headers are bold: a little more)
CELL_PADDING_PX = 36  # AG Grid's cell padding on both sides plus the resize handle
MIN_COLUMN_PX, MAX_COLUMN_PX = 64, 360  # a very long value is cut (full text in a tooltip)


def content_width(header: str, values: list[str]) -> int:
    """Pixels for a column showing `header` and `values` (the first page of the preview)."""
    chars = max([len(header) + 1, *(len(v) for v in values)])
    return max(MIN_COLUMN_PX, min(MAX_COLUMN_PX, chars * CHAR_PX + CELL_PADDING_PX))


def column_defs(
    headers: tuple[str, ...] | list[str], sample: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """One column per template header, sized to its content in `sample` (the first rows): at
    least that wide, sharing out any room left (flex), so that the whole template fits in the
    card with at most a horizontal scroll. The first column (the record's id) is pinned.
    Fields are positional (`c0`, `c1`, ...) because headers may contain dots or spaces, which
    AG Grid would read as nested paths. Widths are computed here, not by AG Grid's autoSize,
    because the infinite row model has no rows yet when the grid is first laid out."""
    defs: list[dict[str, Any]] = []
    for i, header in enumerate(headers):
        width = content_width(header, [str(row.get(header, "")) for row in sample])
        column: dict[str, Any] = {"headerName": header, "field": f"c{i}", "tooltipField": f"c{i}"}
        if i == 0:
            column.update(width=width, pinned="left", lockPinned=True)
        else:
            column.update(minWidth=width, flex=width)
        defs.append(column)
    return defs


def build_preview(
    summary: dict[str, Any] | None,
    export_type: str,
    template: str,
    fmt: str,
    chunking: str,
    chosen: dict[str, Any] | None = None,
) -> tuple[Any, Any, Any, Any, Any]:
    """(columnDefs, state, quality panel, plan text, alert) for the current data and options;
    `chosen` is the mapping step's column map (column_map.MAP)."""
    blank = (
        EMPTY_GRID,
        None,
        "Load data to see its quality report.",
        "Nothing to preview yet.",
        None,
    )
    if not summary:
        return blank
    if not team_ui.is_known(export_type, template):
        raise dash.exceptions.PreventUpdate  # the template list is catching up with the type
    try:
        frame = runtime.get_upload_cache().get_frame(summary["key"])
        if frame is None:
            return (*blank[:4], alert("Preview not available.", EXPIRED, color="warning"))
        options = opt.build_options(export_type, template, fmt, False, None, None, chunking)
        pairs = team_ui.column_map_pairs(chosen)
        options = team_ui.with_team_template(dataclasses.replace(options, column_map=pairs))
        result = service.preview(frame, options, offset=0, limit=PAGE_SIZE)
    except Exception as exc:
        return (*blank[:4], error_alert(exc, doing="preparing the preview"))
    token = uuid.uuid4().hex[:8]
    state = {
        "key": summary["key"],
        "type": export_type,
        "template": template,
        "rows": result.total_rows,
        "token": token,
        "column_map": dict(pairs),
    }
    return (
        grid(result.headers, token, result.rows),
        state,
        quality_panel(result.quality, fmt),
        plan_line(result.plan.describe(), result.template.includes_sensitive_data),
        None,
    )


def plan_line(describe: str, sensitive: bool) -> list[Any]:
    """The plan sentence, with the personal-data badge when the template has one."""
    badge = (
        dbc.Badge("Contains personal data", color="warning", text_color="dark", className="ms-2")
        if sensitive
        else None
    )
    return [
        html.Span("Plan: ", className="fw-semibold"),
        html.Span(describe, id="plan-text"),
        badge,
    ]


def rows_response(request: dict[str, Any] | None, state: dict[str, Any] | None) -> dict[str, Any]:
    """The grid's rows [startRow, endRow) as display strings, keyed by positional field."""
    if not request or not state:
        return {"rowData": [], "rowCount": 0}
    mapped = runtime.get_upload_cache().mapped(
        state["key"],
        state["type"],
        state["template"],
        team_ui.column_map_pairs(state.get("column_map")),
        team_ui.resolve,
    )
    if mapped is None:
        return {"rowData": [], "rowCount": 0}
    start = max(int(request.get("startRow") or 0), 0)
    stop = max(int(request.get("endRow") or start + PAGE_SIZE), start)
    headers = mapped.template.headers
    rows = display_rows(mapped, offset=start, limit=min(stop - start, 1000))
    data = [{f"c{i}": row.get(h, "") for i, h in enumerate(headers)} for row in rows]
    return {"rowData": data, "rowCount": mapped.height}


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app`."""

    @app.callback(
        Output(GRID, "children"),
        Output(STATE, "data"),
        Output(QUALITY_PANEL, "children"),
        Output(PLAN, "children"),
        Output(ALERT, "children"),
        Input(SUMMARY, "data"),
        Input(opt.TYPE, "value"),
        Input(opt.TEMPLATE, "value"),
        Input(opt.FORMAT, "value"),
        Input(opt.CHUNKING, "value"),
        Input(column_map.MAP, "data"),
    )
    def _preview(
        summary: Any, export_type: str, template: str, fmt: str, chunking: str, chosen: Any
    ) -> tuple[Any, ...]:
        return build_preview(summary, export_type, template, fmt, chunking, chosen)

    @app.callback(
        Output({"type": GRID_TYPE, "token": MATCH}, "getRowsResponse"),
        Input({"type": GRID_TYPE, "token": MATCH}, "getRowsRequest"),
        State(STATE, "data"),
        prevent_initial_call=True,
    )
    def _rows(request: Any, state: Any) -> dict[str, Any]:
        return rows_response(request, state)
