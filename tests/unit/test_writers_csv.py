"""The CSV writer: reopened with the csv module (RFC 4180) and checked byte for byte."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks.datagen import records
from export_core.catalog import Template, get_catalog
from export_core.mapping import map_frame
from export_core.model import ExportOptions, MappedFrame
from export_core.readers import records_to_frame
from export_core.writers import csv as csv_writer
from export_core.writers import get_writer
from tests.unit.engine_helpers import hand_mapped

CATALOG = get_catalog()
ALL_TEMPLATES = [t for d in CATALOG.types.values() for t in d.templates.values()]
BOM = b"\xef\xbb\xbf"


def write_csv(mapped: MappedFrame, path: Path, **options: Any) -> bytes:
    opts = ExportOptions(mapped.template.export_type, mapped.template.name, "csv", **options)
    csv_writer.write(mapped, 0, mapped.height, path, opts)
    return path.read_bytes()


def parse(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_registry() -> None:
    assert get_writer("csv") is csv_writer
    assert csv_writer.extension == "csv"


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_every_template_has_the_seed_headers(template: Template, tmp_path: Path) -> None:
    frame = records_to_frame(records(template.export_type, 50, seed=5))
    data = write_csv(map_frame(frame, template), tmp_path / "out.csv")
    rows = parse(data)
    assert rows[0] == list(template.headers)
    assert len(rows) == 51
    assert all(len(r) == len(template.headers) for r in rows)


def test_quoting_bom_and_line_ends(tmp_path: Path) -> None:
    template = CATALOG.template("participants", "standard")
    tricky = ["a,b", 'say "hi"', "line\nbreak", "cr\rhere", "plain", "Ünïcödé 名簿"]
    mapped = hand_mapped(template, [{"id": i, "first_name": t} for i, t in enumerate(tricky)])
    plain = write_csv(mapped, tmp_path / "plain.csv")
    with_bom = write_csv(mapped, tmp_path / "bom.csv", csv_bom=True)
    assert not plain.startswith(BOM)
    assert with_bom == BOM + plain
    assert plain.startswith(b"ID,Form ID,First Name,")
    assert b'0,,"a,b",' in plain
    assert b'1,,"say ""hi""",' in plain
    assert b'2,,"line\nbreak",' in plain
    assert b'3,,"cr\rhere",' in plain
    assert b"4,,plain," in plain
    assert plain.count(b"\r\n") == len(tricky) + 1  # one CRLF per record (header included)
    assert [r[2] for r in parse(plain)[1:]] == tricky


def test_types_are_formatted_plainly(tmp_path: Path) -> None:
    template = CATALOG.template("payments", "detailed")
    row = {
        "id": 12,
        "participant_id": 3,
        "amount": 1500.0,
        "usd_amount": 1234567.891,
        "payment_date": date(2024, 1, 20),
        "created_at": datetime(2024, 1, 15, 10, 30, 5, 123456),
        "payment_status": "Completed",
    }
    rows = parse(write_csv(hand_mapped(template, [row, {"id": 13}]), tmp_path / "t.csv"))
    got = dict(zip(template.fields, rows[1], strict=True))
    assert got["id"] == "12"
    assert got["amount"] == "1500.00"
    assert got["usd_amount"] == "1234567.89"  # no thousands separator in CSV
    assert got["payment_date"] == "2024-01-20"
    assert got["created_at"] == "2024-01-15 10:30:05"
    assert got["payment_status"] == "Completed"
    assert rows[2] == ["13"] + [""] * 10  # missing values are empty, never "N/A"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_like_text_is_neutralised(text: str, written: str, tmp_path: Path) -> None:
    template = CATALOG.template("participants", "standard")
    rows = parse(write_csv(hand_mapped(template, [{"id": 1, "email": text}]), tmp_path / "f.csv"))
    assert rows[1][template.fields.index("email")] == written


def test_numbers_and_dates_are_never_prefixed_but_raw_text_is(tmp_path: Path) -> None:
    template = CATALOG.template("payments", "standard")
    rows_in = [
        {"id": -5, "amount": -1500.0, "payment_date": date(2024, 1, 1)},
        {"id": "-1+1", "amount": "=2*3", "payment_date": "-01-2024"},  # unparseable: raw text
        {"id": 3, "amount": 7.0, "payment_date": "not a date", "created_at": "@noon"},
    ]
    rows = parse(write_csv(hand_mapped(template, rows_in), tmp_path / "n.csv"))
    f = template.fields
    assert [rows[1][f.index(k)] for k in ("id", "amount", "payment_date")] == [
        "-5",
        "-1500.00",
        "2024-01-01",
    ]
    assert [rows[2][f.index(k)] for k in ("id", "amount", "payment_date")] == [
        "'-1+1",
        "'=2*3",
        "'-01-2024",
    ]
    assert [rows[3][f.index(k)] for k in ("amount", "payment_date", "created_at")] == [
        "7.00",
        "not a date",
        "'@noon",
    ]


def test_non_finite_money_is_text(tmp_path: Path) -> None:
    template = CATALOG.template("payments", "standard")
    rows = parse(
        write_csv(hand_mapped(template, [{"id": 1, "amount": float("inf")}]), tmp_path / "i.csv")
    )
    assert rows[1][template.fields.index("amount")] == "inf"


def test_slices(tmp_path: Path) -> None:
    template = CATALOG.template("ambassadors", "standard")
    mapped = hand_mapped(template, [{"id": i} for i in range(10)])
    opts = ExportOptions("ambassadors", format="csv")
    csv_writer.write(mapped, 7, 20, tmp_path / "tail.csv", opts)
    assert [r[0] for r in parse((tmp_path / "tail.csv").read_bytes())[1:]] == ["7", "8", "9"]
    csv_writer.write(mapped, 4, 4, tmp_path / "empty.csv", opts)
    assert parse((tmp_path / "empty.csv").read_bytes()) == [list(template.headers)]


def test_long_and_unicode_cells_are_kept_whole(tmp_path: Path) -> None:
    template = CATALOG.template("participants", "complete")
    long_text = "=" + "x" * 40_000  # CSV has no cell limit; only the formula start is guarded
    rows_in = [{"id": 1, "notes": long_text, "first_name": "Nguyễn 名簿 😀", "last_name": ""}]
    rows = parse(write_csv(hand_mapped(template, rows_in), tmp_path / "l.csv"))
    f = template.fields
    assert rows[1][f.index("notes")] == "'" + long_text
    assert rows[1][f.index("first_name")] == "Nguyễn 名簿 😀"
    assert rows[1][f.index("last_name")] == ""


def _with_raw_text(template: Template) -> MappedFrame:
    """Seeded records plus rows whose typed fields hold unparseable text (kept as raw)."""
    rows = records(template.export_type, 300, seed=11)
    for index, row in enumerate(rows[::37]):
        for field, column in zip(template.fields, template.columns, strict=True):
            if column.kind in {"date", "datetime", "integer", "money"} and field in row:
                row[field] = ("=2*3", "not a date", "-01-2024", "@noon", "")[index % 5]
    return map_frame(records_to_frame(rows), template)


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_one_select_equals_column_by_column(template: Template) -> None:
    """output_frame builds typed columns holding raw text as expressions in one select; the
    per-column Python path (`_output_column`) is the reference, cell for cell."""
    mapped = _with_raw_text(template)
    expected = {c.header: csv_writer._output_column(c, mapped.frame) for c in template.columns}
    got = csv_writer.output_frame(mapped, mapped.frame)
    assert got.columns == list(template.headers)
    for header, series in expected.items():
        assert got.get_column(header).to_list() == series.to_list(), header


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_render_gives_the_bytes_write_writes(template: Template, bom: bool, tmp_path: Path) -> None:
    """`render` (in memory, what the service hands to the ZIP) equals `write`, for direct and
    prepared rows; rendering leaves the prepared frame as it was."""
    mapped = _with_raw_text(template)
    opts = ExportOptions(template.export_type, template.name, "csv", csv_bom=bom)
    prepared = csv_writer.prepare(mapped, [(0, 120), (120, 300)])
    columns = prepared.frame.columns
    for start, stop in [(0, 120), (120, 300), (5, 5)]:
        path = tmp_path / f"{start}.csv"
        csv_writer.write(mapped, start, stop, path, opts)
        assert csv_writer.render(mapped, start, stop, opts) == path.read_bytes()
        assert csv_writer.render(prepared, start, stop, opts) == path.read_bytes()
        csv_writer.write(prepared, start, stop, path, opts)
        assert csv_writer.render(mapped, start, stop, opts) == path.read_bytes()
    assert prepared.frame.columns == columns
