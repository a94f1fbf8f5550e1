"""Rows rendered ahead of the xlsx writer: the per-template style indices they assume, the
`prepare` step the service runs on groups of small batch files, and the check that a slice
of prepared rows fits the sheet it is written to."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import polars as pl

from ..catalog import Column
from ..model import EXCEL_MAX_ROWS, MappedFrame
from . import sheetnative, sheetxml
from .xlsxwidths import file_widths

NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss", "money": "#,##0.00"}


def styled_kinds(columns: Sequence[Column]) -> list[str]:
    """The number-formatted kinds of a template, in order of their first column."""
    return list(dict.fromkeys(c.kind for c in columns if c.kind in NUMBER_FORMATS))


def template_styles(columns: Sequence[Column]) -> sheetxml.CellStyles:
    """The xf index each number format gets in every workbook of this template: 0 is the
    default style, 1 the header, then 2, 3, ... in order of first use among the columns.
    Fixed per template (not per file), so rows rendered once serve every batch file."""
    indices = {kind: 0 for kind in NUMBER_FORMATS}
    for index, kind in enumerate(styled_kinds(columns), start=2):
        indices[kind] = index
    return sheetxml.CellStyles(**indices)


def prepared_for(frame: pl.DataFrame, first_row: int) -> bool:
    """Whether `frame` carries rows `prepare` rendered for sheet rows first_row, ... ."""
    if sheetxml.XML_COLUMN not in frame.columns or frame.height == 0:
        return False
    numbers = frame.get_column(sheetxml.ROW_NUMBER)
    return bool(numbers[0] == first_row + 1 and numbers[-1] == first_row + frame.height)


def prepared_rows(mapped: MappedFrame, first_row: int) -> sheetxml.RenderedRows | None:
    """The rows `prepare` rendered (polars' XML column) for exactly the rows of `mapped` from
    sheet row `first_row` on, or None (render them)."""
    frame = mapped.frame
    return sheetxml.RenderedRows.of(frame) if prepared_for(frame, first_row) else None


def prepare(mapped: MappedFrame, bounds: Sequence[tuple[int, int]]) -> MappedFrame:
    """Measure, in one grouped query, the column widths of several consecutive files ([start,
    stop) each) before they are written, and number their sheet rows; returns the rows from
    the first start to the last stop carrying both. Slice it per file and pass each slice to
    `write` or `render`.

    Rows the C renderer takes are not rendered here but per file, as each is written
    (xlsxpack.pack; a file whose values it declines goes to polars there). Rendered here, a
    group's XML (~5 MB for 5,000 `complete` rows) stayed until its last file was written,
    two groups' with the next one prepared ahead (docs/PERFORMANCE.md, fourteenth round).
    Where only polars renders (no C extension, a dtype the C code does not read), the rows
    are rendered here, once for the group, so that polars' per-call costs are paid once."""
    begin, end = bounds[0][0], bounds[-1][1]
    frame = mapped.frame.slice(begin, end - begin)
    numbers = pl.concat(
        [
            (pl.int_range(0, stop - start, dtype=pl.Int64, eager=True) % (EXCEL_MAX_ROWS - 1)) + 2
            for start, stop in bounds
        ]
    )
    columns = mapped.template.columns
    sizes = [stop - start for start, stop in bounds]
    widths = file_widths(frame, columns, sizes)
    if max(sizes) < EXCEL_MAX_ROWS and sheetnative.takes(frame, columns):
        carried = numbers.alias(sheetxml.ROW_NUMBER).to_frame()
        return dataclasses.replace(
            mapped, frame=pl.concat([frame, carried, widths], how="horizontal")
        )
    try:
        rendered = sheetxml.render_xml(frame, columns, numbers, template_styles(columns))
    except sheetxml.UnsupportedColumn:
        return dataclasses.replace(mapped, frame=pl.concat([frame, widths], how="horizontal"))
    parts = [frame, rendered, widths]
    return dataclasses.replace(mapped, frame=pl.concat(parts, how="horizontal"))
