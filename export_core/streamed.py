"""Single-file exports of CSV input bigger than memory: read, map and write batch by batch.

Two passes over the input file. The first maps every batch to learn what the file as a whole
needs before a row is written: the record count (limits, plan), the quality report (summed
over the batches) and the xlsx column widths (the maximum over the batches, which equals the
widths of all rows: a width only grows with the longest value, and money's width comes from
the extremes). The second maps each batch again and streams it into the one file (xlsx: one
sheet, rolling over at Excel's row limit; csv: appended). Memory is bounded by one batch;
mapping twice costs a few percent of the time writing does.

The output equals what `service.write_export` writes for the whole file (tests compare them
byte for byte). Exports that the plan cuts into several files are not streamed: the caller
falls back to the whole-file path (so does a file the batch reader cannot stream)."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .catalog import Catalog, Template, get_catalog
from .csvbatches import read_csv_batches
from .errors import InputError, StorageError, ValidationError
from .mapping import map_frame
from .model import ExportOptions, ExportResult, MappedFrame, QualityReport, WrittenFile
from .service import _validate, check_record_count, resolve_template, temp_path
from .writers import csv as csv_writer
from .writers import xlsx

# Rows read, mapped and written at a time. 1,000,000 participants (226 MB CSV) into one xlsx:
# 50,000-row batches peaked at 340 MB RSS in 88 s, 20,000-row batches at 262 MB in 82 s.
BATCH_ROWS = 20_000


@dataclasses.dataclass
class _Survey:
    """What the first pass learns about the whole file."""

    rows: int = 0
    widths: list[int] | None = None
    quality: QualityReport | None = None


def merge_quality(a: QualityReport, b: QualityReport, template: Template) -> QualityReport:
    """The quality report of two batches' rows together (counts summed, orders as map_frame
    gives them for all rows: headers in template order, codes by count then text)."""

    def summed(x: dict[str, int], y: dict[str, int]) -> dict[str, int]:
        total = Counter(x) + Counter(y)
        return {h: total[h] for h in template.headers if total[h]}

    unknown: dict[str, dict[str, int]] = {}
    for header in template.headers:
        codes = Counter(a.unknown_codes.get(header, {})) + Counter(b.unknown_codes.get(header, {}))
        if codes:
            unknown[header] = dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])))
    return QualityReport(
        rows=a.rows + b.rows,
        missing=summed(a.missing, b.missing),
        unknown_codes=unknown,
        unparseable=summed(a.unparseable, b.unparseable),
        extra_fields=a.extra_fields,  # every batch has the file's header
        formula_like=a.formula_like + b.formula_like,
        truncated=a.truncated + b.truncated,
        columns=a.columns,  # every batch has the file's header
    )


def _survey(
    source: Path, template: Template | None, catalog: Catalog, options: ExportOptions
) -> _Survey:
    survey, excel, column_map = _Survey(), options.format == "excel", dict(options.column_map)
    for batch in read_csv_batches(source, BATCH_ROWS):
        survey.rows += batch.height
        if template is None:
            continue  # only counted: the template error is raised after the size checks
        mapped = map_frame(batch, template, catalog, column_map)
        q = mapped.quality
        survey.quality = q if survey.quality is None else merge_quality(survey.quality, q, template)
        if excel:
            got = xlsx.column_widths(mapped, 0, mapped.height)
            survey.widths = got if survey.widths is None else list(map(max, survey.widths, got))
    return survey


def _mapped_batches(
    source: Path, template: Template, catalog: Catalog, options: ExportOptions
) -> Iterator[MappedFrame]:
    for batch in read_csv_batches(source, BATCH_ROWS):
        yield map_frame(batch, template, catalog, dict(options.column_map))


def _write(
    source: Path, template: Template, survey: _Survey, target: Path, options: ExportOptions,
    catalog: Catalog,
) -> None:  # fmt: skip
    blocks = _counted(_mapped_batches(source, template, catalog, options), survey.rows)
    if options.format == "excel":
        assert survey.widths is not None
        xlsx.write_blocks(blocks, survey.rows, survey.widths, target, options)
        return
    with target.open("wb") as out:
        for number, block in enumerate(blocks):
            first = number == 0
            csv_writer.append(block, out, options, header=first)


def _counted(blocks: Iterator[MappedFrame], expected: int) -> Iterator[MappedFrame]:
    """The blocks of the second pass, checked against the first pass's row count: a file that
    changed in between is an InputError, not a wrong or truncated export."""
    seen = 0
    for block in blocks:
        seen += block.height
        if seen > expected:
            break
        yield block
    if seen != expected:
        raise InputError(
            f"The input file changed while it was being exported ({expected:,} rows when "
            f"first read, {seen:,}{'+' if seen > expected else ''} the second time); "
            "run the export again once the file is complete"
        )


def export_csv_file(
    source: Path,
    options: ExportOptions,
    target_dir: Path,
    *,
    catalog: Catalog | None = None,
    max_records: int | None = None,
) -> ExportResult | None:
    """Export the CSV file `source` in batches when the plan is one file; None when it is
    not (or the file cannot be streamed), before anything is written. Raises what
    `write_export` raises for the same input, in the same order."""
    catalog = catalog or get_catalog()
    try:
        template: Template | None = resolve_template(options, catalog)
    except ValidationError:
        template = None
    survey = _survey(source, template, catalog, options)
    limit = catalog.limits.max_records_per_request if max_records is None else max_records
    check_record_count(survey.rows, limit)
    template, plan = _validate(options, survey.rows, catalog)
    if plan.strategy != "single_file" or survey.quality is None:
        return None
    batch = plan.batches[0]
    final = target_dir / batch.file_name
    tmp = temp_path(final)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        _write(source, template, survey, tmp, options, catalog)
        os.replace(tmp, final)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise StorageError(f"Could not write export files: {reason}") from exc
        raise
    written = WrittenFile(
        batch_number=batch.number,
        file_name=batch.file_name,
        file_size=final.stat().st_size,
        record_count=batch.record_count,
        record_range=batch.record_range,
    )
    return ExportResult(
        options=options, plan=plan, files=(written,), archive=None, quality=survey.quality
    )
