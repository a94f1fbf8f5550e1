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

Input columns are matched to template fields by export_core.matching (exact field name or
header, normalised names, the catalog's synonyms, a similarity score; a person's `column_map`
overrides it), so a file exported earlier (headers as column names) maps back onto its
template and a partner's "Email Address" feeds `email`. The report's `columns` says how.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import polars as pl

from .catalog import BOOLEAN_MAPPING, Catalog, Column, Template, get_catalog
from .matching import ColumnMap, ColumnMapping, match_columns, normalise
from .model import EXCEL_MAX_CELL_CHARS, MappedFrame, QualityReport, raw_column

_PARSED_KINDS = frozenset({"integer", "money", "date", "datetime"})
_LABEL_KINDS = frozenset({"status", "boolean"})
_FORMULA_PATTERN = r"^[=+\-@\t\r]"
_MAX_EXACT_INT = 2**53  # beyond this a float-spelled integer ("1e20") is not exact
# The forms tried on every value: the platform's own. Each is a full pass over the column
# (fractional-second formats cost three times an exact one), so anything else is left to
# `_settle`, which runs the full rules on just the values these missed.
_FAST_FORMATS = {"datetime": ("%Y-%m-%d %H:%M:%S",), "date": ("%Y-%m-%d",)}
_CURRENCY_PATTERN = r"^([-+]?)\s*(?:US\$|\$|€|£|Rp\.?|IDR|USD)?\s*"
_THOUSANDS_PATTERN = r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$"
_EDGE_SPACE = r"^\s|\s$"  # what strip_chars() removes: Unicode White_Space, as Rust's trim
_TODO = "\x00todo:"  # private column: the fast form missed a non-empty value
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


def _parse_datetime(t: pl.Expr) -> pl.Expr:
    """Every accepted form: Y-M-D or Y/M/D, optional T/space time and zone; null otherwise.

    Regex work costs ten times a strptime, so it runs only on the values the cheap forms left
    unparsed (usually none)."""
    return _strptime_forms(_drop_zone(_datetime_text(t)), _ANY_FORMS)


_ANY_FORMS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _datetime_text(t: pl.Expr) -> pl.Expr:
    """Y/M/D as Y-M-D, the first T as a space (before `_drop_zone` and the forms)."""
    return t.str.replace_all("/", "-", literal=True).str.replace("T", " ", literal=True)


def _trimmed(src: pl.Expr) -> pl.Expr:
    """The stripped text, null when nothing is left."""
    t = src.str.strip_chars()
    return pl.when(t != "").then(t)


def _fast_value(column: Column, src: pl.Expr) -> pl.Expr:
    """A parsed kind's value in its one common form, read from the unstripped text.

    Null means "look again with the full rules" (`_full_value`). Where this finds a value the
    full rules find the same one: number casts refuse surrounding whitespace (which the full
    rules strip) and every other decoration, and strptime is not trusted with text that has
    any. Skipping the strip and the fallbacks on every value is what keeps mapping from
    copying each parsed column several times over."""
    if column.kind == "integer":
        return src.cast(pl.Int64, strict=False)
    if column.kind == "money":
        number = src.cast(pl.Float64, strict=False)
        return pl.when(number.is_finite()).then(number)
    # cache=False: polars' cache of unique strings costs more than it saves on this data.
    if column.kind == "date":
        parsed = src.str.to_date(_FAST_FORMATS["date"][0], strict=False, cache=False)
    else:
        fmt = _FAST_FORMATS["datetime"][0]
        parsed = src.str.to_datetime(fmt, time_unit="us", strict=False, cache=False)
    return pl.when(~src.str.contains(_EDGE_SPACE)).then(parsed)


def _full_value(column: Column, src: pl.Expr) -> pl.Expr:
    """A parsed kind's value by the module's complete rules (see the module docstring)."""
    t = _trimmed(src)
    if column.kind == "integer":
        return _parse_integer(t)
    if column.kind == "money":
        return _parse_money(t)
    # The common form first, then the full grammar on the stripped (capped) raw text.
    anyform = pl.when(t.is_not_null()).then(_parse_datetime(_cap(src).str.strip_chars()))
    value = pl.coalesce(_strptime_forms(t, _FAST_FORMATS[column.kind]), anyform)
    return value.dt.date() if column.kind == "date" else value


def _with_full_value(column: Column, rows: pl.DataFrame) -> pl.DataFrame:
    """`rows` (a "src" column) with "value": `_full_value` of it. A date or datetime is worked
    out in steps, each on the previous one's column: `_full_value` as one expression repeats
    its pieces (the normalised text sits in each of the zone's three tests and each form),
    and polars took ~2.5 ms per call to evaluate that tree however few the rows (0.8 ms in
    steps). The result is the same (test_mapping checks both on the same values)."""
    src = pl.col("src")
    if column.kind not in ("date", "datetime"):
        return rows.with_columns(value=_full_value(column, src))
    trimmed, text = pl.col("\x00trimmed"), pl.col("\x00text")
    steps = rows.with_columns(
        _trimmed(src).alias(trimmed.meta.output_name()),
        _datetime_text(_cap(src).str.strip_chars()).alias(text.meta.output_name()),
    ).with_columns(_drop_zone(text).alias(text.meta.output_name()))
    anyform = pl.when(trimmed.is_not_null()).then(_strptime_forms(text, _ANY_FORMS))
    value = pl.coalesce(_strptime_forms(trimmed, _FAST_FORMATS[column.kind]), anyform)
    value = value.dt.date() if column.kind == "date" else value
    return steps.select(src, value.alias("value"))


def _settle(
    column: Column, value: pl.Series, src: pl.Series, todo: pl.Series
) -> tuple[pl.Series, pl.Series]:
    """A parsed column's value and raw companion, the `todo` rows (fast form missed, text not
    empty) read again by the full rules; the raw text stays where they fail too."""
    raw = pl.repeat(None, value.len(), dtype=pl.String, eager=True)
    if not todo.is_empty():
        again = _with_full_value(column, pl.DataFrame({"src": src.gather(todo)})).select(
            "value",
            raw=pl.when(pl.col("value").is_null() & _trimmed(pl.col("src")).is_not_null()).then(
                _cap(pl.col("src"))
            ),
        )
        value = value.clone().scatter(todo, again["value"])
        raw = raw.scatter(todo, again["raw"])
    return value, raw.alias(raw_column(column.field))


def _label_lookup(column: Column, catalog: Catalog) -> dict[str, str]:
    """Lower-cased code (and label) -> label for a status or boolean column."""
    mapping = catalog.status_mappings[column.mapping or BOOLEAN_MAPPING]
    lookup = {code.lower(): label for code, label in mapping.items()}
    lookup.update({label.lower(): label for label in mapping.values()})
    if column.kind == "boolean":
        yes, no = mapping.get("1", "Yes"), mapping.get("0", "No")
        lookup.update({"true": yes, "yes": yes, "false": no, "no": no})
    return lookup


def _label_value(column: Column, src: pl.Expr, catalog: Catalog, cap: bool) -> pl.Expr:
    """A status / boolean column's label (or kept raw text) from its String source."""
    t = _trimmed(src)
    code = t.str.replace(r"^([-+]?\d+)\.0*$", "${1}").str.to_lowercase()
    label = code.replace_strict(
        _label_lookup(column, catalog), default=None, return_dtype=pl.String
    )
    value = pl.when(t.is_not_null()).then(pl.coalesce(label, src))
    return _cap(value) if cap else value


def _label_column(column: Column, src: pl.Series, catalog: Catalog, cap: bool) -> pl.Expr:
    """`_label_value` over the column, worked out once per distinct code when codes repeat.

    A status column holds a handful of codes: translating each once and picking the results
    by the codes' index (an Enum's physical value) builds one output column instead of a copy
    per string operation."""
    direct = _label_value(column, pl.col(src.name).cast(pl.String), catalog, cap)
    codes = src.cast(pl.String).unique().drop_nulls()
    if codes.is_empty() or codes.len() * 4 > src.len():
        return direct
    labels = pl.select(_label_value(column, pl.lit(codes), catalog, True)).to_series()
    return pl.lit(labels).gather(
        pl.col(src.name).cast(pl.String).cast(pl.Enum(codes)).to_physical()
    )


def _value_expr(column: Column, src: pl.Series, catalog: Catalog, cap: bool) -> list[pl.Expr]:
    """The typed / translated value of one template column (fast form for the parsed kinds,
    then a Boolean column marking the values `_settle` must read again)."""
    text = pl.col(src.name).cast(pl.String)
    if column.kind == "text":
        value: pl.Expr = pl.when(text != "").then(text)
        return [(_cap(value) if cap else value).alias(column.field)]
    if column.kind in _LABEL_KINDS:
        return [_label_column(column, src, catalog, cap).alias(column.field)]
    value = _fast_value(column, text)
    todo = (value.is_null() & (text != "")).fill_null(False)
    return [value.alias(column.field), todo.alias(_TODO + column.field)]


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def _long_sources(frame: pl.DataFrame, used: list[str]) -> tuple[set[str], int]:
    """The input columns holding text longer than a cell takes, and how many such cells.

    Byte lengths come free with polars' string views; characters are counted only where the
    bytes exceed the limit."""
    if not used or not frame.height:
        return set(), 0
    widest = frame.select(pl.col(s).cast(pl.String).str.len_bytes().max() for s in used).row(0)
    long = [s for s, width in zip(used, widest, strict=True) if (width or 0) > EXCEL_MAX_CELL_CHARS]
    if not long:
        return set(), 0
    over = [(pl.col(s).cast(pl.String).str.len_chars() > EXCEL_MAX_CELL_CHARS).sum() for s in long]
    return set(long), int(sum(frame.select(over).row(0)))


def _map_values(
    frame: pl.DataFrame,
    template: Template,
    sources: dict[str, str | None],
    catalog: Catalog,
    long: set[str],
) -> pl.DataFrame:
    """Typed columns in template order, then the raw companions of the parsed kinds.

    One lazy pass computes every column (text is not sliced unless some value is too long, so
    polars shares the input's string buffers instead of copying them); `_settle` then revisits
    the few parsed values the fast forms missed, and the result is assembled from the finished
    Series without another pass. Before this, strip/slice/regex intermediates of every column
    tripled the heap mapping leaves behind (polars' jemalloc keeps freed pages)."""
    exprs: list[pl.Expr] = []
    for column in template.columns:
        source = sources[column.field]
        if source is None:
            exprs.append(pl.lit(None, _dtype(column.kind)).alias(column.field))
        else:
            exprs += _value_expr(column, frame[source], catalog, source in long)
    values = frame.lazy().select(exprs).collect()
    if values.height != frame.height:  # a frame of only literals collapses to one row
        values = values.clear(frame.height)
    columns = {c.field: values[c.field] for c in template.columns}
    raws: list[pl.Series] = []
    for column in template.columns:
        source = sources[column.field]
        if column.kind not in _PARSED_KINDS:
            continue
        if source is None:
            nulls = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
            raws.append(nulls.alias(raw_column(column.field)))
            continue
        todo = values[_TODO + column.field].arg_true()
        src = frame[source].cast(pl.String)
        columns[column.field], raw = _settle(column, columns[column.field], src, todo)
        raws.append(raw)
    return pl.DataFrame([*columns.values(), *raws])


def _quality(
    columns: Sequence[str],
    mapped: pl.DataFrame,
    template: Template,
    matching: ColumnMapping,
    catalog: Catalog,
    truncated: int,
) -> QualityReport:
    """Count what mapping noticed in one vectorised pass over the mapped values (`columns`
    are the input's names; `truncated` comes from `_long_sources`, on the input)."""
    sources = matching.sources(template)
    used = [s for s in sources.values() if s is not None]
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
        extra_fields=tuple(c for c in columns if c not in used_set and c != ""),
        formula_like=int(counts.get("formula") or 0),
        truncated=truncated,
        columns=matching.as_dict(),
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
    frame: pl.DataFrame,
    template: Template,
    catalog: Catalog | None = None,
    column_map: ColumnMap | None = None,
) -> MappedFrame:
    """Map a reader's frame onto `template` and report on its quality. `column_map` (source
    column -> field, None to ignore a column) overrides the automatic header matching."""
    values, quality = map_values(frame, template, catalog, column_map)
    return MappedFrame(template=template, frame=values, quality=quality())


def map_values(
    frame: pl.DataFrame,
    template: Template,
    catalog: Catalog | None = None,
    column_map: ColumnMap | None = None,
) -> tuple[pl.DataFrame, Callable[[], QualityReport]]:
    """`map_frame` in two steps: the mapped values, and a function that works out their
    quality report (~16 ms of 50,000 rows' ~40 ms), which the writers never read: the service
    runs it in a thread of its own while the files are written."""
    catalog = catalog or get_catalog()
    matching = match_columns(frame.columns, template, catalog, column_map)
    sources = matching.sources(template)
    long, truncated = _long_sources(frame, [s for s in sources.values() if s is not None])
    mapped = _map_values(frame, template, sources, catalog, long)
    known = catalog  # the resolved catalog, for the closure (mypy: not Optional)
    columns = tuple(frame.columns)  # all the report needs of `frame`, which may go first
    return mapped, lambda: _quality(columns, mapped, template, matching, known, truncated)


def detect_export_type(columns: Iterable[str], catalog: Catalog | None = None) -> str | None:
    """The data type whose fields best match `columns`, or None when nothing matches.

    Only distinctive evidence counts: a field (or a template header naming it) that belongs to
    one data type alone. Generic fields shared by several types (id, created_at, notes) decide
    nothing; a tie between types is ambiguous and gives None."""
    catalog = catalog or get_catalog()
    names = {_norm(c) for c in columns} | {normalise(c) for c in columns}
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
        for field_name, synonyms in data_type.synonyms.items():
            for synonym in synonyms:
                aliases.setdefault(normalise(synonym), field_name)
        matched = {aliases[n] for n in names if n in aliases}
        scores[name] = sum(1 for f in matched if owners[f] == {name})
    best = max(scores.values(), default=0)
    winners = [name for name, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None
