"""Frame + Template -> MappedFrame (typed columns, translated statuses) + QualityReport.
See export_core.model for the mapped frame contract; export_core.cells reads it back.

Everything runs as polars expressions over the reader's String columns, so 50,000 rows map in a
fraction of a second. Rules, per field kind:

* every kind: an empty string is a missing value (null, an empty cell; never "N/A"); a value
  longer than Excel's 32,767 characters is cut to that length and counted as truncated.
* integer: "12", " 12 ", "12.0", "1e3" -> 12; fractions, garbage and values beyond what a float
  holds exactly (2**53) keep their raw text and are counted as unparseable.
* money: "1500", "1500.00", "1,500.00", "-$1,500.00", "Rp 1500" -> a float (optional leading
  $, €, £ or Rp, comma thousands groups); NaN/Infinity/garbage keep their raw text.
* date / datetime: YYYY-MM-DD or YYYY/MM/DD, optionally followed by a time (T or space,
  HH:MM or HH:MM:SS, fractional seconds) and a zone (Z, +hh:mm, +hhmm, +hh). A date field keeps
  the date part of a datetime; a datetime field reads a bare date as midnight. Impossible
  calendar dates (2024-02-30) are unparseable and keep their raw text.
  Time zones: Excel cells have none, so the wall-clock time is kept exactly as written and the
  offset is dropped ("2024-01-15T10:30:00+07:00" -> 2024-01-15 10:30:00); nothing is shifted.
* status / boolean: codes match as 1, "1", " 1 " or "1.0"; matching ignores case, and a value
  that already is a label ("Approved") stays as it is. Booleans also take true/false and yes/no.
  Unknown codes keep their raw text and are counted per code.
* text: kept as is. Formula-like text (= + - @ TAB CR at the start) is counted, not altered:
  the writers neutralise it.

Input columns are matched to template fields by exact field name, else exact header, else
case/space/underscore-insensitively, so a file exported earlier (headers as column names) maps
back onto its template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import polars as pl

from .catalog import BOOLEAN_MAPPING, Catalog, Column, Template, get_catalog
from .model import EXCEL_MAX_CELL_CHARS, MappedFrame, QualityReport, raw_column

_PARSED_KINDS = frozenset({"integer", "money", "date", "datetime"})
_LABEL_KINDS = frozenset({"status", "boolean"})
_FORMULA_PATTERN = r"^[=+\-@\t\r]"
_MAX_EXACT_INT = 2**53  # beyond this a float-spelled integer ("1e20") is not exact
# The forms tried on every value: the platform's own. Each is a full pass over the column
# (fractional-second formats cost three times an exact one), so anything else is left to
# `_reparse_dates`, which runs the full grammar on just the values these missed.
_FAST_FORMATS = {"datetime": ("%Y-%m-%d %H:%M:%S",), "date": ("%Y-%m-%d",)}
_CURRENCY_PATTERN = r"^([-+]?)\s*(?:US\$|\$|€|£|Rp\.?|IDR|USD)?\s*"
_THOUSANDS_PATTERN = r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$"
_UNKNOWN_CODE_CHARS = 200  # a code's key in the report is cut to this length


def _dtype(kind: str) -> pl.DataType:
    return {
        "integer": pl.Int64(),
        "money": pl.Float64(),
        "date": pl.Date(),
        "datetime": pl.Datetime("us"),
    }.get(kind, pl.String())


def _cap(expr: pl.Expr) -> pl.Expr:
    """Cut text at Excel's cell limit (counted separately, on the input)."""
    return expr.str.slice(0, EXCEL_MAX_CELL_CHARS)


def _parse_integer(t: pl.Expr) -> pl.Expr:
    as_float = t.cast(pl.Float64, strict=False)
    whole = (
        pl.when(
            as_float.is_finite()
            & (as_float == as_float.floor())
            & (as_float.abs() < _MAX_EXACT_INT)
        )
        .then(as_float)
        .cast(pl.Int64)
    )
    return pl.coalesce(t.cast(pl.Int64, strict=False), whole)


def _parse_money(t: pl.Expr) -> pl.Expr:
    bare = t.str.replace(_CURRENCY_PATTERN, "${1}")
    number = (
        pl.when(bare.str.contains(_THOUSANDS_PATTERN))
        .then(bare.str.replace_all(",", "", literal=True))
        .otherwise(bare)
        .cast(pl.Float64, strict=False)
    )
    return pl.when(number.is_finite()).then(number)


def _drop_zone(t: pl.Expr) -> pl.Expr:
    """Cut a trailing Z / +hh:mm / +hhmm / +hh after a time (the module's time-zone policy)."""
    t = t.str.strip_suffix("Z").str.strip_suffix("z")
    return (
        pl.when(t.str.contains(r"\d\s*[+-]\d\d:\d\d$"))
        .then(t.str.head(-6))
        .when(t.str.contains(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*[+-]\d{4}$"))
        .then(t.str.head(-5))
        .when(t.str.contains(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*[+-]\d\d$"))
        .then(t.str.head(-3))
        .otherwise(t)
        .str.strip_chars_end()
    )


def _strptime_forms(t: pl.Expr, formats: Sequence[str]) -> pl.Expr:
    return pl.coalesce(
        t.str.to_datetime(f, time_unit="us", strict=False)
        if "%H" in f
        else t.str.to_date(f, strict=False).cast(pl.Datetime("us"))
        for f in formats
    )


def _parse_datetime_fast(t: pl.Expr, kind: str) -> pl.Expr:
    """The common zone-less form of `kind`, by exact strptime (cheap even where it fails)."""
    return _strptime_forms(t, _FAST_FORMATS[kind])


def _parse_datetime(t: pl.Expr) -> pl.Expr:
    """Every accepted form: Y-M-D or Y/M/D, optional T/space time and zone; null otherwise.

    Regex work costs ten times the strptime above, so `map_frame` runs this only on the values
    the fast forms left unparsed (usually none)."""
    norm = _drop_zone(t.str.replace_all("/", "-", literal=True).str.replace("T", " ", literal=True))
    return _strptime_forms(norm, ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d"))


def _reparse_dates(mapped: pl.DataFrame, template: Template) -> pl.DataFrame:
    """Second chance, on the few values the fast forms missed, with the full date grammar."""
    updates: list[pl.Series] = []
    for col in template.columns:
        if col.kind not in ("date", "datetime"):
            continue
        value, raw = mapped[col.field], mapped[raw_column(col.field)]
        todo = (value.is_null() & raw.is_not_null()).arg_true()
        if todo.is_empty():
            continue
        parsed = pl.select(_parse_datetime(pl.lit(raw.gather(todo).str.strip_chars()))).to_series()
        fixed = parsed.dt.date() if col.kind == "date" else parsed
        updates.append(value.clone().scatter(todo, fixed))
    return mapped.with_columns(updates) if updates else mapped


def _label_lookup(column: Column, catalog: Catalog) -> dict[str, str]:
    """Lower-cased code (and label) -> label for a status or boolean column."""
    mapping = catalog.status_mappings[column.mapping or BOOLEAN_MAPPING]
    lookup = {code.lower(): label for code, label in mapping.items()}
    lookup.update({label.lower(): label for label in mapping.values()})
    if column.kind == "boolean":
        yes, no = mapping.get("1", "Yes"), mapping.get("0", "No")
        lookup.update({"true": yes, "yes": yes, "false": no, "no": no})
    return lookup


def _value_expr(column: Column, src: pl.Expr, catalog: Catalog) -> pl.Expr:
    """The typed / translated value of one template column from its String source."""
    if column.kind == "text":
        return _cap(pl.when(src != "").then(src))
    t = src.str.strip_chars()
    t = pl.when(t != "").then(t)
    if column.kind in _LABEL_KINDS:
        code = t.str.replace(r"^([-+]?\d+)\.0*$", "${1}").str.to_lowercase()
        label = code.replace_strict(
            _label_lookup(column, catalog), default=None, return_dtype=pl.String
        )
        return _cap(pl.when(t.is_not_null()).then(pl.coalesce(label, src)))
    if column.kind == "integer":
        return _parse_integer(t)
    if column.kind == "money":
        return _parse_money(t)
    parsed = _parse_datetime_fast(t, column.kind)
    return parsed.dt.date() if column.kind == "date" else parsed


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def _resolve_sources(columns: Sequence[str], template: Template) -> dict[str, str | None]:
    """Template field -> the input column that feeds it (None when the input lacks it)."""
    normalised: dict[str, str] = {}
    for name in columns:
        normalised.setdefault(_norm(name), name)
    taken: set[str] = set()
    found: dict[str, str | None] = {}
    present = set(columns)
    for col in template.columns:
        candidates = (
            col.field if col.field in present else None,
            col.header if col.header in present else None,
            normalised.get(_norm(col.field)),
            normalised.get(_norm(col.header)),
        )
        source = next((c for c in candidates if c is not None and c not in taken), None)
        if source is not None:
            taken.add(source)
        found[col.field] = source
    return found


def _map_values(
    frame: pl.DataFrame, template: Template, sources: dict[str, str | None], catalog: Catalog
) -> pl.DataFrame:
    """Typed columns in template order, then the raw companions of the parsed kinds."""
    values: list[pl.Expr] = []
    raws: list[pl.Expr] = []
    for column in template.columns:
        source = sources[column.field]
        if source is None:
            values.append(pl.lit(None, _dtype(column.kind)).alias(column.field))
            if column.kind in _PARSED_KINDS:
                raws.append(pl.lit(None, pl.String).alias(raw_column(column.field)))
            continue
        src = pl.col(source).cast(pl.String)
        values.append(_value_expr(column, src, catalog).alias(column.field))
        if column.kind in _PARSED_KINDS:
            # Holds the stripped-non-empty original for now; blanked below where parsing worked.
            present = pl.when(src.str.strip_chars() != "").then(_cap(src))
            raws.append(present.alias(raw_column(column.field)))
    mapped = _reparse_dates(frame.lazy().select(*values, *raws).collect(), template)
    parsed = [c for c in template.columns if c.kind in _PARSED_KINDS]
    return mapped.with_columns(
        pl.when(pl.col(c.field).is_null())
        .then(pl.col(raw_column(c.field)))
        .alias(raw_column(c.field))
        for c in parsed
    )


def _quality(
    frame: pl.DataFrame,
    mapped: pl.DataFrame,
    template: Template,
    sources: dict[str, str | None],
    catalog: Catalog,
) -> QualityReport:
    """Count what mapping noticed, in two vectorised passes (input lengths, mapped values)."""
    used = [s for s in sources.values() if s is not None]
    truncated = 0
    if used and frame.height:
        long_cells = [
            (pl.col(s).cast(pl.String).str.len_chars() > EXCEL_MAX_CELL_CHARS).sum() for s in used
        ]
        truncated = int(sum(frame.select(long_cells).row(0)))
    exprs: dict[str, pl.Expr] = {}
    texts: list[str] = []
    for col in template.columns:
        value = pl.col(col.field)
        if col.kind in _PARSED_KINDS:
            raw = pl.col(raw_column(col.field))
            exprs[f"missing/{col.header}"] = (value.is_null() & raw.is_null()).sum()
            exprs[f"unparseable/{col.header}"] = raw.is_not_null().sum()
            texts.append(raw_column(col.field))
            continue
        exprs[f"missing/{col.header}"] = value.is_null().sum()
        texts.append(col.field)
        if col.kind in _LABEL_KINDS:
            labels = list(catalog.status_mappings[col.mapping or BOOLEAN_MAPPING].values())
            exprs[f"unknown/{col.header}"] = (value.is_not_null() & ~value.is_in(labels)).sum()
    formula = [pl.col(n).str.contains(_FORMULA_PATTERN).sum() for n in texts]
    exprs["formula"] = pl.sum_horizontal(formula) if formula else pl.lit(0)
    counts = mapped.select(**exprs).row(0, named=True) if mapped.height else {}

    def picked(prefix: str) -> dict[str, int]:
        return {
            header: int(counts.get(f"{prefix}/{header}") or 0)
            for header in template.headers
            if counts.get(f"{prefix}/{header}")
        }

    missing = picked("missing") if mapped.height else {}
    unknown = _unknown_codes(mapped, template, picked("unknown"), catalog)
    used_set = set(used)
    return QualityReport(
        rows=mapped.height,
        missing=missing,
        unknown_codes=unknown,
        unparseable=picked("unparseable"),
        extra_fields=tuple(c for c in frame.columns if c not in used_set and c != ""),
        formula_like=int(counts.get("formula") or 0),
        truncated=truncated,
    )


def _unknown_codes(
    mapped: pl.DataFrame, template: Template, totals: dict[str, int], catalog: Catalog
) -> dict[str, dict[str, int]]:
    """Per header, each unknown code and how often it occurs (only where totals found some)."""
    report: dict[str, dict[str, int]] = {}
    for col in template.columns:
        if col.header not in totals:
            continue
        labels = list(catalog.status_mappings[col.mapping or BOOLEAN_MAPPING].values())
        value = pl.col(col.field)
        codes = (
            mapped.lazy()
            .filter(value.is_not_null() & ~value.is_in(labels))
            .group_by(value.str.strip_chars().str.slice(0, _UNKNOWN_CODE_CHARS).alias("code"))
            .len()
            .sort(["len", "code"], descending=[True, False])
            .collect()
        )
        report[col.header] = {str(c): int(n) for c, n in codes.iter_rows()}
    return report


def map_frame(
    frame: pl.DataFrame, template: Template, catalog: Catalog | None = None
) -> MappedFrame:
    """Map a reader's frame onto `template` and report on its quality."""
    catalog = catalog or get_catalog()
    sources = _resolve_sources(frame.columns, template)
    mapped = _map_values(frame, template, sources, catalog)
    if mapped.height != frame.height:  # a frame of only literals would collapse to one row
        mapped = mapped.clear(frame.height)
    quality = _quality(frame, mapped, template, sources, catalog)
    return MappedFrame(template=template, frame=mapped, quality=quality)


def detect_export_type(columns: Iterable[str], catalog: Catalog | None = None) -> str | None:
    """The data type whose fields best match `columns`, or None when nothing matches.

    Only distinctive evidence counts: a field (or a template header naming it) that belongs to
    one data type alone. Generic fields shared by several types (id, created_at, notes) decide
    nothing; a tie between types is ambiguous and gives None."""
    catalog = catalog or get_catalog()
    names = {_norm(c) for c in columns}
    owners: dict[str, set[str]] = {}
    for name, data_type in catalog.types.items():
        for field_name in data_type.field_kinds:
            owners.setdefault(field_name, set()).add(name)
    scores: dict[str, int] = {}
    for name, data_type in catalog.types.items():
        aliases = {_norm(f): f for f in data_type.field_kinds}
        for template in data_type.templates.values():
            for col in template.columns:
                aliases.setdefault(_norm(col.header), col.field)
        matched = {aliases[n] for n in names if n in aliases}
        scores[name] = sum(1 for f in matched if owners[f] == {name})
    best = max(scores.values(), default=0)
    winners = [name for name, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None
