"""Test helpers for the engine: MappedFrames built by hand per export_core.model's contract (so
cells and writers are tested without going through mapping, and on values mapping would never
make), random typed frames for the native renderers' tests, and readers of produced xlsx
files."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import openpyxl
import polars as pl
from hypothesis import strategies as st

from export_core.catalog import Column, FieldKind, Template
from export_core.model import MappedFrame, QualityReport, raw_column

DTYPES: dict[str, pl.DataType] = {
    "integer": pl.Int64(),
    "money": pl.Float64(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}


def hand_mapped(template: Template, rows: Sequence[Mapping[str, Any]]) -> MappedFrame:
    """A MappedFrame from rows of field -> value: typed values go to the typed column, a str
    for a typed kind goes to the raw companion column (as mapping does for unparseable text)."""
    columns: dict[str, pl.Series] = {}
    for column in template.columns:
        values = [row.get(column.field) for row in rows]
        dtype = DTYPES.get(column.kind)
        if dtype is None:
            columns[column.field] = pl.Series(column.field, values, dtype=pl.String)
            continue
        typed = [None if isinstance(v, str) else v for v in values]
        raw = [v if isinstance(v, str) else None for v in values]
        columns[column.field] = pl.Series(column.field, typed, dtype=dtype)
        columns[raw_column(column.field)] = pl.Series(
            raw_column(column.field), raw, dtype=pl.String
        )
    return MappedFrame(
        template, pl.DataFrame(list(columns.values())), QualityReport(rows=len(rows))
    )


# A column kind of random frames: field name stem, template kind, dtype, values' strategy.
FrameKind = tuple[str, FieldKind, pl.DataType, Any]


@st.composite
def kind_frames(
    draw: st.DrawFn, kinds: Sequence[FrameKind], raws: Any, max_rows: int = 12
) -> tuple[pl.DataFrame, list[Column]]:
    """A frame of some of `kinds` (any order, each possibly twice), with raw-text companions
    (values drawn from `raws`) for typed columns, in one or several chunks."""
    picked = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=7))
    height = draw(st.integers(0, max_rows))
    series, columns = [], []
    for index, (name, kind, dtype, values) in enumerate(picked):
        field = f"{name}{index}"
        columns.append(Column(field, field.title(), kind))
        series.append(
            pl.Series(field, draw(st.lists(values, min_size=height, max_size=height)), dtype)
        )
        if dtype != pl.String and draw(st.booleans()):
            raw = draw(st.lists(raws, min_size=height, max_size=height))
            series.append(pl.Series(raw_column(field), raw, pl.String))
    frame = pl.DataFrame(series)
    cut = draw(st.integers(0, height))
    if 0 < cut < height and draw(st.booleans()):  # several chunks
        frame = pl.concat([frame.slice(0, cut), frame.slice(cut)], rechunk=False)
    return frame, columns


T = TypeVar("T")


def in_threads(work: Callable[[], T], count: int = 4) -> list[T]:
    """`work()` run by `count` threads at once; their results."""
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def ooxml_text(value: Any) -> Any:
    """Decode OOXML's `_xHHHH_` escapes (how xlsxwriter stores CR and control characters in
    inline strings). Excel decodes them on load; openpyxl leaves inline strings undecoded."""
    if not isinstance(value, str):
        return value
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def sheet_rows(path: Path, sheet: int = 0) -> list[list[Any]]:
    """Every row of one sheet as decoded cell values (header included)."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        ws = workbook.worksheets[sheet]
        return [[ooxml_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        workbook.close()


def column_widths(ws: Any) -> dict[int, float]:
    """1-based column index -> width, expanding openpyxl's grouped <col min max> ranges."""
    widths: dict[int, float] = {}
    for dim in ws.column_dimensions.values():
        for index in range(dim.min, dim.max + 1):
            widths[index] = dim.width
    return widths


def wait_for_child(pid: int, what: str, timeout: float = 60) -> None:
    """Wait for the forked child `pid` to exit; kill it and fail with "`what` never finished"
    if it has not within `timeout` seconds (a child stuck on a pool without threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"{what} never finished")
