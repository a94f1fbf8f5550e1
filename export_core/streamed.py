"""Single-file exports of CSV input bigger than memory: read, map and write batch by batch.

One pass over the input file: each batch is mapped once and written at once (xlsx: one sheet,
rolling over at Excel's row limit, its column widths measured from the batches as they pass
and set when the file closes; csv: appended), while the record count and the quality report
(summed over the batches) are gathered. The checks that need the whole file's record count
come after it, in `write_export`'s order: the record limit, then the template, options and
plan. Writing stops as soon as the rows seen so far fail the limit or make the plan several
files (both only grow with the count); the rest of the file is then only counted and the
partial file removed. Memory is bounded by one batch.

The output equals what `service.write_export` writes for the whole file (tests compare them
byte for byte). Exports that the plan cuts into several files are not streamed: the caller
falls back to the whole-file path (so does a file the batch reader cannot stream)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections import Counter
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import polars as pl

from .ahead import Ahead
from .catalog import Catalog, Template, get_catalog
from .csvbatches import read_csv_batches
from .errors import StorageError, ValidationError
from .mapping import map_frame
from .model import ExportOptions, ExportResult, MappedFrame, QualityReport, WrittenFile
from .service import _validate, check_record_count, resolve_template, temp_path
from .writers import csv as csv_writer
from .writers import xlsx

# Rows read, mapped and written at a time. 1,000,000 participants (226 MB CSV) into one xlsx,
# two passes then: 50,000-row batches peaked at 340 MB RSS in 88 s, 20,000-row batches at
# 262 MB in 82 s. One pass (5 Dec, loaded machine, CPU time): 20,000 rows 192-195 MB and
# 28.7-28.9 s; 10,000 rows 165-167 MB and 29.6-30.0 s.
BATCH_ROWS = 10_000


class QualitySum:
    """The quality report of consecutive batches' rows together (counts summed, orders as
    map_frame gives them for all rows: headers in template order, codes by count then text).
    Kept as counters and ordered once: merging report by report re-sorted every unknown code
    seen so far at each batch (3 s of a 1,000,000-row export whose dates land there)."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.rows = self.formula_like = self.truncated = 0
        self.missing: Counter[str] = Counter()
        self.unparseable: Counter[str] = Counter()
        self.unknown: dict[str, Counter[str]] = {}
        self.extra_fields: tuple[str, ...] | None = None
        self.columns: dict[str, dict[str, str | float | None]] | None = None

    def add(self, q: QualityReport) -> None:
        """Count one more batch's report in."""
        self.rows += q.rows
        self.formula_like += q.formula_like
        self.truncated += q.truncated
        self.missing.update(q.missing)
        self.unparseable.update(q.unparseable)
        for header, codes in q.unknown_codes.items():
            self.unknown.setdefault(header, Counter()).update(codes)
        if self.extra_fields is None:  # every batch has the file's header
            self.extra_fields, self.columns = q.extra_fields, q.columns

    def report(self) -> QualityReport:
        """The report for all the rows added."""
        headers = self.template.headers
        unknown = {
            h: dict(sorted(self.unknown[h].items(), key=lambda kv: (-kv[1], kv[0])))
            for h in headers
            if +self.unknown.get(h, Counter())
        }
        return QualityReport(
            rows=self.rows,
            missing={h: self.missing[h] for h in headers if self.missing[h]},
            unknown_codes=unknown,
            unparseable={h: self.unparseable[h] for h in headers if self.unparseable[h]},
            extra_fields=self.extra_fields or (),
            formula_like=self.formula_like,
            truncated=self.truncated,
            columns=self.columns or {},
        )


@dataclasses.dataclass
class _Pass:
    """What the pass over the file learns, and whether it is still writing."""

    rows: int = 0
    quality: QualitySum | None = None
    stopped: bool = False  # the rows seen so far already rule the streamed file out


def _streamable(options: ExportOptions, rows: int, limit: int, catalog: Catalog) -> bool:
    """Whether `rows` records (so far) can still be exported as the one streamed file. Every
    check here only gets stricter as rows are added."""
    if rows > limit:
        return False
    try:
        _, plan = _validate(options, rows, catalog)
    except ValidationError:
        return False
    return plan.strategy == "single_file"


def _mapped(
    batches: Iterator[pl.DataFrame], state: _Pass, options: ExportOptions, limit: int,
    catalog: Catalog,
) -> Iterator[tuple[MappedFrame, int]]:  # fmt: skip
    """Map the batches while the rows so far allow streaming, summing the quality reports;
    each mapped batch comes with the rows read so far (this runs on a thread of its own, so
    `state` is only read once it is done)."""
    template, column_map = resolve_template(options, catalog), dict(options.column_map)
    for batch in batches:
        state.rows += batch.height
        if not _streamable(options, state.rows, limit, catalog):
            state.stopped = True
            return
        mapped = map_frame(batch, template, catalog, column_map)
        state.quality = state.quality or QualitySum(template)
        state.quality.add(mapped.quality)
        yield mapped, state.rows


def _write(
    first: MappedFrame, blocks: Iterator[MappedFrame], target: Path, options: ExportOptions
) -> None:
    if options.format == "excel":
        xlsx.write_blocks(chain([first], blocks), None, None, target, options, deflate_rows=True)
        return
    with target.open("wb") as out:
        for number, block in enumerate(chain([first], blocks)):
            csv_writer.append(block, out, options, header=number == 0)


def _discard(tmp: Path | None, created: Path | None) -> None:
    """Remove the partial file, and the output directory if this export created it."""
    if tmp is not None:
        tmp.unlink(missing_ok=True)
    if created is not None:
        with contextlib.suppress(OSError):
            created.rmdir()


def _about(exc: OSError, source: Path) -> bool:
    """Whether `exc` is about the input file (the caller reports it as such), not the output."""
    return exc.filename is not None and Path(exc.filename) == source


def export_csv_file(
    source: Path,
    options: ExportOptions,
    target_dir: Path,
    *,
    catalog: Catalog | None = None,
    max_records: int | None = None,
) -> ExportResult | None:
    """Export the CSV file `source` in batches when the plan is one file; None when it is
    not (or the file cannot be streamed), leaving nothing behind. Raises what `write_export`
    raises for the same input, in the same order."""
    catalog = catalog or get_catalog()
    limit = catalog.limits.max_records_per_request if max_records is None else max_records
    state = _Pass()
    batches = read_csv_batches(source, BATCH_ROWS)
    tmp = created = None
    try:
        if _streamable(options, 0, limit, catalog):
            # the next batch read and mapped while this one is written (ahead.py)
            with Ahead(_mapped(batches, state, options, limit, catalog), "ybb-read-ahead") as ahead:
                first = next(ahead, None)
                if first is not None:
                    name = _validate(options, first[1], catalog)[1].batches[0].file_name
                    created = None if target_dir.exists() else target_dir
                    target_dir.mkdir(parents=True, exist_ok=True)
                    tmp = temp_path(target_dir / name)
                    _write(first[0], (mapped for mapped, _ in ahead), tmp, options)
        for batch in batches:  # only counted (none left when everything was written)
            state.rows += batch.height
        check_record_count(state.rows, limit)
        plan = _validate(options, state.rows, catalog)[1]
        if tmp is None or state.stopped or plan.strategy != "single_file":
            _discard(tmp, created)
            return None
        final = target_dir / plan.batches[0].file_name
        os.replace(tmp, final)
    except BaseException as exc:
        _discard(tmp, created)
        if isinstance(exc, OSError) and not _about(exc, source):
            reason = exc.strerror or str(exc)
            raise StorageError(f"Could not write export files: {reason}") from exc
        raise
    assert state.quality is not None  # at least one batch was mapped
    only = plan.batches[0]
    written = WrittenFile(
        batch_number=only.number,
        file_name=only.file_name,
        file_size=final.stat().st_size,
        record_count=only.record_count,
        record_range=only.record_range,
    )
    return ExportResult(
        options=options, plan=plan, files=(written,), archive=None, quality=state.quality.report()
    )
