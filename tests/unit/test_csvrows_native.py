"""The native CSV renderer (export_core/_sheetrows.c's `csv`, via writers.csvnative) against
the polars path (writers.csv: output_frame per group, then write_csv per file, the reference):
the same bytes, file by file, BOM and header on or off, or None (declined) and then the
writer's files are polars' own. The extension is imported at the top, so a checkout where
`make` did not build it fails here instead of silently writing with polars."""

from __future__ import annotations

import contextlib
import csv as pycsv
import dataclasses
import io
import itertools
import math
import struct
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from benchmarks.datagen import records
from export_core import _sheetrows
from export_core.catalog import Column, FieldKind, Template, get_catalog
from export_core.mapping import map_frame
from export_core.model import (
    FORMULA_PREFIXES,
    ExportOptions,
    MappedFrame,
    QualityReport,
    raw_column,
)
from export_core.readers import records_to_frame
from export_core.service import write_export
from export_core.writers import csv, csvnative
from tests.unit.engine_helpers import FrameKind, in_threads, kind_frames

CATALOG = get_catalog()
ALL_TEMPLATES = [t for d in CATALOG.types.values() for t in d.templates.values()]
PLAIN = ExportOptions("participants", format="csv")
WITH_BOM = ExportOptions("participants", format="csv", csv_bom=True)


def _column(field: str, kind: FieldKind) -> Column:
    return Column(field, field.title(), kind)


def _mapped(frame: pl.DataFrame, columns: list[Column]) -> MappedFrame:
    template = Template("participants", "t", "", tuple(columns), False, 1_000)
    return MappedFrame(template, frame, QualityReport(rows=frame.height))


def reference(
    frame: pl.DataFrame, columns: list[Column], sizes: list[int], options: ExportOptions
) -> list[bytes]:
    """Per file: what the polars path writes (output_frame over the group, as `prepare`
    builds it, then write_csv on each file's slice, header and BOM as `render` asks)."""
    out = csv.output_frame(_mapped(frame, columns), frame)
    files, offset = [], 0
    for n in sizes:
        buffer = io.BytesIO()
        csv._write_csv(out.slice(offset, n), buffer, options, header=True)
        files.append(buffer.getvalue())
        offset += n
    return files


def native(
    frame: pl.DataFrame, columns: list[Column], sizes: list[int], options: ExportOptions
) -> list[bytes] | None:
    got = csvnative.render(frame, columns, sizes)
    return None if got is None else [bytes(file.content(options)) for file in got]


def check(frame: pl.DataFrame, columns: list[Column], sizes: list[int] | None = None) -> bool:
    """Native equals polars (with and without BOM), or declines; True when it rendered."""
    sizes = sizes if sizes is not None else [frame.height]
    rendered = False
    for options in (PLAIN, WITH_BOM):
        got = native(frame, columns, sizes, options)
        if got is not None:
            assert got == reference(frame, columns, sizes, options)
        rendered = got is not None
    with contextlib.suppress(InvalidArgument):  # outside a hypothesis test: no statistics
        event("native" if rendered else "declined")
    return rendered


def declines(frame: pl.DataFrame, columns: list[Column]) -> None:
    """None from the native renderer, and the writer's `render` gives the polars path's bytes."""
    assert csvnative.render(frame, columns, [frame.height]) is None
    mapped = _mapped(frame, columns)
    rendered = csv.render(mapped, 0, frame.height, PLAIN)
    assert isinstance(rendered, bytes)  # really the polars path (a BytesIO's value)
    assert rendered == reference(frame, columns, [frame.height], PLAIN)[0]


def test_the_extension_is_built() -> None:
    assert csvnative.available() and callable(_sheetrows.csv)


# ---- values ------------------------------------------------------------------------------

TEXT_CHARS = st.one_of(
    st.sampled_from(
        [",", '"', "\r", "\n", "\t", " ", "'", "=", "+", "-", "@", ";", "a", "é", "名", "😀"]
    ),
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
)
texts = st.one_of(st.none(), st.just(""), st.text(TEXT_CHARS, max_size=14))
# text that starts like a formula: the guard must put an apostrophe before it
formula_texts = st.builds(
    lambda first, rest: first + rest, st.sampled_from(FORMULA_PREFIXES), st.text(TEXT_CHARS)
)
ints = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-1000, 1000))
MONEY_LIMIT = 2.0**64
money = st.one_of(
    st.none(),
    st.floats(-MONEY_LIMIT, MONEY_LIMIT, allow_nan=False, exclude_min=True, exclude_max=True),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=-1e-2, max_value=1e-2, allow_nan=False),  # tiny, subnormal, zeros
    st.integers(-(10**9), 10**9).map(lambda c: c / 100),  # cents
    st.integers(-(10**9), 10**9).map(lambda c: c / 1000 + 0.0005),  # near ties
    st.integers(-(2**20), 2**20).map(lambda k: k / 8),  # exact ties (.125, .375, ...)
    st.sampled_from([0.0, -0.0, 2.675, 1.005, 0.125, 0.375, 5e-324, -5e-324, 2.0**63]),
    st.sampled_from([math.nan, math.inf, -math.inf, -math.nan, 1e15 + 0.125, 2.0**64 - 2048]),
)
dates = st.one_of(
    st.none(),
    st.dates(),  # years 1 to 9999
    st.sampled_from([date(1, 1, 1), date(1969, 12, 31), date(1970, 1, 1), date(9999, 12, 31)]),
)
datetimes = st.one_of(
    st.none(),
    st.datetimes(),
    st.sampled_from(
        [
            datetime(1, 1, 1),
            datetime(1969, 12, 31, 23, 59, 59, 999_999),
            datetime(1970, 1, 1),
            datetime(1899, 12, 31, 6, 0, 0, 1),
            datetime(9999, 12, 31, 23, 59, 59, 999_999),
        ]
    ),
)
raws = st.one_of(st.none(), st.none(), st.just(""), st.text(TEXT_CHARS, max_size=8), formula_texts)

KINDS: list[FrameKind] = [
    ("id", "integer", pl.Int64(), ints),
    ("small", "integer", pl.Int32(), st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))),
    ("amount", "money", pl.Float64(), money),
    ("day", "date", pl.Date(), dates),
    ("stamp", "datetime", pl.Datetime("us"), datetimes),
    ("name", "text", pl.String(), st.one_of(texts, formula_texts)),
    ("state", "status", pl.String(), texts),
]


def frames(max_rows: int = 12) -> st.SearchStrategy[tuple[pl.DataFrame, list[Column]]]:
    return kind_frames(KINDS, raws, max_rows)


@st.composite
def split(draw: st.DrawFn, height: int) -> list[int]:
    """Consecutive file sizes over `height` rows (empty files included)."""
    cuts = sorted(draw(st.lists(st.integers(0, height), max_size=4)))
    bounds = [0, *cuts, height]
    return [b - a for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(frames())
def test_random_frames_render_as_polars_does(got: tuple[pl.DataFrame, list[Column]]) -> None:
    frame, columns = got
    check(frame, columns)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_several_files_each_with_its_header(data: st.DataObject) -> None:
    frame, columns = data.draw(frames(max_rows=20))
    sizes = data.draw(split(frame.height))
    check(frame, columns, sizes)


@settings(max_examples=500, deadline=None)
@given(st.lists(money, min_size=1, max_size=20), st.booleans())
def test_money_is_polars_float_precision_2(values: list[float | None], raw: bool) -> None:
    """Typed (no raw text in the block: polars' float_precision=2) and as text (raw text in
    the block: csv._money_text in Python) alike; NaN/inf as Python's str()."""
    frame = pl.DataFrame({"m": pl.Series(values, dtype=pl.Float64)})
    if raw:
        frame = frame.with_columns(pl.Series(raw_column("m"), ["x"] + [None] * (len(values) - 1)))
    assert check(frame, [_column("m", "money")])


@settings(max_examples=1_000, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_money_of_any_double_bit_pattern(bits: int) -> None:
    (value,) = struct.unpack("<d", bits.to_bytes(8, "little"))
    frame = pl.DataFrame({"m": pl.Series([value], dtype=pl.Float64)})
    rendered = check(frame, [_column("m", "money")])
    assert rendered == (math.isnan(value) or abs(value) < MONEY_LIMIT or math.isinf(value))


def test_money_ties_and_signs() -> None:
    values = [0.125, 0.375, 2.675, 1.005, -0.0, -0.001, -5e-324, 0.005, 0.015, 1e15 + 0.125]
    frame = pl.DataFrame({"m": values})
    assert check(frame, [_column("m", "money")])
    got = native(frame, [_column("m", "money")], [len(values)], PLAIN)
    assert got is not None
    lines = got[0].decode().split("\r\n")[1:-1]
    want = ["0.12", "0.38", "2.67", "1.00", "-0.00", "-0.00", "-0.00", "0.01", "0.01"]
    assert lines == [*want, "1000000000000000.12"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, formula_texts), min_size=1, max_size=20))
def test_texts(values: list[str | None]) -> None:
    assert check(pl.DataFrame({"s": pl.Series(values, dtype=pl.String)}), [_column("s", "text")])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(formula_texts, min_size=1, max_size=10),
    st.lists(formula_texts, min_size=1, max_size=10),
)
def test_formula_like_text_is_neutralised_as_polars_does(text: list[str], raw: list[str]) -> None:
    """Text starting with = + - @ TAB or CR, in a text column and as the raw text of an
    unparseable typed value, gets the apostrophe on the C path exactly as on the polars path;
    the typed numbers beside it never do. Read back, every such field starts with it."""
    n = max(len(text), len(raw))
    text, raw = (text * n)[:n], (raw * n)[:n]
    frame = pl.DataFrame(
        {
            "s": text,
            "amount": pl.Series([None, *[-1.5] * (n - 1)], dtype=pl.Float64),
            raw_column("amount"): [raw[0], *[None] * (n - 1)],
            "id": pl.Series([None if i % 2 else -i for i in range(n)], dtype=pl.Int64),
            raw_column("id"): [raw[i] if i % 2 else None for i in range(n)],
        }
    )
    columns = [_column("s", "text"), _column("amount", "money"), _column("id", "integer")]
    assert check(frame, columns)
    got = native(frame, columns, [n], PLAIN)
    assert got is not None
    rows = list(pycsv.reader(io.StringIO(got[0].decode(), newline="")))[1:]
    for i, row in enumerate(rows):
        assert row[0] == "'" + text[i]
        assert row[1] == ("'" + raw[0] if i == 0 else "-1.50")
        assert row[2] == ("'" + raw[i] if i % 2 else str(-i))


@settings(max_examples=300, deadline=None)
@given(st.lists(dates, min_size=1, max_size=20), st.lists(datetimes, min_size=1, max_size=20))
def test_dates_and_datetimes(days: list[date | None], stamps: list[datetime | None]) -> None:
    day = pl.DataFrame({"d": pl.Series(days, dtype=pl.Date)})
    stamp = pl.DataFrame({"t": pl.Series(stamps, dtype=pl.Datetime("us"))})
    assert check(day, [_column("d", "date")])
    assert check(stamp, [_column("t", "datetime")])


def test_quoting_and_the_empty_string() -> None:
    values = ["", None, "a,b", 'say "hi"', "x\ry", "x\ny", " lead", "trail ", "a\tb", "=1,2"]
    values += ['"', ",", "\r\n", "-", "@", "'", "plain"]
    frame = pl.DataFrame({"s": values})
    assert check(frame, [_column("s", "text")])
    got = native(frame, [_column("s", "text")], [frame.height], PLAIN)
    assert got is not None
    lines = got[0].split(b"\r\n")
    assert lines[1:4] == [b'""', b"", b'"a,b"'] and b'"\'=1,2"' in got[0]


def test_quotes_are_found_at_every_position() -> None:
    """The scan looks at 16 bytes at a time: a byte needing quotes is found wherever it sits."""
    columns = [_column("s", "text")]
    values = []
    for size in range(1, 40):
        for at in range(size):
            for needs in (",", '"', "\r", "\n"):
                values.append("a" * at + needs + "b" * (size - at - 1))
        values.append("c" * size)
    assert check(pl.DataFrame({"s": values}), columns)


def test_raw_text_is_written_where_the_typed_value_is_null() -> None:
    frame = pl.DataFrame(
        {
            "n": pl.Series([1, None, None, 4], dtype=pl.Int64),
            raw_column("n"): ["ignored", "twelve", None, None],
            "d": pl.Series([None, date(2024, 1, 2), None, None], dtype=pl.Date),
            raw_column("d"): ["+31/02", None, "", None],
        }
    )
    assert check(frame, [_column("n", "integer"), _column("d", "date")])


def test_headers_are_written_as_polars_writes_them() -> None:
    columns = [Column("a", 'say "x", then', "text"), Column("b", "", "text")]
    columns.append(Column("c", "=sum", "text"))
    frame = pl.DataFrame({"a": ["1"], "b": ["2"], "c": ["3"]})
    assert check(frame, columns)
    assert csvnative.header(('say "x", then', "", "=sum")) == b'"say ""x"", then","",=sum\r\n'


def test_several_chunks_and_offsets() -> None:
    template = CATALOG.template("participants", "complete")
    frame = map_frame(records_to_frame(records("participants", 900, seed=3)), template).frame
    chunked = pl.concat(
        [frame.slice(0, 250), frame.slice(250, 400), frame.slice(650)], rechunk=False
    )
    assert chunked.n_chunks() >= 3
    columns = list(template.columns)
    assert check(chunked, columns, [300, 600])
    assert check(chunked.slice(77, 500), columns, [123, 0, 377])


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_every_template_renders_natively(template: Template) -> None:
    """The benchmark data goes native, for every template (raw text of unparseable values and
    unknown codes included), in prepare's files."""
    mapped = map_frame(records_to_frame(records(template.export_type, 3_000, seed=9)), template)
    assert check(mapped.frame, list(template.columns), [1_000, 1_500, 500])


# ---- declines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("series", "kind"),
    [
        (pl.Series("v", [1.5]), "integer"),  # a float other than money
        (pl.Series("v", [1.5]), "text"),
        (pl.Series("v", [1], dtype=pl.Int64), "money"),  # "1" typed, "1.00" as text
        (pl.Series("v", [date(2024, 1, 1)]), "datetime"),
        (pl.Series("v", [datetime(2024, 1, 1)], dtype=pl.Datetime("us")), "date"),
        (pl.Series("v", [datetime(2024, 1, 1)], dtype=pl.Datetime("ns")), "datetime"),
        (pl.Series("v", [datetime(2024, 1, 1)], dtype=pl.Datetime("ms")), "datetime"),
        (
            pl.Series("v", [datetime(2024, 1, 1, tzinfo=UTC)], dtype=pl.Datetime("us", "UTC")),
            "datetime",
        ),
        (pl.Series("v", [1], dtype=pl.UInt8), "integer"),
        (pl.Series("v", [1], dtype=pl.Int16), "integer"),
        (pl.Series("v", [True]), "boolean"),
        (pl.Series("v", [None]), "text"),  # the Null dtype
        (pl.Series("v", [1.5], dtype=pl.Float32), "money"),
        (pl.Series("v", ["a"], dtype=pl.Categorical), "text"),
    ],
    ids=lambda v: str(v.dtype) if isinstance(v, pl.Series) else v,
)
def test_other_dtypes_decline(series: pl.Series, kind: FieldKind) -> None:
    declines(series.to_frame(), [_column("v", kind)])


# days since 1970-01-01: 0000-12-31, a day of the year -1, 10000-01-01
@pytest.mark.parametrize("value", [-719163, -719162 - 366 - 365, 2932897])
def test_dates_outside_the_years_1_to_9999_decline(value: int) -> None:
    frame = pl.DataFrame({"d": pl.Series([value], dtype=pl.Int32).cast(pl.Date)})
    declines(frame, [_column("d", "date")])
    assert check(pl.DataFrame({"d": [date(1, 1, 1), date(9999, 12, 31)]}), [_column("d", "date")])


@pytest.mark.parametrize("us", [-62135596800_000_001, 253402300800_000_000])
def test_datetimes_outside_the_years_1_to_9999_decline(us: int) -> None:
    frame = pl.DataFrame({"t": pl.Series([us], dtype=pl.Int64).cast(pl.Datetime("us"))})
    declines(frame, [_column("t", "datetime")])


@pytest.mark.parametrize("value", [2.0**64, -(2.0**64), 1e300, -1e20])
def test_money_of_2_64_or_more_declines(value: float) -> None:
    declines(pl.DataFrame({"m": [1.0, value]}), [_column("m", "money")])


def test_a_missing_column_declines() -> None:
    frame = pl.DataFrame({"a": ["x"]})
    assert csvnative.render(frame, [_column("b", "text")], [1]) is None
    assert csvnative.render(frame, [], [1]) is None


def test_sizes_not_covering_the_frame_decline() -> None:
    frame = pl.DataFrame({"a": ["x", "y"]})
    assert csvnative.render(frame, [_column("a", "text")], [1]) is None
    assert csvnative.render(frame, [_column("a", "text")], [1, 2]) is None


def test_without_the_extension_polars_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pl.DataFrame({"n": [1, 2]})
    monkeypatch.setattr(csvnative, "_sheetrows", None)
    declines(frame, [_column("n", "integer")])


# ---- the writer and the service ------------------------------------------------------------


def test_prepared_files_are_native_and_used_only_for_their_own_rows(tmp_path: Path) -> None:
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(records_to_frame(records("participants", 1_300, seed=4)), template)
    prepared = csv.prepare(mapped, [(0, 300), (300, 1_300)])
    assert len(prepared.prepared) == 2 and csv.PREPARED_FILE in prepared.frame.columns
    columns = list(template.columns)
    want = reference(mapped.frame.slice(300, 1_000), columns, [1_000], WITH_BOM)[0]
    one = dataclasses.replace(prepared, frame=prepared.frame.slice(300, 1_000))
    rendered = csv.render(one, 0, one.height, WITH_BOM)
    assert isinstance(rendered, memoryview) and bytes(rendered) == want
    csv.write(one, 0, one.height, tmp_path / "one.csv", WITH_BOM)
    assert (tmp_path / "one.csv").read_bytes() == want
    for start, length in [(300, 999), (301, 999), (0, 1_300), (299, 2)]:
        part = dataclasses.replace(prepared, frame=prepared.frame.slice(start, length))
        assert csv._prepared(part, 0, length) is None
        want = reference(mapped.frame.slice(start, length), columns, [length], PLAIN)[0]
        assert bytes(csv.render(part, 0, length, PLAIN)) == want
        csv.write(part, 0, length, tmp_path / "part.csv", PLAIN)
        assert (tmp_path / "part.csv").read_bytes() == want


def test_a_group_the_c_renderer_declines_is_prepared_by_polars() -> None:
    """One value the C code does not write (money of 2^64) sends its whole group down the
    polars path (its prepared columns, no native files); each file is still the reference."""
    template = CATALOG.template("payments", "detailed")
    mapped = map_frame(records_to_frame(records("payments", 1_300, seed=4)), template)
    money = next(c for c in template.columns if c.kind == "money")
    values = mapped.frame.get_column(money.field).scatter(700, 2.0**70)
    mapped = dataclasses.replace(mapped, frame=mapped.frame.with_columns(values))
    bounds = [(0, 300), (300, 1_300)]
    prepared = csv.prepare(mapped, bounds)
    assert prepared.prepared == () and csv.PREPARED_FILE not in prepared.frame.columns
    for start, stop in bounds:
        one = dataclasses.replace(prepared, frame=prepared.frame.slice(start, stop - start))
        rendered = csv.render(one, 0, one.height, PLAIN)
        assert isinstance(rendered, bytes)
        frame = mapped.frame.slice(start, stop - start)
        assert rendered == reference(frame, list(template.columns), [stop - start], PLAIN)[0]


@pytest.mark.parametrize("bom", [False, True])
def test_a_multi_file_export_has_the_polars_files(tmp_path: Path, bom: bool) -> None:
    """write_export's CSV files and ZIP members (prepared natively in groups, written by the
    writer threads) are byte for byte what polars writes for each batch."""
    frame = records_to_frame(records("participants", 12_000, seed=5))
    options = ExportOptions("participants", "complete", format="csv", csv_bom=bom)
    result = write_export(frame, options, tmp_path)
    assert len(result.files) == 12 and result.archive is not None
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(frame, template)
    with zipfile.ZipFile(tmp_path / result.archive.zip_file_name) as archive:
        for written, batch in zip(result.files, result.plan.batches, strict=True):
            rows = mapped.frame.slice(batch.start, batch.record_count)
            want = reference(rows, list(template.columns), [batch.record_count], options)[0]
            assert (tmp_path / written.file_name).read_bytes() == want
            assert archive.read(written.file_name) == want
            assert written.file_size == len(want)


def test_renders_in_parallel_threads() -> None:
    """The GIL is released while rendering: threads render the same block concurrently and
    each gets the same bytes."""
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(records_to_frame(records("participants", 4_000, seed=1)), template)
    columns = list(template.columns)
    want = native(mapped.frame, columns, [4_000], PLAIN)
    assert want is not None
    assert in_threads(lambda: native(mapped.frame, columns, [4_000], PLAIN)) == [want] * 4
