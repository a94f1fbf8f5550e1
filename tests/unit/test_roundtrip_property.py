"""Property: random records -> map -> write -> read back equals the mapped values (iter_cells).

Random JSON-ish records for a random template go through the real reader and mapping; the
written xlsx is reopened with openpyxl and the csv with the csv module."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_core.catalog import Column, Template, get_catalog
from export_core.cells import format_date, format_datetime, iter_cells
from export_core.mapping import map_frame
from export_core.model import EXCEL_MAX_CELL_CHARS, FORMULA_PREFIXES, ExportOptions, MappedFrame
from export_core.readers import records_to_frame
from export_core.writers import csv as csv_writer
from export_core.writers import xlsx
from tests.unit.engine_helpers import sheet_rows

CATALOG = get_catalog()
TEMPLATES = [t for d in CATALOG.types.values() for t in d.templates.values()]
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Any text a JSON body can carry (no lone surrogates), with formula-like starts mixed in.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.builds(lambda p, t: p + t, st.sampled_from(FORMULA_PREFIXES), st.text(max_size=10)),
    st.sampled_from(['=HYPERLINK("http://x","y")', "@SUM(A1)", "_x0041_", "  pad  ", "0012"]),
)
DATES = st.dates(date(1800, 1, 1), date(9999, 12, 31))
DATETIMES = st.datetimes(datetime(1900, 3, 1), datetime(9999, 12, 31, 23, 59, 59))


def value_strategy(column: Column) -> st.SearchStrategy[Any]:
    """What the platform might send for one field: typed values, text, garbage, nothing."""
    typed: dict[str, st.SearchStrategy[Any]] = {
        "integer": st.integers(-(2**53) + 1, 2**53 - 1),
        "money": st.floats(-1e12, 1e12, allow_nan=False).map(lambda v: round(v, 2)),
        "date": DATES.map(format_date),
        "datetime": DATETIMES.map(format_datetime),
        "boolean": st.sampled_from([0, 1, "1", True, False]),
    }
    if column.kind == "status" and column.mapping:
        typed["status"] = st.sampled_from(sorted(CATALOG.status_mappings[column.mapping]))
    return st.one_of(st.none(), typed.get(column.kind, TEXT), TEXT)


@st.composite
def mapped_frames(draw: st.DrawFn) -> MappedFrame:
    template: Template = draw(st.sampled_from(TEMPLATES))
    fields = {c.field: value_strategy(c) for c in template.columns}
    rows = draw(st.lists(st.fixed_dictionaries({}, optional=fields), min_size=1, max_size=12))
    rows = [{"id": i, **row} if i % 2 else row for i, row in enumerate(rows)]
    return map_frame(records_to_frame(rows), template)


def excel_value(value: Any) -> Any:
    """What a mapped cell becomes in the workbook, as openpyxl reads it back."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value[:EXCEL_MAX_CELL_CHARS]
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) if value.year >= 1900 else str(value)
    return value


def _same_number(got: Any, want: float) -> bool:
    return isinstance(got, int | float) and math.isclose(got, want, rel_tol=1e-15)


@PROPERTY_SETTINGS
@given(mapped=mapped_frames())
def test_xlsx_reads_back_as_the_mapped_cells(mapped: MappedFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.xlsx"
        xlsx.write(mapped, 0, mapped.height, path, ExportOptions(mapped.template.export_type))
        got = sheet_rows(path)
    assert got[0] == list(mapped.template.headers)
    expected = [[excel_value(v) for v in row] for row in iter_cells(mapped)]
    body = got[1:]
    assert len(body) <= len(expected)
    # an all-empty last row has no <row> element, so openpyxl yields nothing for it
    body += [[None] * len(got[0])] * (len(expected) - len(body))
    for got_row, want_row in zip(body, expected, strict=True):
        for cell, want in zip(got_row, want_row, strict=True):
            if isinstance(want, float):
                assert _same_number(cell, want)
            else:
                assert cell == want
                assert type(cell) is type(want)


def csv_value(column: Column, value: Any) -> str:
    """What a mapped cell becomes in the CSV file."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_PREFIXES) else value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_date(value)
    if column.kind == "money":
        return f"{value:.2f}"
    return str(value)


@PROPERTY_SETTINGS
@given(mapped=mapped_frames(), bom=st.booleans())
def test_csv_reads_back_as_the_mapped_cells(mapped: MappedFrame, bom: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        options = ExportOptions(mapped.template.export_type, format="csv", csv_bom=bom)
        csv_writer.write(mapped, 0, mapped.height, path, options)
        data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") is bom
    got = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    columns = mapped.template.columns
    expected = [
        [csv_value(c, v) for c, v in zip(columns, row, strict=True)] for row in iter_cells(mapped)
    ]
    assert got == [list(mapped.template.headers), *expected]
