"""Header matching: which field of a data type each source column feeds.

Files from other sources (Google Forms, partner sheets, older exports, Indonesian sheets) name
their columns their own way. Each source column is matched to one field of the data type, in
this order of strength:

1. ``field``   - the field's own name, exactly ("email");
2. ``header``  - a header one of the type's templates gives the field, exactly ("Birth Date");
3. ``name``    - either of those once names are normalised (case, accents, spaces, ``_``/``-``
                 and other punctuation ignored: "E_MAIL" -> email, "Fòrm-ID" -> form_id);
4. ``synonym`` - a name the catalog's ``[synonyms.<type>]`` lists ("Email Address", "No HP");
5. ``similar`` - the closest of all those names by difflib's ratio, when it reaches
                 SIMILARITY_THRESHOLD and no other field comes within AMBIGUITY_MARGIN of it
                 ("Frist Name" -> first_name). Weaker or ambiguous columns stay unmatched, for
                 the person to map.

When two columns claim one field the stronger claim wins (then the earlier column); the other
column stays unmatched. A person's choices (``column_map``: source -> field, or None to ignore
the column) override all of it, and are checked: an unknown field, or two columns mapped to one
field, is a ValidationError.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .catalog import Catalog, DataType, Template
from .errors import MappingConflict, ValidationError

MatchMethod = Literal[
    "field", "header", "name", "synonym", "similar", "manual", "ignored", "ambiguous", "none"
]
# Strength of each automatic method (lower wins a contested field).
_RANK: dict[str, int] = {"field": 0, "header": 1, "name": 2, "synonym": 3, "similar": 4}
_SCORES = {"field": 1.0, "header": 1.0, "name": 1.0, "synonym": 0.95}
# 0.8: "Frist Name", "Emial", "Phone No" match; "Name" (first_name 0.57) and "Date" do not.
SIMILARITY_THRESHOLD = 0.8
AMBIGUITY_MARGIN = 0.05
_MIN_SIMILAR_CHARS = 4  # "wa", "tel": too short for a similarity score to mean anything
ColumnMap = Mapping[str, str | None]
_MEMO_ENTRIES = 4096  # oldest dropped first; entries are small (a few dozen floats)


@dataclass(frozen=True)
class ColumnMatch:
    """One source column: the field it feeds (None: unused), how, and how sure (0-1)."""

    source: str
    field: str | None
    method: MatchMethod
    score: float
    candidates: tuple[str, ...] = ()  # the close fields of an ambiguous column

    def as_dict(self) -> dict[str, str | float | None]:
        """JSON-friendly form (the quality report's `columns` entries)."""
        return {"field": self.field, "method": self.method, "score": round(self.score, 2)}


@dataclass(frozen=True)
class ColumnMapping:
    """Every source column of a file and what it feeds, in the file's column order."""

    export_type: str
    matches: tuple[ColumnMatch, ...]

    def sources(self, template: Template) -> dict[str, str | None]:
        """Template field -> the source column feeding it (None when no column does)."""
        by_field = {m.field: m.source for m in self.matches if m.field is not None}
        return {field: by_field.get(field) for field in template.fields}

    def as_column_map(self) -> dict[str, str | None]:
        """source -> field (None: unused), the shape `match_columns` takes back as overrides."""
        return {m.source: m.field for m in self.matches}

    def as_dict(self) -> dict[str, dict[str, str | float | None]]:
        """source -> {field, method, score}, for the quality report."""
        return {m.source: m.as_dict() for m in self.matches}


def normalise(name: str) -> str:
    """A header as words: accents dropped, lower case, punctuation/underscores as spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[\W_]+", " ", plain.casefold()).split())


def _compact(name: str) -> str:
    """`normalise` without spaces, so "E-mail", "e mail" and "email" are one name."""
    return normalise(name).replace(" ", "")


def header_fingerprint(columns: Iterable[str]) -> str:
    """The identity of a header set (order, case and spacing ignored), for saved mappings."""
    names = sorted({_compact(c) for c in columns if _compact(c)})
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Aliases:
    """Every name a field answers to, by method."""

    exact_field: dict[str, str]  # field -> field
    exact_header: dict[str, str]  # header -> field
    compact: dict[str, str]  # compacted field/header -> field
    synonym: dict[str, str]  # compacted synonym -> field
    words: list[tuple[str, str]]  # (normalised name, field) for the similarity score


_ALIAS_MEMO: dict[tuple[int, Template], tuple[Catalog, _Aliases]] = {}
_SCORE_MEMO: dict[tuple[int, str], tuple[_Aliases, dict[str, float]]] = {}


def _aliases_for(template: Template, catalog: Catalog) -> _Aliases:
    """`_aliases`, memoised per catalog and template (the entry holds the catalog, so an id
    is never mistaken for another catalog's)."""
    memo_key = (id(catalog), template)
    hit = _ALIAS_MEMO.get(memo_key)
    if hit is not None and hit[0] is catalog:
        return hit[1]
    aliases = _aliases(template, catalog.types.get(template.export_type))
    if len(_ALIAS_MEMO) >= _MEMO_ENTRIES:
        _ALIAS_MEMO.pop(next(iter(_ALIAS_MEMO)))
    _ALIAS_MEMO[memo_key] = (catalog, aliases)
    return aliases


def _aliases(template: Template, data_type: DataType | None) -> _Aliases:
    """The names of the data type's fields (or, for a type the catalog lacks, the template's)."""
    templates = data_type.templates.values() if data_type else (template,)
    fields = list(data_type.field_kinds) if data_type else list(template.fields)
    synonyms = data_type.synonyms if data_type else {}
    headers: dict[str, set[str]] = {}
    for tpl in (*templates, template):
        for column in tpl.columns:
            headers.setdefault(column.header, set()).add(column.field)
    # A header naming different fields in different templates decides nothing.
    exact_header = {h: next(iter(fs)) for h, fs in headers.items() if len(fs) == 1}
    named = [*((f, f) for f in fields), *exact_header.items()]
    compact: dict[str, str] = {}
    for name, field in named:
        compact.setdefault(_compact(name), field)
    synonym: dict[str, str] = {}
    for field, names in synonyms.items():
        for name in names:
            synonym.setdefault(_compact(name), field)
    words = [(normalise(n), f) for n, f in named]
    words += [(normalise(n), f) for f, names in synonyms.items() for n in names]
    return _Aliases({f: f for f in fields}, exact_header, compact, synonym, words)


def _scores(words: str, aliases: _Aliases) -> dict[str, float]:
    """field -> its best similarity score with `words` (only scores that could matter).

    The source is difflib's second sequence, whose index it builds once; the cheap upper
    bounds (real_quick_ratio, quick_ratio) skip most names before the full ratio. Still ~0.1 ms
    per name, so results are memoised per alias table and source (`_SCORE_MEMO`): a sheet's
    header is matched again on every preview, page and streamed batch."""
    memo_key = (id(aliases), words)
    hit = _SCORE_MEMO.get(memo_key)
    if hit is not None and hit[0] is aliases:
        return hit[1]
    best: dict[str, float] = {}
    floor = SIMILARITY_THRESHOLD - AMBIGUITY_MARGIN
    if len(words) >= _MIN_SIMILAR_CHARS:
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(words)
        for name, field in aliases.words:
            if len(name) < _MIN_SIMILAR_CHARS:
                continue
            matcher.set_seq1(name)
            if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
                best.setdefault(field, 0.0)
                continue
            best[field] = max(best.get(field, 0.0), matcher.ratio())
    if len(_SCORE_MEMO) >= _MEMO_ENTRIES:
        _SCORE_MEMO.pop(next(iter(_SCORE_MEMO)))
    _SCORE_MEMO[memo_key] = (aliases, best)
    return best


def _similar(source: str, aliases: _Aliases) -> ColumnMatch:
    """The closest field by similarity score, unless too weak or ambiguous."""
    best = _scores(normalise(source), aliases)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < SIMILARITY_THRESHOLD:
        return ColumnMatch(source, None, "none", ranked[0][1] if ranked else 0.0)
    close = tuple(f for f, score in ranked if score >= ranked[0][1] - AMBIGUITY_MARGIN)
    if len(close) > 1:
        return ColumnMatch(source, None, "ambiguous", ranked[0][1], close)
    return ColumnMatch(source, ranked[0][0], "similar", ranked[0][1])


def _automatic(source: str, aliases: _Aliases) -> ColumnMatch:
    """The strongest automatic match of one source column (field None when there is none)."""
    key = _compact(source)
    for method, field in (
        ("field", aliases.exact_field.get(source)),
        ("header", aliases.exact_header.get(source)),
        ("name", aliases.compact.get(key)),
        ("synonym", aliases.synonym.get(key)),
    ):
        if field is not None:
            return ColumnMatch(source, field, method, _SCORES[method])  # type: ignore[arg-type]
    return _similar(source, aliases)


def _settle_conflicts(matches: list[ColumnMatch]) -> list[ColumnMatch]:
    """One column per field: the strongest claim (then the earliest column) keeps it."""
    order = sorted(
        (i for i, m in enumerate(matches) if m.field is not None and m.method in _RANK),
        key=lambda i: (_RANK[matches[i].method], -matches[i].score, i),
    )
    taken: set[str] = {m.field for m in matches if m.method == "manual" and m.field}
    for i in order:
        match = matches[i]
        if match.field in taken:
            matches[i] = ColumnMatch(match.source, None, "none", match.score, (match.field or "",))
        else:
            taken.add(match.field or "")
    return matches


def check_column_map(column_map: ColumnMap, fields: Sequence[str], export_type: str) -> None:
    """ValidationError unless every mapped field is one of `fields` and no field is fed by
    two columns."""
    seen: dict[str, str] = {}
    for source, field in column_map.items():
        if field is None:
            continue
        if field not in fields:
            raise ValidationError(
                f"column_map: '{source[:100]}' is mapped to '{field[:100]}', which is not a "
                f"field of {export_type}. Use one of: {', '.join(fields)} (or null to ignore it)",
                details={"field": "column_map", "source": source[:100], "allowed": list(fields)},
            )
        if field in seen:
            raise MappingConflict(
                f"column_map: '{seen[field][:100]}' and '{source[:100]}' are both mapped to "
                f"'{field}'; map one column to each field",
                details={"field": "column_map", "target": field},
            )
        seen[field] = source


def match_columns(
    columns: Sequence[str],
    template: Template,
    catalog: Catalog,
    column_map: ColumnMap | None = None,
) -> ColumnMapping:
    """Match every source column to a field of `template`'s data type (see the module
    docstring); `column_map` entries (source -> field, None to ignore) override the matching."""
    aliases = _aliases_for(template, catalog)
    overrides = dict(column_map or {})
    check_column_map(overrides, list(aliases.exact_field), template.export_type)
    matches = [
        ColumnMatch(c, overrides[c], "manual" if overrides[c] else "ignored", 1.0)
        if c in overrides
        else _automatic(c, aliases)
        for c in columns
        if c != ""
    ]
    return ColumnMapping(template.export_type, tuple(_settle_conflicts(matches)))
