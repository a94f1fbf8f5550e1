"""The engine's entry points for the doors (REST API, Dash UI, CLI).

Each batch file is written by `write_batch`, a module-level function whose arguments (a
MappedFrame holding just the batch's rows, the batch plan, the options, a directory) all
pickle. The small batches of a multi-file export are handed to WRITE_THREADS threads; a later
change could spread them over processes instead. Use the `spawn` or `forkserver` start method
for such a pool: polars deadlocks in fork()ed children."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import secrets
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import polars as pl

from . import heap
from .ahead import Ahead
from .archive import MemberData, ZipBuilder, deflate_member
from .catalog import Catalog, Template, get_catalog
from .cells import display_rows
from .errors import LimitExceeded, NoDataError, StorageError, UnknownTemplate
from .mapping import map_frame, map_values
from .model import (
    BatchPlan,
    ExportOptions,
    ExportPlan,
    ExportResult,
    MappedFrame,
    PreviewResult,
    ProgressCallback,
    QualityReport,
    WrittenArchive,
    WrittenFile,
)
from .plan import plan_export
from .writers import get_writer

# Rows a writer's `prepare` step handles at once: big enough that per-call costs vanish
# (50 files of 1,000 rows: 10 calls, not 50), small enough that the rendered XML (~0.9 KB per
# participant row) and polars' intermediates stay small: writing 50,000 complete rows peaked
# at +37 MB RSS with 10,000-row groups, +16 MB with 2,000.
PREPARE_ROWS = 5_000
# An export of at most this many rows is prepared in one group, whatever PREPARE_ROWS says:
# each group costs a fixed ~2.3 ms of polars calls (widths, facts, rendering). At 10,000
# standard rows (5 files of 2,000: three groups before) the engine's CPU went down 7-8% and
# the worker's per request ~5% (a few thousand more page faults: the group's XML, a few MB,
# is held at once; worker peak +1-3 MB). docs/PERFORMANCE.md, tenth round.
ONE_GROUP_ROWS = 10_000
# Batches up to this size are rendered in memory by a writer with a `render` step (csv) when
# there is a ZIP to feed: the bytes go to the batch file and to the ZIP thread, which then need
# not read the file back. Bigger batches are written straight to disk and read back by the ZIP
# thread, so that memory stays bounded (archive.QUEUE_DEPTH members in flight at most).
RENDER_ROWS = 5_000
# Batch files of a multi-file export (batches of up to PREPARE_ROWS rows) written at once,
# each in a thread of its own. An xlsx file's packaging is mostly zlib, which releases the GIL,
# so one file is deflated while another is assembled: 50,000 complete participants (50 files)
# took 1.95 -> 1.3 s in the engine and ~2.9 -> ~2.2-2.5 s through the API, at the same worker
# peak RSS (docs/PERFORMANCE.md, fifth round). Rendering the 50 csv files: 0.11 -> 0.07 s.
# 1 writes the files one by one on the caller's thread.
WRITE_THREADS = 2


def temp_path(final: Path) -> Path:
    """A unique sibling name to write `final` under before renaming it into place."""
    return final.with_name(f"{final.name}.tmp-{secrets.token_hex(6)}")


def resolve_template(options: ExportOptions, catalog: Catalog) -> Template:
    """The template `options` names: the team template the door resolved, else the catalog's."""
    team = options.team_template
    if team is None:
        return catalog.template(options.export_type, options.template)
    if team.export_type != options.export_type:
        raise UnknownTemplate(
            f"Template '{options.template}' not found for {options.export_type}",
            details={"template": options.template},
        )
    return team


def _validate(
    options: ExportOptions, record_count: int, catalog: Catalog
) -> tuple[Template, ExportPlan]:
    """The template and plan for `options`; raises the catalog's/plan's ValidationErrors."""
    template = resolve_template(options, catalog)
    get_writer(options.format)
    return template, plan_export(record_count, template, options, catalog.limits)


def preview(
    frame: pl.DataFrame,
    options: ExportOptions,
    *,
    offset: int = 0,
    limit: int = 100,
    catalog: Catalog | None = None,
) -> PreviewResult:
    """Map `frame` and return rows [offset, offset+limit) as display strings, the quality
    report and the export plan. Validates type/template/format like write_export."""
    catalog = catalog or get_catalog()
    template, plan = _validate(options, frame.height, catalog)
    mapped = map_frame(frame, template, catalog, dict(options.column_map))
    return PreviewResult(
        template=template,
        headers=template.headers,
        rows=display_rows(mapped, max(0, offset), limit),
        total_rows=mapped.height,
        quality=mapped.quality,
        plan=plan,
    )


def batch_rows(mapped: MappedFrame, batch: BatchPlan) -> MappedFrame:
    """The MappedFrame holding only `batch`'s rows (zero-copy; small to pickle)."""
    rows = mapped.frame.slice(batch.start, batch.record_count)
    return dataclasses.replace(mapped, frame=rows)


def _place(final: Path, write: Callable[[Path], object]) -> None:
    """Run `write(tmp)` on a temporary sibling of `final`, then rename it into place; nothing
    is left behind on error."""
    tmp = temp_path(final)
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _bytes_writer(data: bytes | memoryview) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(data)


def _written(batch: BatchPlan, size: int) -> WrittenFile:
    return WrittenFile(
        batch_number=batch.number,
        file_name=batch.file_name,
        file_size=size,
        record_count=batch.record_count,
        record_range=batch.record_range,
    )


def write_batch(
    rows: MappedFrame, batch: BatchPlan, options: ExportOptions, target_dir: Path
) -> WrittenFile:
    """Write all of `rows` (the batch's records, see `batch_rows`) to
    `target_dir / batch.file_name` through a temporary name; nothing is left behind on error."""
    final = target_dir / batch.file_name
    writer = get_writer(options.format)
    _place(final, lambda tmp: writer.write(rows, 0, rows.height, tmp, options))
    return _written(batch, final.stat().st_size)


def _groups(batches: tuple[BatchPlan, ...]) -> Iterator[list[BatchPlan]]:
    """Consecutive batches of about PREPARE_ROWS rows together (a bigger batch alone); all of
    them together when they hold at most ONE_GROUP_ROWS rows."""
    total = sum(batch.record_count for batch in batches)
    limit = max(PREPARE_ROWS, ONE_GROUP_ROWS) if total <= ONE_GROUP_ROWS else PREPARE_ROWS
    group: list[BatchPlan] = []
    rows = 0
    for batch in batches:
        if group and rows + batch.record_count > limit:
            yield group
            group, rows = [], 0
        group.append(batch)
        rows += batch.record_count
    if group:
        yield group


PrepareStep = Callable[[MappedFrame, list[tuple[int, int]]], MappedFrame]


def _batches_with_rows(
    mapped: MappedFrame, plan: ExportPlan, options: ExportOptions
) -> Generator[tuple[BatchPlan, MappedFrame]]:
    """Each batch with its rows. A writer with a `prepare` step (xlsx: measures each file's
    column widths; csv: renders the files, BOM and header included) gets consecutive small
    batches in groups of
    ~PREPARE_ROWS rows, so that its per-call costs are paid per group rather than per file,
    while memory stays bounded by the group. With
    several groups, the next group is prepared in a thread of its own while this one's
    batches are written (`_prepared_ahead`)."""
    prepare: PrepareStep | None = getattr(get_writer(options.format), "prepare", None)
    groups = list(_groups(plan.batches))
    if prepare is None:
        for group in groups:
            yield from ((batch, batch_rows(mapped, batch)) for batch in group)
        return
    for group, rendered in _prepared_ahead(mapped, groups, prepare):
        if rendered is None:
            yield from ((batch, batch_rows(mapped, batch)) for batch in group)
            continue
        begin = group[0].start
        for batch in group:
            rows = rendered.frame.slice(batch.start - begin, batch.record_count)
            yield batch, dataclasses.replace(rendered, frame=rows)


def _preparable(group: list[BatchPlan]) -> bool:
    return group[0].record_count <= PREPARE_ROWS


def _prepared_ahead(
    mapped: MappedFrame, groups: list[list[BatchPlan]], prepare: PrepareStep
) -> Iterator[tuple[list[BatchPlan], MappedFrame | None]]:
    """Each group with its prepared rows (None: a batch too big to prepare, written alone).
    `prepare` is mostly polars, which releases the GIL: with two or more groups it runs one
    group ahead in a "batch-preparer" thread, so that preparing group k+1 overlaps writing
    group k's files instead of leaving the writer threads idle (50,000 complete rows: ten
    ~30-50 ms stretches with one core busy). At most two prepared groups are held at once.
    Closing the iterator early (an error, a cancel) waits for the prepare under way."""

    def bounds(group: list[BatchPlan]) -> list[tuple[int, int]]:
        return [(b.start, b.stop) for b in group]

    prepared = (
        (group, prepare(mapped, bounds(group)) if _preparable(group) else None) for group in groups
    )
    if sum(_preparable(group) for group in groups) < 2:
        yield from prepared
        return
    with Ahead(prepared, "batch-preparer") as ahead:  # closed early: waits for the prepare
        yield from ahead


def check_record_count(rows: int, limit: int) -> None:
    """NoDataError for no records, LimitExceeded for more than `limit` (the seed's messages)."""
    if rows == 0:
        raise NoDataError("No data provided for export")
    if rows > limit:
        raise LimitExceeded(
            f"Data exceeds maximum limit of {limit} records",
            details={"record_count": rows, "max_records": limit},
        )


Render = Callable[[MappedFrame, int, int, ExportOptions], bytes | memoryview]
Written = tuple[WrittenFile, MemberData]  # a batch file in place, its bytes (deflated) if at hand


def _write_one(
    rows: MappedFrame,
    batch: BatchPlan,
    options: ExportOptions,
    target_dir: Path,
    render: Render | None,
) -> Written:
    """Write one batch file: rendered in memory when there is a `render` step and the batch
    is small (its bytes then also go to the ZIP, deflated here: the writer threads share the
    deflate), else by `write_batch`."""
    if render is not None and batch.record_count <= RENDER_ROWS:
        data = render(rows, 0, rows.height, options)
        final = target_dir / batch.file_name
        _place(final, _bytes_writer(data))
        return _written(batch, len(data)), deflate_member(final, data)
    return write_batch(rows, batch, options, target_dir), None


def _write_files(
    mapped: MappedFrame,
    plan: ExportPlan,
    options: ExportOptions,
    target_dir: Path,
    progress: ProgressCallback | None,
    written: list[Path],
    zip_builder: ZipBuilder | None,
) -> list[WrittenFile]:
    """Every batch file, each handed to `zip_builder` (if any) once it is in place."""
    render: Render | None = (
        getattr(get_writer(options.format), "render", None) if zip_builder else None
    )
    files: list[WrittenFile] = []

    def settle(batch: BatchPlan, done: Written) -> None:
        """Record a batch file that is in place: result, cleanup list, ZIP, progress."""
        final = target_dir / batch.file_name
        files.append(done[0])
        written.append(final)
        if zip_builder:
            zip_builder.add(final, done[1])
        if progress and batch.number < plan.total_files:
            progress(batch.number, plan.total_files)

    # closing: on an error, a group being prepared ahead is waited for here, not left running
    with contextlib.closing(_batches_with_rows(mapped, plan, options)) as batches:
        if _in_threads(plan):
            _write_in_threads(batches, options, target_dir, render, settle, written)
        else:
            for batch, rows in batches:
                settle(batch, _write_one(rows, batch, options, target_dir, render))
    return files


def _in_threads(plan: ExportPlan) -> bool:
    """Whether the batch files are written by WRITE_THREADS threads: several files of at most
    PREPARE_ROWS rows each (bigger batches are written one at a time, so that memory holds
    one batch's work)."""
    return WRITE_THREADS > 1 and plan.total_files > 1 and plan.chunk_size <= PREPARE_ROWS


InFlight = collections.deque[tuple[BatchPlan, "Future[Written]"]]


def _write_in_threads(
    batches: Iterator[tuple[BatchPlan, MappedFrame]],
    options: ExportOptions,
    target_dir: Path,
    render: Render | None,
    settle: Callable[[BatchPlan, Written], None],
    written: list[Path],
) -> None:
    """`_write_one` for every batch, WRITE_THREADS at a time in writer threads; each batch is
    settled on this thread, in order, once its file is in place. On any error (a write fails,
    or `settle` raises to cancel) the batches not yet started are dropped, the running ones
    are waited for, and the files they placed go into `written` for the caller to remove."""
    in_flight: InFlight = collections.deque()
    with ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="batch-writer") as pool:
        try:
            for batch, rows in batches:
                task = pool.submit(_write_one, rows, batch, options, target_dir, render)
                in_flight.append((batch, task))
                # One batch queued beyond the running ones: a thread that finishes has the
                # next batch at hand while this thread settles and prepares more.
                if len(in_flight) > WRITE_THREADS:
                    settle(*_oldest(in_flight))
            while in_flight:
                settle(*_oldest(in_flight))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            written.extend(
                target_dir / batch.file_name
                for batch, future in in_flight
                if not future.cancelled() and future.exception() is None
            )
            raise


def _oldest(in_flight: InFlight) -> tuple[BatchPlan, Written]:
    """The oldest batch in flight, once its file is in place (its error, if it failed)."""
    batch, future = in_flight[0]
    done = future.result()
    in_flight.popleft()
    return batch, done


def _write_all(
    mapped: MappedFrame,
    plan: ExportPlan,
    options: ExportOptions,
    target_dir: Path,
    progress: ProgressCallback | None,
    written: list[Path],
) -> tuple[list[WrittenFile], WrittenArchive | None]:
    """Every batch, then the ZIP; appends each final path to `written` as it appears. The ZIP
    is built under a temporary name in a background thread while the files are written
    (archive.ZipBuilder: deflate overlaps writing) and renamed into place last."""
    zip_final = target_dir / plan.archive_name if plan.archive_name else None
    zip_builder = ZipBuilder(temp_path(zip_final)) if zip_final else None
    archive = None
    try:
        files = _write_files(mapped, plan, options, target_dir, progress, written, zip_builder)
        if zip_builder and zip_final:
            archive = dataclasses.replace(zip_builder.finish(), zip_file_name=zip_final.name)
            os.replace(zip_builder.target, zip_final)
            written.append(zip_final)
    except BaseException:
        if zip_builder:
            zip_builder.abort()
            zip_builder.target.unlink(missing_ok=True)
        raise
    if progress:
        progress(plan.total_files, plan.total_files)  # only once everything is in place
    return files, archive


T = TypeVar("T")


@contextlib.contextmanager
def _beside(work: Callable[[], T], in_thread: bool) -> Iterator[Callable[[], T]]:
    """`work()` run while the block runs, in a thread of its own, or before the block when
    not `in_thread`; yields the function giving its result (or raising its error) after the
    block. An error in the block waits for the thread before it propagates.

    write_export works out the quality report this way (~16 ms of polars queries for 50,000
    complete rows, which delayed the first file) when there are several files: their writing
    leaves a core free at times, while a single file's export would only pay for the thread
    (~90 more page faults per 1,000-row request)."""
    if not in_thread:
        result = work()
        yield lambda: result
        return
    with ThreadPoolExecutor(1, thread_name_prefix="quality-report") as thread:
        future = thread.submit(work)
        yield future.result


def _let_go(frame: pl.DataFrame) -> None:
    """Drop every column of `frame` in place, then hand the freed heap back to the kernel.
    The mapped values keep the buffers they share with it (text passed through as it came);
    what goes is the rest: the text of the parsed and relabelled columns (ids, dates, codes;
    ~7 MB of a 50,000-row `complete` body's ~22 MB). Held until the export ended, it sat under
    every file's writing, the request's highest point: the worker peaked 2-4 MB higher
    (docs/PERFORMANCE.md, fifteenth round). Without the trim the peak did not move: glibc
    keeps the freed memory, and what writing allocates is polars' (its own allocator) or
    rendered rows of over 1 MB each (mapped on their own, app/gunicorn_conf.py)."""
    for name in frame.columns:
        frame.drop_in_place(name)
    heap.release_free_heap()


def write_export(
    frame: pl.DataFrame,
    options: ExportOptions,
    target_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    catalog: Catalog | None = None,
    max_records: int | None = None,
    consume: bool = False,
) -> ExportResult:
    """Validate, map, plan and write every file (and the ZIP for multi_file) into
    `target_dir`. Each file is written to a temporary name and renamed into place.

    With `consume`, `frame` is emptied in place once its values are mapped (every column
    dropped; see `_let_go`): for a caller that reads it no more, e.g. a request body's
    freshly decoded records, whose memory then goes back before the files are written.

    `progress(files_done, files_total)` is called after each data file; `files_total` counts
    data files only, and the final `(total, total)` call comes after the ZIP is in place too.
    If anything fails — a writer, the disk, or `progress` raising to cancel — every file this
    call wrote is removed and the error re-raised (OSError as StorageError)."""
    catalog = catalog or get_catalog()
    check_record_count(
        frame.height,
        catalog.limits.max_records_per_request if max_records is None else max_records,
    )
    template, plan = _validate(options, frame.height, catalog)
    values, quality_of = map_values(frame, template, catalog, dict(options.column_map))
    if consume:
        _let_go(frame)
    written: list[Path] = []
    # The writers never read the quality report: they get the values with an empty one.
    mapped = MappedFrame(template, values, QualityReport(rows=values.height))
    try:
        with _beside(quality_of, plan.total_files > 1) as quality:
            target_dir.mkdir(parents=True, exist_ok=True)
            files, archive = _write_all(mapped, plan, options, target_dir, progress, written)
        report = quality()
    except BaseException as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)  # strerror: no server paths in the message
            raise StorageError(f"Could not write export files: {reason}") from exc
        raise
    return ExportResult(
        options=options, plan=plan, files=tuple(files), archive=archive, quality=report
    )
