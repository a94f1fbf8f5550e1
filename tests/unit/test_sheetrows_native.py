"""The native row renderer (export_core/_sheetrows.c, via writers.sheetnative) against the
polars one (writers.sheetxml.render_xml, the reference): the same bytes and last rows, file by
file, or None (declined) and then the caller's rows are polars' own. The extension is imported
at the top, so a checkout where `make` did not build it fails here instead of silently
rendering with polars."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import struct
import zipfile
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from benchmarks.datagen import records
from export_core import _sheetrows
from export_core.catalog import Column, FieldKind, Template, get_catalog
from export_core.mapping import map_frame
from export_core.model import EXCEL_MAX_ROWS, MappedFrame, raw_column
from export_core.readers import records_to_frame
from export_core.writers import sheetnative, sheetxml, xlsx, xlsxpack
from export_core.writers.xlsxrows import prepared_rows, template_styles
from tests.unit.engine_helpers import FrameKind, in_threads, kind_frames

CATALOG = get_catalog()
ALL_TEMPLATES = [t for d in CATALOG.types.values() for t in d.templates.values()]
STYLES = sheetxml.CellStyles(money=2, date=3, datetime=4)
Files = list[tuple[int, int]]  # (rows, 0-based sheet row of the first)


def _column(field: str, kind: FieldKind) -> Column:
    return Column(field, field.title(), kind)


def reference(
    frame: pl.DataFrame, columns: list[Column], files: Files, styles: sheetxml.CellStyles
) -> list[tuple[bytes, int]]:
    """Per file: polars' rows XML and last row (render_xml over all files at once, as prepare)."""
    numbers = pl.concat(
        [pl.int_range(first + 1, first + 1 + n, dtype=pl.Int64, eager=True) for n, first in files]
    )
    rendered = sheetxml.render_xml(frame, columns, numbers, styles)
    out, offset = [], 0
    for n, _ in files:
        rows = sheetxml.RenderedRows.of(rendered.slice(offset, n))
        offset += n
        buffer = io.BytesIO()
        rows.write_to(buffer)
        out.append((buffer.getvalue(), rows.last_row))
    return out


def native(
    frame: pl.DataFrame, columns: list[Column], files: Files, styles: sheetxml.CellStyles
) -> list[tuple[bytes, int]] | None:
    got = sheetnative.render(frame, columns, files, styles)
    if got is None:
        return None
    out = []
    for rows in got:
        buffer = io.BytesIO()
        rows.write_to(buffer)
        out.append((buffer.getvalue(), rows.last_row))
    return out


def check(
    frame: pl.DataFrame,
    columns: list[Column],
    files: Files | None = None,
    styles: sheetxml.CellStyles = STYLES,
) -> bool:
    """Native equals polars, or declines; True when it rendered."""
    files = files if files is not None else [(frame.height, 1)]
    want = reference(frame, columns, files, styles)
    got = native(frame, columns, files, styles)
    with contextlib.suppress(InvalidArgument):  # outside a hypothesis test: no statistics
        event("native" if got is not None else "declined")
    if got is not None:
        assert got == want
    return got is not None


def declines(frame: pl.DataFrame, columns: list[Column]) -> None:
    """None from the native renderer, and the caller's rows are the polars path's."""
    assert sheetnative.render(frame, columns, [(frame.height, 1)], STYLES) is None
    mine, theirs = io.BytesIO(), io.BytesIO()
    ours = sheetnative.render_rows(frame, columns, 1, STYLES)
    polars_rows = sheetxml.render_rows(frame, columns, 1, STYLES)
    ours.write_to(mine)
    polars_rows.write_to(theirs)
    assert (mine.getvalue(), ours.last_row) == (theirs.getvalue(), polars_rows.last_row)
    assert isinstance(ours.rows, pl.DataFrame)  # really the polars path


def test_the_extension_is_built() -> None:
    assert sheetnative.available() and callable(_sheetrows.render)


# ---- values ------------------------------------------------------------------------------

WHITE = ["\t", "\n", " ", "\x85", "\xa0", "\u1680", "\u2000", "\u200a", "\u2028"]
WHITE += ["\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "\ufeff"]  # the last two: not
TEXT_CHARS = st.one_of(
    st.sampled_from(
        # & < > are written as entities
        [
            *WHITE,
            "a",
            "Z",
            "é",
            "名",
            "😀",
            "_",
            "x",
            "0",
            "'",
            '"',
            ";",
            "=",
            "\U0010ffff",
            "&",
            "<",
            ">",
        ]
    ),
    st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
    ),
)
texts = st.one_of(st.none(), st.just(""), st.text(TEXT_CHARS, max_size=14))
ints = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-1000, 1000))


def _halfway(draw_int: int, shift: int) -> float:
    return draw_int / 2**shift


floats = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=-1e-2, max_value=1e-2, allow_nan=False),  # tiny, subnormal, zeros
    st.integers(-(2**53), 2**53).map(float),  # integral
    st.integers(-(10**9), 10**9).map(lambda c: c / 100),  # money
    st.sampled_from([0.0, -0.0, 2.0**-10, -(2.0**-10), 2.0**53, 2.0**53 - 1, 2.0**52, 5e-324]),
    st.sampled_from([570000000000000.25, 0.1, 0.3, 1e15, 9007199254740991.0, 123456.789]),
    # near and exactly halfway between two shortest spellings (x = v / 2^k)
    st.builds(_halfway, st.integers(2**51, 2**52), st.integers(0, 4)),
    st.builds(_halfway, st.integers(-(2**53), 2**53), st.integers(1, 60)),
)
dates = st.one_of(
    st.none(),
    st.dates(date(1900, 1, 1), date(2100, 12, 31)),
    st.sampled_from([date(1900, 1, 1), date(1900, 2, 28), date(1900, 3, 1), date(9999, 12, 31)]),
)
datetimes = st.one_of(
    st.none(),
    st.datetimes(datetime(1800, 1, 1), datetime(2200, 12, 31)),
    st.datetimes(datetime(1899, 12, 30), datetime(1900, 3, 2)),  # around the quirks
    st.sampled_from(
        [
            datetime(1900, 1, 1),
            datetime(1900, 1, 1, 12, 30, 0, 999_999),
            datetime(1900, 2, 28, 23, 59, 59),
            datetime(1900, 3, 1),
            datetime(1899, 12, 31, 6),
            datetime(1969, 12, 31, 23, 59, 59, 999_999),
            datetime(1970, 1, 1),
            datetime(9999, 12, 31, 23, 59, 59, 999_999),
        ]
    ),
)
raws = st.one_of(st.none(), st.none(), st.just(""), st.text(TEXT_CHARS, max_size=8))

KINDS: list[FrameKind] = [
    ("id", "integer", pl.Int64(), ints),
    ("amount", "money", pl.Float64(), floats),
    ("ratio", "integer", pl.Float64(), floats),  # a float without the money format
    ("day", "date", pl.Date(), dates),
    ("stamp", "datetime", pl.Datetime("us"), datetimes),
    ("name", "text", pl.String(), texts),
]


def frames(max_rows: int = 12) -> st.SearchStrategy[tuple[pl.DataFrame, list[Column]]]:
    return kind_frames(KINDS, raws, max_rows)


@st.composite
def split(draw: st.DrawFn, height: int) -> Files:
    """Consecutive files over `height` rows: each from sheet row 1 (prepare) or anywhere."""
    files: Files = []
    left = height
    while left:
        n = draw(st.integers(1, left))
        first = draw(st.sampled_from([1, 1, 7, 999]))
        files.append((n, first))
        left -= n
    return files or [(0, 1)]


@settings(max_examples=400, deadline=None)
@given(frames())
def test_random_frames_render_as_polars_does(got: tuple[pl.DataFrame, list[Column]]) -> None:
    frame, columns = got
    check(frame, columns)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_files_restart_their_row_numbers(data: st.DataObject) -> None:
    frame, columns = data.draw(frames(max_rows=30))
    check(frame, columns, data.draw(split(frame.height)))


@settings(max_examples=300, deadline=None)
@given(st.lists(floats, min_size=1, max_size=20))
def test_floats(values: list[float | None]) -> None:
    frame = pl.DataFrame({"a": pl.Series(values, dtype=pl.Float64)})
    check(frame, [_column("a", "money")])


def _polars_text(x: float) -> str:
    text = pl.Series([x], dtype=pl.Float64).cast(pl.String).str.strip_suffix(".0")[0]
    assert isinstance(text, str)
    return text


def _bits(sign: int, biased: int, fraction: int) -> int:
    return sign << 63 | biased << 52 | fraction


in_range_bits = st.builds(
    _bits, st.integers(0, 1), st.integers(1023 - 11, 1023 + 53), st.integers(0, 2**52 - 1)
)


@settings(max_examples=1_000, deadline=None)
@given(st.one_of(st.integers(0, 2**64 - 1), in_range_bits))
def test_any_double_bit_pattern(bits: int) -> None:
    """Any double: polars' text, or declined (NaN, inf, outside [2^-10, 2^53), halfway)."""
    (x,) = struct.unpack("<d", bits.to_bytes(8, "little"))
    frame = pl.DataFrame({"a": pl.Series([x], dtype=pl.Float64)})
    rendered = check(frame, [_column("a", "money")])
    inside = x == 0 or (math.isfinite(x) and 2.0**-10 <= abs(x) < 2.0**53)
    if not inside:
        assert not rendered


def test_halfway_floats_decline_and_near_ones_render() -> None:
    """570000000000000.25 lies exactly between ...0.2 and ...0.3: declined (polars' text is
    then written by polars); its neighbours are not halfway and render natively."""
    tie = 570000000000000.25
    declines(pl.DataFrame({"a": [tie]}), [_column("a", "money")])
    for x in (math.nextafter(tie, 0), math.nextafter(tie, math.inf), 570000000000000.5):
        assert check(pl.DataFrame({"a": [x]}), [_column("a", "money")])


def test_common_floats_render_natively() -> None:
    values = [0.0, -0.0, 0.1, 0.3, 1234.56, -99.99, 1e15, 2.0**53 - 1, 2.0**-10, 45000.5]
    values += [0.30000000000000004, 1 / 3, 2 / 3, 123456.789, 4503599627370495.5]
    assert check(pl.DataFrame({"a": values}), [_column("a", "money")])
    assert [_polars_text(v) for v in (0.0, -0.0, 1e15)] == ["0", "-0", "1000000000000000"]


@settings(max_examples=300, deadline=None)
@given(st.lists(datetimes, min_size=1, max_size=20))
def test_datetimes(values: list[datetime | None]) -> None:
    frame = pl.DataFrame({"t": pl.Series(values, dtype=pl.Datetime("us"))})
    check(frame, [_column("t", "datetime")])


def test_datetime_quirks_render_natively() -> None:
    values = [
        datetime(1900, 1, 1, 0, 2),
        datetime(1900, 1, 1, 12, 30),  # xlsxwriter's time-only day: serial 0.52...
        datetime(1900, 2, 28, 23, 59, 59),
        datetime(1900, 3, 1),  # after the phantom 29 Feb 1900
        datetime(1899, 12, 31, 6),
        datetime(1850, 6, 1, 7, 8, 9, 123_456),  # a negative serial
        datetime(2024, 5, 6, 7, 8, 9, 999_999),  # floored to whole seconds
        datetime(9999, 12, 31, 23, 59, 59),
    ]
    frame = pl.DataFrame({"t": pl.Series(values, dtype=pl.Datetime("us"))})
    assert check(frame, [_column("t", "datetime")])
    seconds = [datetime(2023, 1, 1) + timedelta(seconds=s) for s in range(0, 86_400 * 3, 7)]
    frame = pl.DataFrame({"t": pl.Series(seconds, dtype=pl.Datetime("us"))})
    assert check(frame, [_column("t", "datetime")])  # a third of them: reciprocal-off-by-one


@settings(max_examples=200, deadline=None)
@given(st.lists(dates, min_size=1, max_size=20))
def test_dates(values: list[date | None]) -> None:
    frame = pl.DataFrame({"d": pl.Series(values, dtype=pl.Date)})
    assert check(frame, [_column("d", "date")])


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=20))
def test_texts(values: list[str | None]) -> None:
    frame = pl.DataFrame({"s": pl.Series(values, dtype=pl.String)})
    assert check(frame, [_column("s", "text")])


def test_edge_whitespace_is_polars_strip_chars() -> None:
    chars = [chr(c) for c in range(0x20, 0x3100) if not 0xD800 <= c <= 0xDFFF] + ["\ufeff"]
    chars += ["\t", "\n", "\x85", "\U0001f600", "\U0010ffff"]  # \r is escaped: declined
    values = [t for c in chars if c not in "&<>" for t in (c + "x", "x" + c, c)]
    frame = pl.DataFrame({"s": values})
    assert check(frame, [_column("s", "text")])


def test_no_cell_rows_are_left_out_and_last_row_is_the_last_with_cells() -> None:
    frame = pl.DataFrame(
        {"s": ["a", None, "", "b", None, ""], "n": pl.Series([None] * 6, dtype=pl.Int64)}
    )
    columns = [_column("s", "text"), _column("n", "integer")]
    files = [(2, 1), (1, 1), (3, 1)]
    assert check(frame, columns, files)
    got = native(frame, columns, files, STYLES)
    assert got is not None
    assert [last for _, last in got] == [1, -1, 1]
    assert got[1][0] == b""
    assert got[2][0] == b'<row r="2"><c r="A2" t="inlineStr"><is><t>b</t></is></c></row>'


def test_raw_text_is_written_where_the_typed_value_is_null() -> None:
    frame = pl.DataFrame(
        {
            "d": pl.Series([date(2020, 1, 1), None, None, None], dtype=pl.Date),
            raw_column("d"): ["ignored", "15/05/1995", "", None],
        }
    )
    assert check(frame, [_column("d", "date")])
    got = native(frame, [_column("d", "date")], [(4, 1)], STYLES)
    assert got is not None and b"15/05/1995" in got[0][0] and b"ignored" not in got[0][0]


def test_several_chunks_and_offsets() -> None:
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(records_to_frame(records("participants", 900, seed=3)), template)
    parts = [mapped.frame.slice(s, 150) for s in range(0, 900, 150)]
    chunked = pl.concat(parts, rechunk=False)
    assert chunked.n_chunks() > 1
    columns = list(template.columns)
    styles = template_styles(columns)
    assert check(chunked, columns, [(300, 1), (600, 1)], styles)
    assert check(chunked.slice(77, 500), columns, [(123, 1), (377, 40)], styles)


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_every_template_renders_natively(template: Template) -> None:
    """The benchmark data goes native, for every template (raw text of unparseable values and
    unknown codes included), in prepare's files."""
    mapped = map_frame(records_to_frame(records(template.export_type, 3_000, seed=9)), template)
    columns = list(template.columns)
    files = [(1_000, 1), (1_500, 1), (500, 1)]
    assert check(mapped.frame, columns, files, template_styles(columns))


# ---- declines ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["a & b", "a < b", "a > b", "<&>", " R&D ", "&amp;", "a&b" * 700])
def test_text_with_xml_entities_is_rendered(text: str) -> None:
    """& < > are written as &amp; &lt; &gt; (text and raw text), the reference's bytes."""
    frame = pl.DataFrame({"s": ["plain", text, None]})
    assert check(frame, [_column("s", "text")])
    raw = pl.DataFrame(
        {"d": pl.Series([None, None], dtype=pl.Date), raw_column("d"): ["fine", text]}
    )
    assert check(raw, [_column("d", "date")])


@pytest.mark.parametrize(
    "text",
    ["a & b \x01", "ctl \x01", "\rx", "x\r", "\x1c", "\x0bvertical tab",
     "\x0cform feed", "\x1f", "\x00", "non-char \ufffe", "\uffff", "_x0041_ literal",
     "x_x00e9_", "x" * 32_768, "😀" * 8_192],
)  # fmt: skip
def test_text_needing_escapes_or_cuts_declines(text: str) -> None:
    frame = pl.DataFrame({"s": ["plain", text, None]})
    declines(frame, [_column("s", "text")])
    raw = pl.DataFrame(
        {"d": pl.Series([None, None], dtype=pl.Date), raw_column("d"): ["fine", text]}
    )
    declines(raw, [_column("d", "date")])  # raw text too


def test_near_misses_of_the_escape_rules_render() -> None:
    values = [
        "_x004_",
        "_x00G1_",
        "x0041_",
        "_X0041_",
        "\ufffd",
        "\uefff",
        "tab\tinside",
        "x" * 32_767,
    ]
    values += ["\U0001f600" * 8_191, "_x0041", "__x0041"]
    assert check(pl.DataFrame({"s": values}), [_column("s", "text")])


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, 1e-5, 2.0**53, 1e20, 5e-324, -(2.0**-11)]
)
def test_special_and_out_of_range_floats_decline(value: float) -> None:
    declines(pl.DataFrame({"a": [1.5, value]}), [_column("a", "money")])


def test_dates_before_1900_decline() -> None:
    declines(pl.DataFrame({"d": [date(2000, 1, 1), date(1899, 12, 31)]}), [_column("d", "date")])


def test_datetimes_with_tiny_serials_decline() -> None:
    for near_epoch in (datetime(1899, 12, 31, 0, 1), datetime(1900, 1, 1, 0, 0, 1)):
        # serials 0.000694... and 0.0000115... (xlsxwriter's time-only day): below 2^-10
        declines(pl.DataFrame({"t": [near_epoch]}), [_column("t", "datetime")])


@pytest.mark.parametrize(
    "series",
    [
        pl.Series("c", [datetime(2024, 1, 1, tzinfo=UTC)], dtype=pl.Datetime("us", "UTC")),
        pl.Series("c", [datetime(2024, 1, 1)], dtype=pl.Datetime("ns")),
        pl.Series("c", [datetime(2024, 1, 1)], dtype=pl.Datetime("ms")),
        pl.Series("c", [1.5], dtype=pl.Float32),
        pl.Series("c", [7], dtype=pl.UInt64),
        pl.Series("c", [7], dtype=pl.Int16),
    ],
    ids=lambda s: str(s.dtype),
)
def test_other_dtypes_decline(series: pl.Series) -> None:
    frame, columns = pl.DataFrame([series]), [_column("c", "money")]
    if isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone:
        assert sheetnative.render(frame, columns, [(1, 1)], STYLES) is None
        for render_rows in (sheetxml.render_rows, sheetnative.render_rows):  # neither renders
            with pytest.raises(sheetxml.UnsupportedColumn):
                render_rows(frame, columns, 1, STYLES)
        return
    declines(frame, columns)


def test_unsupported_column_still_raises_through_the_fallback() -> None:
    frame = pl.DataFrame({"b": [True, False]})
    assert sheetnative.render(frame, [_column("b", "text")], [(2, 1)], STYLES) is None
    with pytest.raises(sheetxml.UnsupportedColumn):
        sheetnative.render_rows(frame, [_column("b", "text")], 1, STYLES)


def test_more_rows_than_a_sheet_declines_in_c() -> None:
    frame = pl.DataFrame({"n": [1, 2]})
    too_far = [(2, EXCEL_MAX_ROWS - 1)]  # the second row would be sheet row 1,048,577
    assert sheetnative.render(frame, [_column("n", "integer")], too_far, STYLES) is None
    assert check(frame, [_column("n", "integer")], [(2, EXCEL_MAX_ROWS - 2)])


def test_without_the_extension_polars_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pl.DataFrame({"n": [1, 2]})
    monkeypatch.setattr(sheetnative, "_sheetrows", None)
    assert not sheetnative.available()
    declines(frame, [_column("n", "integer")])


# ---- the writers -------------------------------------------------------------------------


def _packed_sheet(mapped: MappedFrame, styles: sheetxml.CellStyles) -> bytes:
    """The sheet XML of the file xlsxpack packages for all rows of `mapped`."""
    packed = xlsxpack.pack(mapped, xlsx.column_widths(mapped, 0, mapped.height), "Sheet", styles)
    assert packed is not None
    return zipfile.ZipFile(io.BytesIO(packed)).read("xl/worksheets/sheet1.xml")


def test_a_group_the_c_renderer_takes_is_measured_not_rendered() -> None:
    """`prepare` numbers the rows and measures each file's widths, and renders nothing: each
    file's rows are rendered when it is packaged (the reference's bytes), so that no group's
    XML waits in memory for its last file (docs/PERFORMANCE.md, fourteenth round)."""
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(records_to_frame(records("participants", 1_300, seed=4)), template)
    bounds = [(0, 300), (300, 1_300)]
    prepared = xlsx.prepare(mapped, bounds)
    assert sheetxml.XML_COLUMN not in prepared.frame.columns and prepared.prepared == ()
    assert prepared.frame.height == 1_300
    columns, styles = list(template.columns), template_styles(template.columns)
    for start, stop in bounds:
        one = dataclasses.replace(prepared, frame=prepared.frame.slice(start, stop - start))
        assert prepared_rows(one, 1) is None  # rendered by the writer
        plain = dataclasses.replace(mapped, frame=mapped.frame.slice(start, stop - start))
        assert xlsx.column_widths(one, 0, one.height) == xlsx.column_widths(plain, 0, plain.height)
        frame = mapped.frame.slice(start, stop - start)
        want = reference(frame, columns, [(stop - start, 1)], styles)
        assert want[0][0] in _packed_sheet(one, styles)


def test_renders_in_parallel_threads() -> None:
    """The GIL is released while rendering: threads render the same block concurrently and
    each gets the same bytes."""
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(records_to_frame(records("participants", 4_000, seed=1)), template)
    columns = list(template.columns)
    styles = template_styles(columns)
    want = native(mapped.frame, columns, [(4_000, 1)], styles)
    assert want is not None
    assert in_threads(lambda: native(mapped.frame, columns, [(4_000, 1)], styles)) == [want] * 4


def test_escapes_are_found_at_every_position() -> None:
    """The scan skips 16 bytes at a time: a character needing an escape is found wherever it
    sits, and look-alikes are not taken for one. & < > are written as entities (the
    reference's bytes, however many), the other escapes are declined."""
    columns = [_column("s", "text")]
    for size in range(1, 40):
        for at in range(size):
            for entity in ("&", "<", ">"):
                text = "a" * at + entity + "b" * (size - at - 1)
                assert check(pl.DataFrame({"s": [text, text * 3, entity * size]}), columns)
            for needs in ("\x01", "\x1f", "\uffff", "\ufffe", "&\x01"):
                text = "a" * at + needs + "b" * (size - at - 1)
                assert (
                    sheetnative.render(pl.DataFrame({"s": [text]}), columns, [(1, 1)], STYLES)
                    is None
                )
            literal = "a" * at + "_x00A9_" + "b" * (size - at - 1)
            assert (
                sheetnative.render(pl.DataFrame({"s": [literal]}), columns, [(1, 1)], STYLES)
                is None
            )
        fine = ["\t" * size, "_" * size, "é" * size, "\uefff" * size, "\uf000" * size, "x_" * size]
        fine += ["_x00G0_" + "c" * size, "c" * size + "_x00A9", "c" * size + "\n"]
        assert check(pl.DataFrame({"s": fine}), columns)


def test_a_file_the_c_renderer_declines_is_rendered_by_polars_when_written() -> None:
    """One value needing an escape the C renderer leaves to polars (a control character): the
    group is still only measured; the file holding it is rendered by polars when it is
    packaged, the other natively, each the reference's bytes."""
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(records_to_frame(records("participants", 1_300, seed=4)), template)
    notes = mapped.frame.get_column("notes").scatter(700, "fish\x01chips")
    mapped = dataclasses.replace(mapped, frame=mapped.frame.with_columns(notes))
    bounds = [(0, 300), (300, 1_300)]
    prepared = xlsx.prepare(mapped, bounds)
    assert sheetxml.XML_COLUMN not in prepared.frame.columns
    columns, styles = list(template.columns), template_styles(template.columns)
    for start, stop in bounds:
        frame = mapped.frame.slice(start, stop - start)
        declined = native(frame, columns, [(stop - start, 1)], styles) is None
        assert declined == (start == 300)  # the file with row 700
        one = dataclasses.replace(prepared, frame=prepared.frame.slice(start, stop - start))
        sheet = _packed_sheet(one, styles)
        assert reference(frame, columns, [(stop - start, 1)], styles)[0][0] in sheet
        assert (b"fish_x0001_chips" in sheet) == declined


def test_a_group_of_a_dtype_the_c_renderer_lacks_is_rendered_by_polars_once() -> None:
    """A column of a dtype only polars renders (ids as Int16): the whole group is rendered in
    `prepare`, in one polars pass, and each file's prepared rows are the reference's."""
    template = CATALOG.template("participants", "complete")
    mapped = map_frame(records_to_frame(records("participants", 1_300, seed=4)), template)
    mapped = dataclasses.replace(
        mapped, frame=mapped.frame.with_columns(pl.col("id").cast(pl.Int16))
    )
    columns, styles = list(template.columns), template_styles(template.columns)
    assert not sheetnative.takes(mapped.frame, columns)
    bounds = [(0, 300), (300, 1_300)]
    prepared = xlsx.prepare(mapped, bounds)
    assert sheetxml.XML_COLUMN in prepared.frame.columns
    for start, stop in bounds:
        one = dataclasses.replace(prepared, frame=prepared.frame.slice(start, stop - start))
        rows = prepared_rows(one, 1)
        assert rows is not None and isinstance(rows.rows, pl.DataFrame)
        buffer = io.BytesIO()
        rows.write_to(buffer)
        frame = mapped.frame.slice(start, stop - start)
        assert [(buffer.getvalue(), rows.last_row)] == reference(
            frame, columns, [(stop - start, 1)], styles
        )
