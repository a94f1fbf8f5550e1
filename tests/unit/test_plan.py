"""The seed's chunking rules and file names (spec "Chunking Algorithm", "Performance Benchmarks"
and "File Processing & Downloads")."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_core.catalog import Template, get_catalog
from export_core.errors import UnknownFormat, ValidationError
from export_core.model import ExportOptions, ExportPlan
from export_core.plan import chunk_size_for, plan_export, safe_stem

CATALOG = get_catalog()
LIMITS = CATALOG.limits
ALL_TEMPLATES = [t for d in CATALOG.types.values() for t in d.templates.values()]
SIZES = [0, 1, 999, 4_999, 5_000, 5_001, 6_000, 9_999, 10_000, 10_001, 25_000, 30_000, 30_001]
SIZES += [49_999, 50_000]


def plan(count: int, export_type: str, template: str, **options: object) -> ExportPlan:
    opts = ExportOptions(export_type=export_type, template=template, **options)  # type: ignore[arg-type]
    return plan_export(count, CATALOG.template(export_type, template), opts, LIMITS)


# The seed's own benchmark table: records, template, files (participants).
SEED_TABLE = [
    (100, "standard", 1),
    (1_000, "standard", 1),
    # The seed's table lists 1 chunk for 5,000, but its own rule sends >= 5,000 to multi-file
    # (spec "Large Exports (>= 5,000 records)"); with chunk min(2,000 * 2, 3,000) that is 2.
    (5_000, "standard", 2),
    (6_000, "complete", 3),
    (10_000, "standard", 5),
    (25_000, "detailed", 17),
    (50_000, "complete", 50),
]


@pytest.mark.parametrize(("count", "template", "files"), SEED_TABLE)
def test_seed_benchmark_table(count: int, template: str, files: int) -> None:
    result = plan(count, "participants", template)
    assert result.total_files == files
    assert result.strategy == ("multi_file" if count >= 5_000 else "single_file")


def test_seed_names_for_6000_complete() -> None:
    result = plan(6_000, "participants", "complete")
    assert [b.file_name for b in result.batches] == [
        "participants_batch_1_of_3.xlsx",
        "participants_batch_2_of_3.xlsx",
        "participants_batch_3_of_3.xlsx",
    ]
    assert result.archive_name == "participants_complete_export.zip"
    assert [b.record_range for b in result.batches] == ["1-2000", "2001-4000", "4001-6000"]
    assert result.describe() == "6,000 records -> 3 Excel files of 2,000 + ZIP"


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, 2000), (9_999, 2000), (10_000, 1000), (30_000, 1000), (30_001, 1000)],
)
def test_chunk_size_rules_participants_complete(count: int, expected: int) -> None:
    # base 1,000: <10,000 -> min(2,000, 3,000); >30,000 -> max(500, 1,000)
    assert chunk_size_for(CATALOG.template("participants", "complete"), count, LIMITS) == expected


@pytest.mark.parametrize(
    ("export_type", "template", "small", "medium", "large"),
    [
        ("participants", "standard", 3000, 2000, 1000),
        ("participants", "detailed", 3000, 1500, 1000),
        ("participants", "summary", 3000, 2000, 1000),
        ("payments", "standard", 3000, 3000, 1500),
        ("payments", "detailed", 3000, 2000, 1000),
        ("ambassadors", "standard", 3000, 2500, 1250),
        ("ambassadors", "detailed", 3000, 2000, 1000),
    ],
)
def test_chunk_size_per_template(
    export_type: str, template: str, small: int, medium: int, large: int
) -> None:
    t = CATALOG.template(export_type, template)
    assert [chunk_size_for(t, n, LIMITS) for n in (5_000, 20_000, 40_000)] == [
        small,
        medium,
        large,
    ]


def test_chunk_size_capped_by_max_chunk_size() -> None:
    limits = dataclasses.replace(LIMITS, max_chunk_size=1_200)
    assert chunk_size_for(CATALOG.template("payments", "standard"), 20_000, limits) == 1_200


def _assert_covers_once(result: ExportPlan, count: int) -> None:
    covered = [i for b in result.batches for i in range(b.start, b.stop)]
    assert covered == list(range(count))
    assert sum(b.record_count for b in result.batches) == count
    assert [b.number for b in result.batches] == list(range(1, result.total_files + 1))
    assert len({b.file_name for b in result.batches}) == result.total_files
    if result.strategy == "multi_file":
        assert all(b.record_count <= result.chunk_size for b in result.batches)
        assert all(b.record_count > 0 for b in result.batches)


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
@pytest.mark.parametrize("count", SIZES)
def test_ranges_cover_every_record_once(template: Template, count: int) -> None:
    opts = ExportOptions(export_type=template.export_type, template=template.name)
    _assert_covers_once(plan_export(count, template, opts, LIMITS), count)


@given(count=st.integers(0, 60_000), index=st.integers(0, len(ALL_TEMPLATES) - 1))
def test_ranges_cover_every_record_once_property(count: int, index: int) -> None:
    template = ALL_TEMPLATES[index]
    opts = ExportOptions(export_type=template.export_type, template=template.name, format="csv")
    result = plan_export(count, template, opts, LIMITS)
    _assert_covers_once(result, count)
    assert result.extension == "csv"


def test_single_file_names() -> None:
    assert plan(3, "payments", "detailed").batches[0].file_name == "payments_detailed_export.xlsx"
    custom = plan(3, "participants", "standard", filename="participants_export.xlsx")
    assert custom.batches[0].file_name == "participants_export.xlsx"
    assert custom.archive_name is None
    csv = plan(3, "participants", "standard", filename="report.xlsx", format="csv")
    assert csv.batches[0].file_name == "report.csv"


def test_custom_name_for_multi_file() -> None:
    result = plan(6_000, "participants", "complete", filename="../../etc/Q1 list.xlsx")
    assert result.batches[0].file_name == "Q1 list_batch_1_of_3.xlsx"
    assert result.archive_name == "Q1 list.zip"


def test_chunking_off_is_one_file() -> None:
    result = plan(50_000, "participants", "complete", chunking="off")
    assert result.strategy == "single_file"
    assert result.total_files == 1
    assert (result.batches[0].start, result.batches[0].stop) == (0, 50_000)
    assert result.describe() == "50,000 records -> 1 Excel file"


def test_bad_chunking_and_format() -> None:
    with pytest.raises(ValidationError, match="chunking 'sometimes'"):
        plan(10, "participants", "standard", chunking="sometimes")
    with pytest.raises(UnknownFormat) as info:
        plan(10, "participants", "standard", format="pdf")
    assert info.value.message == "Unsupported format 'pdf'. Use one of: excel, csv"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "default"),
        ("", "default"),
        ("participants_export.xlsx", "participants_export"),
        ("report.csv", "report"),
        ("report.v2", "report.v2"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("C:\\Users\\x\\list.xlsx", "list"),
        ("a\r\nb", "ab"),
        ('"quoted" name', "quoted name"),
        ("it's “fine”", "its fine"),
        ("Peserta Jawa Barat (2024)", "Peserta Jawa Barat (2024)"),
        ("Üñíçødé 名簿", "Üñíçødé 名簿"),
        ("a<b>c|d?e*f:g", "a_b_c_d_e_f_g"),
        ("   ...   ", "default"),
        ("..", "default"),
        (".hidden", "hidden"),
        ("x" * 300, "x" * 100),
        ("CON.xlsx", "_CON"),
        ("a\u202eb", "ab"),  # right-to-left override would disguise the extension
        ("a    b", "a b"),
    ],
)
def test_safe_stem(name: str | None, expected: str) -> None:
    assert safe_stem(name, "default") == expected


@given(st.text())
def test_safe_stem_never_yields_a_path(name: str) -> None:
    stem = safe_stem(name, "default")
    assert stem
    assert len(stem) <= 100
    assert not any(c in stem for c in '/\\:*?"<>|\r\n\x00')
    assert stem.strip(" .") == stem
