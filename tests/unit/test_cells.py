"""Reading a MappedFrame back as cells (for writers) and display strings (for the preview)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from export_core import cells
from export_core.catalog import get_catalog
from export_core.cells import display_rows, iter_cells
from tests.unit.engine_helpers import hand_mapped

CATALOG = get_catalog()
PAYMENTS = CATALOG.template("payments", "detailed")
ROW = {
    "id": 7,
    "participant_id": 42,
    "payment_method_id": "Bank Transfer",
    "amount": 1500.0,
    "usd_amount": "about 100",  # unparseable: kept as raw text
    "payment_date": date(2024, 1, 20),
    "payment_status": "Completed",
    "reference_number": "PAY_001_2024",
    "notes": None,
    "created_at": datetime(2024, 1, 15, 10, 30, 0),
    "updated_at": None,
}


def test_iter_cells_typed_then_raw_then_none_in_template_order() -> None:
    mapped = hand_mapped(PAYMENTS, [ROW])
    assert list(iter_cells(mapped)) == [
        (
            7,
            42,
            "Bank Transfer",
            1500.0,
            "about 100",
            date(2024, 1, 20),
            "Completed",
            "PAY_001_2024",
            None,
            datetime(2024, 1, 15, 10, 30),
            None,
        )
    ]


def test_iter_cells_slices_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cells, "BLOCK_ROWS", 3)
    rows = [{**ROW, "id": i, "usd_amount": f"raw {i}" if i % 4 == 0 else 1.0} for i in range(20)]
    mapped = hand_mapped(PAYMENTS, rows)
    got = list(iter_cells(mapped, 2, 17))
    assert [r[0] for r in got] == list(range(2, 17))
    assert [r[4] for r in got] == [f"raw {i}" if i % 4 == 0 else 1.0 for i in range(2, 17)]
    assert list(iter_cells(mapped, 18)) == list(iter_cells(mapped))[18:]
    assert list(iter_cells(mapped, 5, 5)) == []
    assert list(iter_cells(mapped, 30, 40)) == []


def test_non_finite_money_becomes_text() -> None:
    mapped = hand_mapped(PAYMENTS, [{**ROW, "amount": float("nan")}, {**ROW, "amount": 2.5}])
    assert [r[3] for r in iter_cells(mapped)] == ["nan", 2.5]


def test_display_rows_mirror_the_excel_formats() -> None:
    rows = [ROW, {**ROW, "amount": -1234567.5, "usd_amount": 0.5, "created_at": None}]
    shown = display_rows(hand_mapped(PAYMENTS, rows))
    assert list(shown[0]) == list(PAYMENTS.headers)
    assert shown[0] == {
        "ID": "7",
        "Participant ID": "42",
        "Payment Method": "Bank Transfer",
        "Amount": "1,500.00",
        "USD Amount": "about 100",
        "Payment Date": "2024-01-20",
        "Status": "Completed",
        "Reference": "PAY_001_2024",
        "Notes": "",
        "Created": "2024-01-15 10:30:00",
        "Updated": "",
    }
    assert shown[1]["Amount"] == "-1,234,567.50"
    assert shown[1]["USD Amount"] == "0.50"
    assert shown[1]["Created"] == ""


def test_display_rows_dates_and_fractions() -> None:
    template = CATALOG.template("participants", "detailed")
    row = {"id": 1, "birthdate": date(999, 3, 4), "created_at": datetime(2024, 1, 1, 9, 5, 7, 999)}
    shown = display_rows(hand_mapped(template, [row]))[0]
    assert shown["Birth Date"] == "0999-03-04"
    assert shown["Created At"] == "2024-01-01 09:05:07"  # Excel's format shows no fractions
    assert shown["Email"] == ""


def test_display_rows_offset_and_limit() -> None:
    mapped = hand_mapped(PAYMENTS, [{**ROW, "id": i} for i in range(10)])
    assert [r["ID"] for r in display_rows(mapped, 3, 4)] == ["3", "4", "5", "6"]
    assert [r["ID"] for r in display_rows(mapped, 8, 100)] == ["8", "9"]
    assert display_rows(mapped, 0, 0) == []
    assert display_rows(mapped, 50, 10) == []
