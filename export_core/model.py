"""Typed values passed between the engine's parts and to the doors (API, UI, CLI).

The mapped frame contract (produced by `mapping.map_frame`, consumed by writers and previews):

* `MappedFrame.frame` is a polars DataFrame with one column per template field, named by the
  *field* (not the header), in template order, typed by the field's kind:
    integer -> Int64, money -> Float64, date -> Date, datetime -> Datetime("us"),
    text / status / boolean -> String (statuses and booleans already translated to labels).
* For the kinds that can fail to parse (integer, money, date, datetime) the frame also has a
  String column named `raw_column(field)` holding the original text where parsing failed
  (null where it succeeded or the value was missing). Writers write the typed value when it is
  not null, else the raw text, else an empty cell — see `cells.iter_cells`.
* Missing values are null (an empty cell), never "N/A".
"""

from __future__ import annotations

import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

import polars as pl

from .catalog import Template

if TYPE_CHECKING:
    from .writers.csvnative import PreparedCsv

RAW_SUFFIX = "\x00raw"
CellValue = int | float | str | date | datetime | None
OutputFormat = Literal["excel", "csv"]
Chunking = Literal["auto", "off"]
Strategy = Literal["single_file", "multi_file"]
ProgressCallback = Callable[[int, int], None]  # (files_done, files_total)

EXCEL_MAX_ROWS = 1_048_576  # rows per sheet, header row included
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_CELL_CHARS = 32_767
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def raw_column(field_name: str) -> str:
    """Name of the companion column holding unparseable raw text for `field_name`."""
    return field_name + RAW_SUFFIX


def file_index(sizes: Sequence[int]) -> pl.Series:
    """For consecutive files of `sizes` rows, each row's file number (0, 0, ..., 1, 1, ...),
    as Int32. Built in an array: one `pl.repeat` per file, concatenated, took ~0.44 ms for a
    group of 5 files (a query each; once per group in the xlsx widths and in csv's
    `prepare`); this ~0.06 ms."""
    index = array.array("i")
    for number, size in enumerate(sizes):
        index.extend(array.array("i", [number]) * size)
    return pl.Series(values=index, dtype=pl.Int32)


@dataclass(frozen=True)
class QualityReport:
    """What mapping noticed about the data; shown beside the preview and returned by the API."""

    rows: int
    missing: dict[str, int] = field(default_factory=dict)  # header -> empty cells
    unknown_codes: dict[str, dict[str, int]] = field(default_factory=dict)  # header -> code -> n
    unparseable: dict[str, int] = field(default_factory=dict)  # header -> bad date/number count
    extra_fields: tuple[str, ...] = ()  # input fields the template ignores
    formula_like: int = 0  # text cells starting with = + - @ TAB CR (neutralised on write)
    truncated: int = 0  # cells cut at Excel's 32,767 characters
    # source column -> {"field", "method", "score"}: how each input column was matched
    # (export_core.matching); empty in reports stored before matching existed.
    columns: dict[str, dict[str, str | float | None]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "missing": dict(self.missing),
            "unknown_codes": {k: dict(v) for k, v in self.unknown_codes.items()},
            "unparseable": dict(self.unparseable),
            "extra_fields": list(self.extra_fields),
            "formula_like": self.formula_like,
            "truncated": self.truncated,
            "columns": {k: dict(v) for k, v in self.columns.items()},
        }


@dataclass(frozen=True)
class MappedFrame:
    """The mapped data for one template (see the module docstring) and its quality report."""

    template: Template
    frame: pl.DataFrame
    quality: QualityReport
    # Files the csv writer's `prepare` rendered natively, per file of its group (the frame's
    # csv.PREPARED_FILE column says which rows are whose; writers.csv).
    prepared: tuple[PreparedCsv, ...] = ()

    @property
    def height(self) -> int:
        return self.frame.height


@dataclass(frozen=True)
class BatchPlan:
    """One output file of an export: 1-based number, record slice [start, stop), file name."""

    number: int
    start: int
    stop: int
    file_name: str

    @property
    def record_count(self) -> int:
        return self.stop - self.start

    @property
    def record_range(self) -> str:
        """The seed's 1-based inclusive range text, e.g. "1-2000"."""
        return f"{self.start + 1}-{self.stop}"


@dataclass(frozen=True)
class ExportPlan:
    """How an export is cut into files."""

    strategy: Strategy
    record_count: int
    chunk_size: int
    batches: tuple[BatchPlan, ...]
    archive_name: str | None  # set for multi_file
    extension: str  # "xlsx" or "csv"

    @property
    def total_files(self) -> int:
        return len(self.batches)

    def describe(self) -> str:
        """A one-line human summary, e.g. '50,000 records -> 50 Excel files of 1,000 + ZIP'."""
        kind = "Excel" if self.extension == "xlsx" else "CSV"
        if self.strategy == "single_file":
            return f"{self.record_count:,} records -> 1 {kind} file"
        return (
            f"{self.record_count:,} records -> {self.total_files} {kind} files "
            f"of {self.chunk_size:,} + ZIP"
        )


@dataclass(frozen=True)
class ExportOptions:
    """What a door asks for, beyond the records themselves."""

    export_type: str
    template: str = "standard"
    format: str = "excel"
    filename: str | None = None
    sheet_name: str | None = None
    chunking: str = "auto"
    csv_bom: bool = False
    # A person's column choices: (source column, field or None to ignore), overriding the
    # automatic header matching (export_core.matching). A tuple, so options stay hashable.
    column_map: tuple[tuple[str, str | None], ...] = ()
    # A team template (export_core.team_templates) the door resolved for `template`
    # ("team:<name>"); None for the catalog's templates.
    team_template: Template | None = None


@dataclass(frozen=True)
class WrittenFile:
    """A file written by `write_export`."""

    batch_number: int
    file_name: str
    file_size: int
    record_count: int
    record_range: str


@dataclass(frozen=True)
class WrittenArchive:
    """The ZIP of a multi-file export."""

    zip_file_name: str
    zip_file_size: int
    uncompressed_size: int

    @property
    def compression_ratio(self) -> str:
        """Space saved, as the seed prints it ("86.5%"); computed from the real sizes."""
        if self.uncompressed_size <= 0:
            return "0.0%"
        saved = 1 - self.zip_file_size / self.uncompressed_size
        return f"{max(saved, 0.0) * 100:.1f}%"


@dataclass(frozen=True)
class ExportResult:
    """Everything `write_export` produced in its target directory."""

    options: ExportOptions
    plan: ExportPlan
    files: tuple[WrittenFile, ...]
    archive: WrittenArchive | None
    quality: QualityReport

    @property
    def record_count(self) -> int:
        return self.plan.record_count


@dataclass(frozen=True)
class PreviewResult:
    """The mapped first rows (display strings keyed by header), the quality report and plan."""

    template: Template
    headers: tuple[str, ...]
    rows: list[dict[str, str]]
    total_rows: int
    quality: QualityReport
    plan: ExportPlan
