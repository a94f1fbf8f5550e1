"""The mapping step: after data is loaded, a compact table "your column -> field" with one
dropdown per source column, pre-filled by the engine's header matching (export_core.matching)
with its confidence shown, and "not used" to leave a column out. The choices that differ from
the automatic ones go to MAP ({source: field or null}), which the preview (and through its
state, the export) passes to the engine as `column_map`. A person can save the choices under a
name; a file with the same header set is then offered them again."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from components import options as opt
from components import runtime, team_ui
from components.data_in import SUMMARY
from components.feedback import error_alert
from export_core.catalog import Template, get_catalog
from export_core.matching import ColumnMatch, header_fingerprint, match_columns
from export_core.team_templates import NAME_RE, SavedMapping

CARD = "colmap-card"
TABLE = "colmap-table"
CHOICE = "colmap-choice"  # pattern-matching type; index = the source column's position
BADGE = "colmap-badge"  # pattern-matching type, same index: how sure the match is
AUTO = "colmap-auto"  # [ColumnMatch fields, ...]: the automatic matches of the table shown
MAP = "colmap-map"  # {source: field or null}: the choices that differ from the automatic ones
OFFER = "colmap-offer"
APPLY = "colmap-apply"  # pattern-matching type; index = saved mapping name
SAVE_NAME = "colmap-save-name"
SAVE_BUTTON = "colmap-save"
SAVE_NOTE = "colmap-save-note"
NOT_USED = "-"  # the dropdown value of "not used" (no field is called "-"; "" shows blank)
MAX_COLUMNS_SHOWN = 80  # a sheet with more columns is not a person's to map one by one
EMPTY = "Load data to match its columns to the template's fields."


def layout() -> dbc.Card:
    """The mapping card (filled once data is loaded)."""
    save = dbc.InputGroup(
        [
            dbc.Input(id=SAVE_NAME, placeholder="Name, e.g. Partner A", maxLength=60, size="sm"),
            dbc.Button("Save mapping", id=SAVE_BUTTON, color="secondary", outline=True, size="sm"),
        ],
        size="sm",
        className="mt-2",
    )
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("Match columns", className="h6 mb-0")),
            dbc.CardBody(
                [
                    html.P(
                        "Each column of your file and the field it fills. Change any that are "
                        "wrong; the preview follows.",
                        className="small text-body-secondary mb-2",
                    ),
                    html.Div(id=OFFER, **{"aria-live": "polite"}),
                    html.Div(EMPTY, id=TABLE, className="small text-body-secondary"),
                    html.Details(
                        [html.Summary("Save these choices", className="small"), save],
                        className="mt-2",
                    ),
                    html.Div(id=SAVE_NOTE, className="small mt-1", **{"aria-live": "polite"}),
                    dcc.Store(id=AUTO),
                    dcc.Store(id=MAP, data={}),
                ]
            ),
        ],
        className="mb-3",
        id=CARD,
    )


def confidence(match: ColumnMatch, chosen: str | None) -> tuple[str, str]:
    """(text, badge colour) saying how sure the matching was, or that the person chose."""
    if chosen != match.field:
        return "your choice", "primary"
    if match.method in ("field", "header", "name"):
        return "exact", "success"
    if match.method in ("synonym", "similar"):
        return f"{match.method} {match.score:.0%}", "info"
    if match.method == "ambiguous":
        return "unsure: " + " / ".join(match.candidates), "warning"
    return "no match", "secondary"


def field_options(template: Template) -> list[dict[str, str]]:
    """ "Not used", the template's fields (by header), then the type's other fields."""
    fields = get_catalog().data_type(template.export_type).field_kinds
    shown = [{"label": "— not used —", "value": NOT_USED}]
    shown += [{"label": c.header, "value": c.field} for c in template.columns]
    shown += [
        {"label": f"{f} (not in this template)", "value": f}
        for f in fields
        if f not in template.fields
    ]
    return shown


def _item(index: int, match: ColumnMatch, chosen: str | None, choices: list[Any]) -> dbc.Col:
    """One source column: its name, the field dropdown (labelled by the name) and a badge."""
    text, colour = confidence(match, chosen)
    select = dbc.Select(
        id={"type": CHOICE, "index": index}, options=choices, value=chosen or NOT_USED, size="sm"
    )
    name = html.Span(match.source, className="colmap-source fw-semibold text-break me-1")
    badge = dbc.Badge(
        text, color=colour, className="colmap-confidence", id={"type": BADGE, "index": index}
    )
    # The label wraps the control, so the column's name is its accessible name.
    return dbc.Col(
        html.Label([html.Div([name, badge], className="mb-1"), select], className="d-block"),
        md=6,
        xl=4,
        className="colmap-item mb-2",
    )


def mapping_table(
    matches: tuple[ColumnMatch, ...], template: Template, chosen: dict[str, str | None]
) -> Any:
    """Every source column with its dropdown and confidence badge, in a responsive grid."""
    choices = field_options(template)
    items = [
        _item(i, m, chosen.get(m.source, m.field), choices)
        for i, m in enumerate(matches[:MAX_COLUMNS_SHOWN])
    ]
    more = len(matches) - MAX_COLUMNS_SHOWN
    note = html.P(f"… and {more} more columns, matched automatically.") if more > 0 else None
    return html.Div([dbc.Row(items, className="g-2 colmap-grid"), note])


def _offer(export_type: str, columns: list[str]) -> Any:
    """Buttons for the saved mappings made for this header set."""
    saved = team_ui.template_store().find_mappings(export_type, header_fingerprint(columns))
    if not saved:
        return None
    buttons = [
        dbc.Button(
            f"Use “{m.name}”",
            id={"type": APPLY, "index": m.name},
            size="sm",
            color="info",
            outline=True,
            className="me-1 mb-1",
        )
        for m in saved[:5]
    ]
    text = html.Span("Saved mappings fit these columns: ", className="small me-1")
    return html.Div([text, *buttons], className="mb-2 colmap-offer")


def build_table(
    summary: dict[str, Any] | None,
    export_type: str,
    template_name: str,
    chosen: dict[str, str | None] | None = None,
) -> tuple[Any, Any, Any]:
    """(table, automatic matches for AUTO, saved-mapping offer) for the loaded data."""
    if not summary:
        return EMPTY, None, None
    if not team_ui.is_known(export_type, template_name):
        raise dash.exceptions.PreventUpdate  # the template list is catching up with the type
    try:
        columns = runtime.get_upload_cache().get_columns(summary["key"])
        if columns is None:
            return EMPTY, None, None
        template = team_ui.resolve(export_type, template_name)
        matches = match_columns(columns, template, get_catalog()).matches
        offer = _offer(export_type, columns)
    except Exception as exc:
        return error_alert(exc, doing="matching your columns"), None, None
    auto = [[m.source, m.field, m.method, m.score, list(m.candidates)] for m in matches]
    return mapping_table(matches, template, chosen or {}), auto, offer


def overrides(auto: list[list[Any]] | None, values: list[str | None]) -> dict[str, str | None]:
    """The dropdown values that differ from the automatic matching, as a column map."""
    found: dict[str, str | None] = {}
    for (source, field, *_), value in zip(auto or [], values, strict=False):
        picked = None if value in (None, "", NOT_USED) else value
        if picked != field:
            found[source] = picked
    return found


def _save(name: str | None, summary: Any, export_type: str, chosen: dict[str, Any]) -> Any:
    name = (name or "").strip()
    if not summary or not chosen:
        return dbc.Alert("Load data first.", color="warning", className="py-1 mb-0")
    if not NAME_RE.match(name):
        return dbc.Alert(
            "Give the mapping a name: letters, digits, spaces or . _ -",
            color="warning",
            className="py-1 mb-0",
        )
    columns = runtime.get_upload_cache().get_columns(summary["key"])
    if columns is None:
        return dbc.Alert("The loaded data has expired; load it again.", color="warning")
    pairs = tuple((source, chosen.get(source)) for source in columns if source)
    saved = SavedMapping(export_type, name, header_fingerprint(columns), pairs)
    team_ui.template_store().save_mapping(saved)
    return html.Span(
        f"Saved as “{name}”: offered again for files with these columns.", className="text-success"
    )


def register_callbacks(app: dash.Dash) -> None:
    """Attach this component's callbacks to `app`."""

    @app.callback(
        Output(TABLE, "children"),
        Output(AUTO, "data"),
        Output(OFFER, "children"),
        Input(SUMMARY, "data"),
        Input(opt.TYPE, "value"),
        Input(opt.TEMPLATE, "value"),
        State(MAP, "data"),
    )
    def _table(summary: Any, export_type: str, template: str, current: Any) -> tuple[Any, ...]:
        # Another template (or type) keeps the person's choices that still make sense;
        # other data starts afresh.
        fields = get_catalog().data_type(export_type).field_kinds
        keep = {
            source: field
            for source, field in (current or {}).items()
            if ctx.triggered_id != SUMMARY and (field is None or field in fields)
        }
        return build_table(summary, export_type, template, keep)

    @app.callback(
        Output(TABLE, "children", allow_duplicate=True),
        Input({"type": APPLY, "index": ALL}, "n_clicks"),
        State(SUMMARY, "data"),
        State(opt.TYPE, "value"),
        State(opt.TEMPLATE, "value"),
        prevent_initial_call=True,
    )
    def _apply(clicks: list[Any], summary: Any, export_type: str, template: str) -> Any:
        if not any(clicks) or not isinstance(ctx.triggered_id, dict):
            raise dash.exceptions.PreventUpdate
        columns = runtime.get_upload_cache().get_columns((summary or {}).get("key", ""))
        if columns is None:
            raise dash.exceptions.PreventUpdate
        fingerprint = header_fingerprint(columns)
        saved = team_ui.template_store().find_mappings(export_type, fingerprint)
        wanted = next((m for m in saved if m.name == ctx.triggered_id["index"]), None)
        if wanted is None:
            raise dash.exceptions.PreventUpdate
        return build_table(summary, export_type, template, dict(wanted.column_map))[0]

    @app.callback(
        Output(MAP, "data"),
        Output({"type": BADGE, "index": ALL}, "children"),
        Output({"type": BADGE, "index": ALL}, "color"),
        Input({"type": CHOICE, "index": ALL}, "value"),
        State(AUTO, "data"),
    )
    def _choices(values: list[Any], auto: Any) -> tuple[Any, Any, Any]:
        chosen = overrides(auto, values)
        badges = [
            confidence(ColumnMatch(s, f, m, score, tuple(c)), chosen.get(s, f))
            for s, f, m, score, c in (auto or [])[: len(values)]
        ]
        return chosen, [t for t, _ in badges], [c for _, c in badges]

    @app.callback(
        Output(SAVE_NOTE, "children"),
        Input(SAVE_BUTTON, "n_clicks"),
        State(SAVE_NAME, "value"),
        State(SUMMARY, "data"),
        State(opt.TYPE, "value"),
        State(AUTO, "data"),
        State(MAP, "data"),
        prevent_initial_call=True,
    )
    def _save_clicked(
        _clicks: Any, name: Any, summary: Any, export_type: str, auto: Any, chosen: Any
    ) -> Any:
        full = {entry[0]: entry[1] for entry in auto or []}
        full.update(chosen or {})
        return _save(name, summary, export_type, full)
