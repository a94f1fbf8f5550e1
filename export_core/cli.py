"""`python -m export_core ...`: exports, previews and the template catalog from a terminal.

    python -m export_core export participants input.json --template complete --out DIR
    python -m export_core preview participants input.csv --rows 10
    python -m export_core export participants partner.csv --map "Contact=phone" --map "No=" ...
    python -m export_core export participants input.csv --template "team:Outreach" --out DIR
    python -m export_core templates [TYPE]

Exit codes: 0 success, 2 bad input or options (unreadable file, unknown template, too many
records, ...), 1 any other failure. Errors go to stderr as one line; `--json` prints machine
output on stdout instead of the human summary."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from .catalog import Catalog, DataType, get_catalog
from .csvbatches import NotStreamable
from .errors import ExportError, InputError, LimitExceeded, NotFound, ValidationError
from .model import ExportOptions, ExportResult, PreviewResult
from .readers import read_any
from .service import preview, write_export
from .settings import Settings
from .store.templates import open_template_store
from .streamed import export_csv_file
from .team_templates import TEAM_PREFIX, resolve_options

USER_ERRORS = (InputError, ValidationError, LimitExceeded, NotFound)  # NotFound: a team template
STREAMED_EXTENSIONS = (".csv", ".tsv", ".txt")
CELL_CHARS = 24  # preview table cells are cut to this width


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export_core", description="YBB export engine: export, preview, templates"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write an export into a directory")
    export.add_argument("type", help="participants, payments or ambassadors")
    export.add_argument("input", help="a .json, .csv or .xlsx file ('-' reads stdin)")
    export.add_argument("--template", default="standard")
    export.add_argument("--format", default="excel", help="excel or csv")
    export.add_argument("--out", required=True, type=Path, help="target directory")
    export.add_argument("--filename", help="file name stem (the seed's `filename`)")
    export.add_argument("--sheet-name")
    export.add_argument("--chunking", default="auto", help="auto (the seed's rules) or off")
    export.add_argument("--csv-bom", action="store_true", help="start CSV files with a BOM")
    export.add_argument("--json", action="store_true", help="machine-readable output")
    export.add_argument(
        "--max-records",
        type=int,
        help="allow more records than the catalog's per-request limit (e.g. a 1,000,000-row "
        "file with --chunking off)",
    )
    show = sub.add_parser("preview", help="quality report, plan and the first mapped rows")
    show.add_argument("type")
    show.add_argument("input")
    for command in (export, show):
        command.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="SRC=FIELD",
            help="feed input column SRC into FIELD, overriding the header matching; SRC= "
            "ignores the column (repeatable)",
        )
    show.add_argument("--template", default="standard")
    show.add_argument("--format", default="excel")
    show.add_argument("--rows", type=int, default=10)
    show.add_argument("--json", action="store_true")
    listing = sub.add_parser("templates", help="the catalog's templates")
    listing.add_argument("type", nargs="?")
    listing.add_argument("--json", action="store_true")
    return parser


def _read(source: str) -> pl.DataFrame:
    """The input file (or stdin) as a frame; an unreadable file is an InputError."""
    if source == "-":
        return read_any(sys.stdin.buffer.read())
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read input file {source}: {exc.strerror or exc}") from exc
    return read_any(data, Path(source).name)


def _streamed(
    source: str, options: ExportOptions, out: Path, max_records: int | None
) -> ExportResult | None:
    """A CSV input file exported batch by batch (memory bounded by a batch, not the file);
    None when the input is not such a file or the export is not one file. The reported
    seconds then include reading, which the whole-file path does before timing."""
    if source == "-" or Path(source).suffix.lower() not in STREAMED_EXTENSIONS:
        return None
    try:
        return export_csv_file(Path(source), options, out, max_records=max_records)
    except NotStreamable:
        return None
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) == Path(source):
            raise InputError(f"Cannot read input file {source}: {exc.strerror or exc}") from exc
        raise


def _column_map(pairs: list[str]) -> tuple[tuple[str, str | None], ...]:
    """--map SRC=FIELD values as ExportOptions.column_map (the last SRC= wins)."""
    found: dict[str, str | None] = {}
    for pair in pairs:
        source, sep, field = pair.rpartition("=")
        if not sep or not source:
            raise ValidationError(f"--map {pair!r}: write SRC=FIELD (or SRC= to ignore SRC)")
        found[source] = field.strip() or None
    return tuple(found.items())


def _options(args: argparse.Namespace, **extra: Any) -> ExportOptions:
    """ExportOptions from the arguments, a "team:<name>" template looked up in the store of
    the environment's settings (YBB_DATA_DIR, YBB_STORE)."""
    options = ExportOptions(
        export_type=args.type,
        template=args.template,
        format=args.format,
        column_map=_column_map(args.map),
        **extra,
    )
    store = None
    if options.template.startswith(TEAM_PREFIX):
        store = open_template_store(Settings.from_env())
    return resolve_options(options, get_catalog(), store)


def _export(args: argparse.Namespace) -> int:
    options = _options(
        args,
        filename=args.filename,
        sheet_name=args.sheet_name,
        chunking=args.chunking,
        csv_bom=args.csv_bom,
    )
    began = time.perf_counter()
    result = _streamed(args.input, options, args.out, args.max_records)
    if result is None:
        frame = _read(args.input)
        began = time.perf_counter()
        result = write_export(frame, options, args.out, max_records=args.max_records, consume=True)
    seconds = time.perf_counter() - began
    if args.json:
        print(json.dumps(_result_dict(result, args.out, seconds), ensure_ascii=False))
    else:
        print(_result_text(result, args.out, seconds))
    return 0


def _result_dict(result: ExportResult, out: Path, seconds: float) -> dict[str, Any]:
    archive = result.archive
    return {
        "status": "success",
        "export_strategy": result.plan.strategy,
        "directory": str(out),
        "record_count": result.record_count,
        "total_files": result.plan.total_files,
        "files": [vars(f) for f in result.files],
        "archive": None
        if archive is None
        else {**vars(archive), "compression_ratio": archive.compression_ratio},
        "quality": result.quality.as_dict(),
        "seconds": round(seconds, 3),
    }


def _result_text(result: ExportResult, out: Path, seconds: float) -> str:
    lines = [f"{result.plan.describe()} in {out} ({seconds:.2f} s)"]
    lines += [
        f"  {f.file_name}  {f.file_size:,} bytes  records {f.record_range}" for f in result.files
    ]
    if result.archive:
        a = result.archive
        lines.append(f"  {a.zip_file_name}  {a.zip_file_size:,} bytes  saved {a.compression_ratio}")
    lines.append(_quality_line(result.quality.as_dict()))
    return "\n".join(lines)


def _quality_line(quality: dict[str, Any]) -> str:
    parts = [f"{quality['rows']:,} rows"]
    for key in ("missing", "unparseable", "unknown_codes"):
        if quality[key]:
            parts.append(f"{key.replace('_', ' ')}: " + ", ".join(sorted(quality[key])))
    for key in ("formula_like", "truncated"):
        if quality[key]:
            parts.append(f"{key.replace('_', '-')} cells: {quality[key]:,}")
    if quality["extra_fields"]:
        parts.append("ignored fields: " + ", ".join(quality["extra_fields"]))
    return "Quality: " + "; ".join(parts)


def _cell(text: str) -> str:
    flat = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return flat if len(flat) <= CELL_CHARS else flat[: CELL_CHARS - 1] + "…"


def _table(headers: Sequence[str], rows: list[dict[str, str]]) -> str:
    cells = [[_cell(h) for h in headers]] + [[_cell(r[h]) for h in headers] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _preview(args: argparse.Namespace) -> int:
    options = _options(args)
    result: PreviewResult = preview(_read(args.input), options, limit=max(0, args.rows))
    if args.json:
        payload = {
            "headers": list(result.headers),
            "rows": result.rows,
            "total_rows": result.total_rows,
            "quality": result.quality.as_dict(),
            "plan": result.plan.describe(),
        }
        print(json.dumps(payload, ensure_ascii=False))
        return 0
    print(_quality_line(result.quality.as_dict()))
    print(f"Plan: {result.plan.describe()}")
    print(_table(result.headers, result.rows))
    return 0


def _type_dict(data_type: DataType) -> dict[str, Any]:
    return {
        name: {
            "description": t.description,
            "includes_sensitive_data": t.includes_sensitive_data,
            "fields": list(t.fields),
            "headers": list(t.headers),
            "kinds": [c.kind for c in t.columns],
        }
        for name, t in data_type.templates.items()
    }


def _templates(args: argparse.Namespace, catalog: Catalog) -> int:
    types = [catalog.data_type(args.type)] if args.type else list(catalog.types.values())
    if args.json:
        print(json.dumps({t.name: _type_dict(t) for t in types}, ensure_ascii=False))
        return 0
    for data_type in types:
        print(f"{data_type.name} ({data_type.label})")
        for name, template in data_type.templates.items():
            badge = "  [personal data]" if template.includes_sensitive_data else ""
            print(f"  {name}: {template.description}{badge}")
            for column in template.columns:
                print(f"    {column.header:<20} <- {column.field} ({column.kind})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "export":
            return _export(args)
        if args.command == "preview":
            return _preview(args)
        return _templates(args, get_catalog())
    except USER_ERRORS as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
