"""Mapping: reader frames onto every template, typed values, translated codes, quality report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl
import pytest

from export_core import mapping
from export_core.catalog import Column, Template, get_catalog
from export_core.mapping import detect_export_type, map_frame
from export_core.model import EXCEL_MAX_CELL_CHARS, raw_column
from export_core.readers import read_csv, records_to_frame

CATALOG = get_catalog()
TEMPLATES = [t for dt in CATALOG.types.values() for t in dt.templates.values()]
DTYPES = {
    "integer": pl.Int64,
    "money": pl.Float64,
    "date": pl.Date,
    "datetime": pl.Datetime("us"),
    "text": pl.String,
    "status": pl.String,
    "boolean": pl.String,
}


def template(export_type: str, name: str) -> Template:
    return CATALOG.template(export_type, name)


def one(column_kind_field: tuple[str, str, str], value: Any) -> tuple[Any, Any, Any]:
    """Map one value of one field: (typed value, raw text, quality report)."""
    export_type, name, field = column_kind_field
    mapped = map_frame(records_to_frame([{field: value}]), template(export_type, name))
    raw = mapped.frame[raw_column(field)][0] if raw_column(field) in mapped.frame.columns else None
    return mapped.frame[field][0], raw, mapped.quality


@pytest.mark.parametrize("tpl", TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_every_template_columns_names_and_dtypes(tpl: Template) -> None:
    mapped = map_frame(records_to_frame([{"id": 1}, {"id": "2"}]), tpl)
    frame = mapped.frame
    assert frame.columns[: len(tpl.fields)] == list(tpl.fields)
    for column in tpl.columns:
        assert frame.schema[column.field] == DTYPES[column.kind], column.field
        has_raw = raw_column(column.field) in frame.columns
        assert has_raw == (column.kind in ("integer", "money", "date", "datetime"))
    assert frame["id"].to_list() == [1, 2]
    # Every field but id is absent from the input: null and counted missing, never "N/A".
    missing = {c.header: 2 for c in tpl.columns if c.field != "id"}
    assert mapped.quality.missing == missing
    assert mapped.quality.rows == 2
    assert "N/A" not in str(frame.rows())


STATUS_CASES = [
    (tpl, column, code, label)
    for tpl in TEMPLATES
    for column in tpl.columns
    if column.kind == "status"
    for code, label in CATALOG.status_mappings[column.mapping or ""].items()
]


@pytest.mark.parametrize(
    ("tpl", "column", "code", "label"),
    STATUS_CASES,
    ids=[f"{t.export_type}-{t.name}-{c.field}-{k}" for t, c, k, _ in STATUS_CASES],
)
def test_every_status_code_translates_as_int_and_string(
    tpl: Template, column: Any, code: str, label: str
) -> None:
    forms: list[Any] = [code, f" {code} ", code.upper()]
    if code.isdigit():
        forms += [int(code), float(code), f"{code}.0"]
    mapped = map_frame(records_to_frame([{column.field: v} for v in forms]), tpl)
    assert mapped.frame[column.field].to_list() == [label] * len(forms)
    assert mapped.quality.unknown_codes == {}


def test_labels_pass_through_and_unknown_codes_are_kept_and_counted() -> None:
    tpl = template("participants", "standard")
    values = [3, "Approved", 9, "9", " 9 ", "x", None, ""]
    mapped = map_frame(records_to_frame([{"form_status": v} for v in values]), tpl)
    assert mapped.frame["form_status"].to_list() == [
        "Approved", "Approved", "9", "9", " 9 ", "x", None, None
    ]  # fmt: skip
    assert mapped.quality.unknown_codes == {"Status": {"9": 3, "x": 1}}
    assert mapped.quality.missing["Status"] == 2


def test_category_codes_are_strings() -> None:
    tpl = template("ambassadors", "standard")
    mapped = map_frame(records_to_frame([{"category": "university"}, {"category": 1}]), tpl)
    assert mapped.frame["category"].to_list() == ["University", "1"]
    assert mapped.quality.unknown_codes == {"Category": {"1": 1}}


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (1, "Yes"), (0, "No"), ("1", "Yes"), ("0", "No"), (True, "Yes"), (False, "No"),
        ("true", "Yes"), ("FALSE", "No"), ("Yes", "Yes"), ("no", "No"), (1.0, "Yes"),
        (" 0 ", "No"),
    ],
)  # fmt: skip
def test_booleans(value: Any, label: str) -> None:
    got, _, quality = one(("participants", "complete", "is_deleted"), value)
    assert got == label
    assert quality.unknown_codes == {}


def test_unknown_boolean_is_kept_and_counted() -> None:
    got, _, quality = one(("ambassadors", "detailed", "is_active"), "maybe")
    assert got == "maybe"
    assert quality.unknown_codes == {"Active": {"maybe": 1}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1995-05-15", date(1995, 5, 15)),
        ("1995/05/15", date(1995, 5, 15)),
        ("1995-05-15 23:59:59", date(1995, 5, 15)),
        ("1995-05-15T23:59:59.123Z", date(1995, 5, 15)),
        ("1995-05-15T01:00:00+07:00", date(1995, 5, 15)),  # wall clock: not shifted to UTC
        (" 1995-05-15 ", date(1995, 5, 15)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    got, raw, quality = one(("participants", "complete", "birthdate"), text)
    assert (got, raw, quality.unparseable) == (expected, None, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15 10:30:00", datetime(2024, 1, 15, 10, 30)),
        ("2024-01-15T10:30:00", datetime(2024, 1, 15, 10, 30)),
        ("2024-01-15T10:30:00.123456", datetime(2024, 1, 15, 10, 30, 0, 123456)),
        ("2024-01-15T10:30:00Z", datetime(2024, 1, 15, 10, 30)),
        ("2024-01-15T10:30:00.5+07:00", datetime(2024, 1, 15, 10, 30, 0, 500000)),
        ("2024-01-15T23:30:00-05:00", datetime(2024, 1, 15, 23, 30)),
        ("2024-01-15T10:30:00+0700", datetime(2024, 1, 15, 10, 30)),
        ("2024-01-15 10:30", datetime(2024, 1, 15, 10, 30)),
        ("2024/01/15 10:30:00", datetime(2024, 1, 15, 10, 30)),
        ("2024-01-15", datetime(2024, 1, 15)),
    ],
)
def test_datetimes_keep_the_wall_clock(text: str, expected: datetime) -> None:
    got, raw, quality = one(("participants", "complete", "created_at"), text)
    assert (got, raw, quality.unparseable) == (expected, None, {})


@pytest.mark.parametrize(
    "text", ["2024-02-30", "2024-13-01", "15/01/2024", "yesterday", "2024-01-15 25:00:00"]
)
@pytest.mark.parametrize("field", ["birthdate", "created_at"])
def test_unparseable_dates_keep_raw_text(text: str, field: str) -> None:
    got, raw, quality = one(("participants", "complete", field), text)
    header = "Birth Date" if field == "birthdate" else "Created"
    assert (got, raw) == (None, text)
    assert quality.unparseable == {header: 1}
    assert header not in quality.missing  # kept raw text is not a missing value


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12, 12), ("12", 12), (" 12 ", 12), ("12.0", 12), (12.0, 12), ("-3", -3), ("1e3", 1000)],
)
def test_integers(value: Any, expected: int) -> None:
    assert one(("payments", "standard", "participant_id"), value)[:2] == (expected, None)


@pytest.mark.parametrize("value", ["abc", "1.5", 1.5, "99999999999999999999", 10**30, "NaN"])
def test_unparseable_integers_keep_raw_text(value: Any) -> None:
    got, raw, quality = one(("payments", "standard", "participant_id"), value)
    assert got is None
    assert raw is not None
    assert quality.unparseable == {"Participant ID": 1}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1500, 1500.0), ("1500", 1500.0), ("1500.00", 1500.0), ("1,500.00", 1500.0),
        ("$1,500.00", 1500.0), ("€ 99.5", 99.5), ("£3", 3.0), ("Rp 1500000", 1500000.0),
        ("-$1,234,567.89", -1234567.89), (1500.75, 1500.75), ("0", 0.0),
    ],
)  # fmt: skip
def test_money(value: Any, expected: float) -> None:
    got, raw, _ = one(("payments", "detailed", "usd_amount"), value)
    assert (got, raw) == (pytest.approx(expected), None)


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-inf", "abc", "1,50", "12,34,567", float("nan"), "$"]
)
def test_unparseable_money_keeps_raw_text(value: Any) -> None:
    got, raw, quality = one(("payments", "standard", "amount"), value)
    assert got is None
    assert isinstance(raw, str) and raw
    assert quality.unparseable == {"Amount": 1}


def test_quality_report_counts() -> None:
    tpl = template("participants", "complete")
    long_text = "x" * 40_000
    records = [
        {"id": 1, "first_name": '=HYPERLINK("http://x")', "notes": long_text, "extra": 1},
        {"id": 2, "first_name": "+1", "last_name": "@SUM(A1)", "phone": "\tx", "zzz": 2},
        {"id": "abc", "first_name": "-2", "email": "\rcr", "birthdate": "=1+1", "": "ignored"},
        {"id": 4, "first_name": "Zoë 世界 🎉", "notes": ""},
    ]
    mapped = map_frame(records_to_frame(records), tpl)
    q = mapped.quality
    assert q.rows == 4
    assert q.extra_fields == ("extra", "zzz")
    assert q.formula_like == 7  # six text cells + the raw "=1+1" birth date
    assert q.truncated == 1
    notes = mapped.frame["notes"].to_list()
    assert notes[0] == "x" * EXCEL_MAX_CELL_CHARS
    assert notes[3] is None  # empty string -> null
    assert mapped.frame["first_name"].to_list()[0] == '=HYPERLINK("http://x")'  # not altered
    assert mapped.frame["first_name"][3] == "Zoë 世界 🎉"
    assert q.unparseable == {"ID": 1, "Birth Date": 1}
    assert q.missing["Notes"] == 3  # two absent, one empty string
    assert q.missing["Form ID"] == 4
    assert "ID" not in q.missing
    assert q.as_dict()["extra_fields"] == ["extra", "zzz"]


def test_long_raw_text_is_truncated_and_counted() -> None:
    got, raw, quality = one(("payments", "standard", "amount"), "9" * 40_000 + "x")
    assert got is None
    assert len(raw) == EXCEL_MAX_CELL_CHARS
    assert quality.truncated == 1


def test_headers_as_column_names_map_back() -> None:
    tpl = template("participants", "standard")
    frame = read_csv(b"ID,First Name,Status,email\n7,Ann,Approved,a@x\n")
    mapped = map_frame(frame, tpl)
    assert mapped.frame.select("id", "first_name", "form_status", "email").row(0) == (
        7, "Ann", "Approved", "a@x"
    )  # fmt: skip
    assert mapped.quality.extra_fields == ()


def test_empty_frames() -> None:
    tpl = template("payments", "detailed")
    for frame in (pl.DataFrame(), records_to_frame([]), read_csv(b"id,amount\n")):
        mapped = map_frame(frame, tpl)
        assert mapped.height == 0
        assert mapped.frame.columns[: len(tpl.fields)] == list(tpl.fields)
        assert mapped.quality.rows == 0
        assert mapped.quality.missing == {}
    mapped = map_frame(records_to_frame([{}, {}, {}]), tpl)
    assert mapped.height == 3
    assert mapped.quality.missing == dict.fromkeys(tpl.headers, 3)


def test_unicode_and_whitespace_text_intact() -> None:
    tpl = template("participants", "standard")
    values = ["  spaced  ", "Ñandú", "línea\nnueva", "🎉"]
    mapped = map_frame(records_to_frame([{"first_name": v} for v in values]), tpl)
    assert mapped.frame["first_name"].to_list() == values


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["id", "payment_status", "amount"], "payments"),
        (["amount"], "payments"),
        (["id", "ambassador_code", "referral_count"], "ambassadors"),
        (["form_id", "first_name", "form_status"], "participants"),
        (["ID", "First Name", "Email", "Status"], "participants"),
        (["id", "name", "email"], "participants"),
        (["id", "created_at", "updated_at", "notes", "is_active", "participant_id"], None),
        ([], None),
        (["foo", "bar"], None),
        (["amount", "referral_count"], None),  # one distinctive field each: ambiguous
        (["amount", "payment_status", "referral_count"], "payments"),
    ],
)
def test_detect_export_type(columns: list[str], expected: str | None) -> None:
    assert detect_export_type(columns) == expected


def test_detect_export_type_for_every_type_from_its_own_fields() -> None:
    for name, data_type in CATALOG.types.items():
        assert detect_export_type(data_type.field_kinds) == name
        for tpl in data_type.templates.values():
            assert detect_export_type(tpl.fields) == name


# What polars' strip_chars() removes (Rust's trim: Unicode White_Space), edge to edge.
WHITESPACE = [chr(c) for c in range(0x3001) if chr(c).isspace() and not 0x1C <= c <= 0x1F]

PADDED_CASES = [
    (("payments", "standard", "participant_id"), "12", 12),
    (("payments", "standard", "amount"), "1500.5", 1500.5),
    (("participants", "complete", "birthdate"), "1995-05-15", date(1995, 5, 15)),
    (
        ("participants", "complete", "created_at"),
        "2024-01-15 10:30:00",
        datetime(2024, 1, 15, 10, 30),
    ),
]


@pytest.mark.parametrize(("where", "text", "expected"), PADDED_CASES, ids=lambda v: str(v))
def test_parsed_values_padded_with_any_whitespace_parse_like_the_bare_text(
    where: tuple[str, str, str], text: str, expected: Any
) -> None:
    export_type, name, field = where
    values = [w + text for w in WHITESPACE] + [text + w for w in WHITESPACE]
    values += [w + text + w for w in WHITESPACE] + [w * 3 for w in WHITESPACE]
    mapped = map_frame(records_to_frame([{field: v} for v in values]), template(export_type, name))
    n = len(WHITESPACE)
    assert mapped.frame[field].to_list() == [expected] * (3 * n) + [None] * n
    assert mapped.frame[raw_column(field)].null_count() == 4 * n
    assert mapped.quality.unparseable == {}
    header = next(c.header for c in template(export_type, name).columns if c.field == field)
    assert mapped.quality.missing == {**mapped.quality.missing, header: n}  # blanks are missing


ODD = [
    "1", " 2 ", "3.0", "+4", "-1", "1e0", "Approved", "APPROVED", " approved ", "true", "No",
    "9", " 9 ", "x", "", "   ", "=1+1", "Zoë", "2024-01-15", " 2024-01-15T10:30:00Z",
    "2024/01/15 10:30", "2024-02-30", "1,500.00", "$ 12", "NaN", "1e20", "15/05/1995", None,
]  # fmt: skip


@pytest.mark.parametrize("tpl", TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_repeated_codes_map_as_distinct_ones(tpl: Template) -> None:
    """Repeated codes are translated once per distinct code; all-distinct ones value by value."""
    distinct = [
        {c.field: ODD[(i + k) % len(ODD)] for k, c in enumerate(tpl.columns)}
        for i in range(len(ODD))
    ]
    cycles = 10
    alone, mapped = (map_frame(records_to_frame(distinct * n), tpl) for n in (1, cycles))
    assert mapped.frame.equals(pl.concat([alone.frame] * cycles))
    q, one_cycle = mapped.quality, alone.quality
    assert q.formula_like == cycles * one_cycle.formula_like
    assert q.missing == {h: cycles * n for h, n in one_cycle.missing.items()}
    assert q.unparseable == {h: cycles * n for h, n in one_cycle.unparseable.items()}
    assert q.unknown_codes == {
        h: {code: cycles * n for code, n in codes.items()}
        for h, codes in one_cycle.unknown_codes.items()
    }


@pytest.mark.parametrize("kind", ["integer", "money", "date", "datetime"])
def test_the_fast_forms_agree_with_the_full_rules_wherever_they_find_a_value(kind: str) -> None:
    column = Column("x", "X", kind)  # type: ignore[arg-type]
    texts = [*ODD, *(w + "1" for w in WHITESPACE), "2024-01-15 10:30:00", "1500.25", "0", "-0.0"]
    frame = pl.DataFrame({"x": texts}, schema={"x": pl.String})
    got = frame.select(
        fast=mapping._fast_value(column, pl.col("x")), full=mapping._full_value(column, pl.col("x"))
    )
    found = got.filter(pl.col("fast").is_not_null())
    assert found.height > 0
    assert found["fast"].equals(found["full"], check_names=False)


DATE_TEXTS = [
    *ODD, *(w + "2024-01-15" + w for w in WHITESPACE[::7]), "2024-01-15T10:30:00+07:00",
    "2024/01/15T10:30:00.123456789-0530", "2024-01-15 10:30 -05", "2024-01-15 10:30:00 z",
    "2024-01-15T10:30:00+07:00 ", "2024-01-15T10:30:00+7:00", "2024-1-5", "2024-01-15T",
    "2024-13-01", "0999-01-01 00:00", "2024-01-15 24:00:00", "2024-01-15 10:30:00.5Z", "T",
    "2024/01/15/", "2024-01-15 10:30:00+07:00+07:00", " " * 40_000 + "2024/01/15",
]  # fmt: skip


@pytest.mark.parametrize("kind", ["integer", "money", "date", "datetime"])
def test_the_full_rules_in_steps_give_the_full_rules_value(kind: str) -> None:
    """`_settle` reads values again with `_with_full_value` (dates in steps): the same values
    as `_full_value` in one expression, nulls where that has nulls."""
    column = Column("x", "X", kind)  # type: ignore[arg-type]
    rows = pl.DataFrame({"src": DATE_TEXTS}, schema={"src": pl.String})
    whole = rows.select(value=mapping._full_value(column, pl.col("src")))["value"]
    got = mapping._with_full_value(column, rows)
    assert got.columns == ["src", "value"]
    assert got["src"].equals(rows["src"])
    assert got["value"].equals(whole)
    assert whole.null_count() < whole.len() - 5  # the texts hold values of every kind


def test_text_columns_come_through_untouched_and_multibyte_text_is_not_cut() -> None:
    tpl = template("participants", "complete")
    wide = "é" * 20_000  # 40,000 bytes but 20,000 characters: fits a cell
    frame = records_to_frame(
        [{"notes": wide, "first_name": "Ann"}, {"notes": "", "first_name": "Bo"}]
    )
    mapped = map_frame(frame, tpl)
    assert mapped.frame["notes"].to_list() == [wide, None]
    assert mapped.frame["first_name"].equals(frame["first_name"])
    assert mapped.quality.truncated == 0
