"""The catalog: data types, templates, status mappings, limits and chunk sizes, loaded from
`catalog.toml` into frozen dataclasses and validated once. A broken file fails loudly, naming
the entry at fault."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast, get_args

from .errors import CatalogError, UnknownExportType, UnknownTemplate

FieldKind = Literal["integer", "text", "date", "datetime", "money", "boolean", "status"]
FIELD_KINDS: frozenset[str] = frozenset(get_args(FieldKind))
BOOLEAN_MAPPING = "boolean_status"


@dataclass(frozen=True)
class Column:
    """One output column: the record field it reads, its header and how its values are typed."""

    field: str
    header: str
    kind: FieldKind
    mapping: str | None = None  # status mapping name for `status` and `boolean` kinds


@dataclass(frozen=True)
class Template:
    """A named selection of fields with their headers, for one data type."""

    export_type: str
    name: str
    description: str
    columns: tuple[Column, ...]
    includes_sensitive_data: bool
    chunk_size: int

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)


@dataclass(frozen=True)
class DataType:
    """A data type (participants, payments, ambassadors): its known fields and templates."""

    name: str
    label: str
    field_kinds: dict[str, str]  # field -> kind spec as written ("date", "status:form_status")
    templates: dict[str, Template]
    # field -> other names sources use for it (the catalog's [synonyms.<type>]; matching.py)
    synonyms: dict[str, tuple[str, ...]] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """The seed's SYSTEM_CONFIG limits and performance settings."""

    max_records_per_request: int
    max_chunk_size: int
    file_retention_days: int
    max_concurrent_exports: int
    chunked_threshold: int
    memory_limit_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class Catalog:
    """Everything the catalog file declares."""

    types: dict[str, DataType]
    status_mappings: dict[str, dict[str, str]]
    limits: Limits

    def data_type(self, export_type: str) -> DataType:
        """The data type called `export_type`, or UnknownExportType."""
        try:
            return self.types[export_type]
        except KeyError:
            known = ", ".join(self.types)
            raise UnknownExportType(
                f"Unknown export type '{export_type}'. Use one of: {known}",
                details={"export_type": export_type, "allowed": list(self.types)},
            ) from None

    def template(self, export_type: str, name: str) -> Template:
        """The template `name` of `export_type`, with the seed's error message when missing."""
        data_type = self.data_type(export_type)
        try:
            return data_type.templates[name]
        except KeyError:
            raise UnknownTemplate(
                f"Template '{name}' not found for {export_type}",
                details={"template": name, "allowed": list(data_type.templates)},
            ) from None


def _need(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise CatalogError(f"catalog: {where} is missing '{key}'")
    value = table[key]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise CatalogError(f"catalog: {where}.{key} must be {kind.__name__}, got {value!r}")
    return value


def _column(field: str, header: str, spec: str, mappings: dict[str, Any], where: str) -> Column:
    kind, _, mapping = spec.partition(":")
    if kind not in FIELD_KINDS:
        raise CatalogError(f"catalog: {where} field '{field}' has unknown kind '{spec}'")
    if kind == "boolean":
        mapping = BOOLEAN_MAPPING
    if kind in ("status", "boolean") and mapping not in mappings:
        raise CatalogError(f"catalog: {where} field '{field}' names unknown mapping '{mapping}'")
    if kind not in ("status", "boolean") and mapping:
        raise CatalogError(f"catalog: {where} field '{field}': only status fields take a mapping")
    return Column(field, header, cast(FieldKind, kind), mapping or None)


def column_of(catalog: Catalog, export_type: str, field: str, header: str) -> Column:
    """The output column writing `field` of `export_type` under `header` (for templates built
    outside the catalog file: team templates); CatalogError for a field the type lacks."""
    kinds = catalog.data_type(export_type).field_kinds
    if field not in kinds:
        raise CatalogError(f"{export_type} has no field '{field}'")
    return _column(field, header, kinds[field], catalog.status_mappings, f"types.{export_type}")


def _template(
    type_name: str, name: str, table: dict[str, Any], data_type: dict[str, Any], mappings: Any
) -> Template:
    where = f"types.{type_name}.templates.{name}"
    fields = _need(table, "fields", list, where)
    headers = _need(table, "headers", list, where)
    if len(fields) != len(headers):
        raise CatalogError(f"catalog: {where} has {len(fields)} fields but {len(headers)} headers")
    if len(set(fields)) != len(fields) or len(set(headers)) != len(headers):
        raise CatalogError(f"catalog: {where} repeats a field or a header")
    kinds = data_type["fields"]
    unknown = [f for f in fields if f not in kinds]
    if unknown:
        raise CatalogError(f"catalog: {where} uses fields with no kind: {', '.join(unknown)}")
    chunk = _need(data_type.get("chunk_sizes", {}), name, int, f"types.{type_name}.chunk_sizes")
    if chunk <= 0:
        raise CatalogError(f"catalog: types.{type_name}.chunk_sizes.{name} must be positive")
    columns = tuple(
        _column(f, h, kinds[f], mappings, where) for f, h in zip(fields, headers, strict=True)
    )
    return Template(
        export_type=type_name,
        name=name,
        description=_need(table, "description", str, where),
        columns=columns,
        includes_sensitive_data=_need(table, "includes_sensitive_data", bool, where),
        chunk_size=chunk,
    )


def _synonyms(raw: Any, type_name: str, field_kinds: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The [synonyms.<type>] table: field -> names; each field must exist, each name be text."""
    where = f"synonyms.{type_name}"
    table = raw.get(type_name, {}) if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        raise CatalogError(f"catalog: {where} must be a table of field = [names]")
    found: dict[str, tuple[str, ...]] = {}
    for field_name, names in table.items():
        if field_name not in field_kinds:
            raise CatalogError(f"catalog: {where} names unknown field '{field_name}'")
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise CatalogError(f"catalog: {where}.{field_name} must be a list of names")
        found[field_name] = tuple(names)
    return found


def parse_catalog(raw: dict[str, Any]) -> Catalog:
    """Validate a decoded catalog document and build the Catalog, or raise CatalogError."""
    mappings_raw = _need(raw, "status_mappings", dict, "catalog")
    mappings: dict[str, dict[str, str]] = {}
    for name, table in mappings_raw.items():
        if not isinstance(table, dict) or not table:
            raise CatalogError(f"catalog: status_mappings.{name} must be a non-empty table")
        mappings[name] = {str(k): str(v) for k, v in table.items()}
    limits_raw = _need(raw, "limits", dict, "catalog")
    perf_raw = _need(raw, "performance", dict, "catalog")
    limits = Limits(
        **{
            k: _need(limits_raw, k, int, "limits")
            for k in (
                "max_records_per_request",
                "max_chunk_size",
                "file_retention_days",
                "max_concurrent_exports",
            )
        },
        **{
            k: _need(perf_raw, k, int, "performance")
            for k in ("chunked_threshold", "memory_limit_mb", "timeout_seconds")
        },
    )
    types: dict[str, DataType] = {}
    for type_name, table in _need(raw, "types", dict, "catalog").items():
        where = f"types.{type_name}"
        field_kinds = _need(table, "fields", dict, where)
        templates_raw = _need(table, "templates", dict, where)
        if "standard" not in templates_raw:
            raise CatalogError(f"catalog: {where} has no 'standard' template (the default)")
        templates = {
            name: _template(type_name, name, t, table, mappings)
            for name, t in templates_raw.items()
        }
        types[type_name] = DataType(
            name=type_name,
            label=_need(table, "label", str, where),
            field_kinds={str(k): str(v) for k, v in field_kinds.items()},
            templates=templates,
            synonyms=_synonyms(raw.get("synonyms", {}), type_name, field_kinds),
        )
    return Catalog(types=types, status_mappings=mappings, limits=limits)


def load_catalog_file(path: Path) -> Catalog:
    """Load and validate a catalog TOML file from disk."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"catalog: cannot read {path}: {exc}") from exc
    return parse_catalog(raw)


@cache
def get_catalog() -> Catalog:
    """The package's catalog, loaded once per process."""
    text = resources.files(__package__).joinpath("catalog.toml").read_text(encoding="utf-8")
    return parse_catalog(tomllib.loads(text))
