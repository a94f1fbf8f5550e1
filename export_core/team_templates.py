"""Team templates and saved column mappings: what staff define for themselves, beside the
catalog's templates (which they can neither change nor shadow).

A team template names a data type, its chosen fields in order and a header for each. It is
used as ``"team:<name>"`` wherever a template name goes (API body, UI, CLI): the prefix keeps
the two namespaces apart, so a team template can neither change nor shadow a catalog one.
A saved mapping is a person's column choices for one header set (export_core.matching), found
again by the set's fingerprint when a file with the same headers arrives. Both are kept by a
TemplateStore (export_core.store.templates)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .catalog import Catalog, Template, column_of
from .errors import CatalogError, MappingConflict, NotFound, UnknownTemplate, ValidationError
from .model import ExportOptions

if TYPE_CHECKING:
    from .store.templates import TemplateStore

TEAM_PREFIX = "team:"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,59}$")
MAX_HEADER_CHARS = 100
# A header starts with a visible character that makes no formula (= + - @) and holds no
# control characters (they are not allowed in the sheet's XML).
HEADER_RE = re.compile(r"^[^=+\-@\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")
MAX_DESCRIPTION_CHARS = 200
COLUMNS = {"field": "columns"}


@dataclass(frozen=True)
class TeamTemplate:
    """A template staff defined: data type, fields in order, a header per field."""

    export_type: str
    name: str  # without the "team:" prefix
    fields: tuple[str, ...]
    headers: tuple[str, ...]
    description: str = ""

    @property
    def template_name(self) -> str:
        """The name exports use for it: "team:<name>"."""
        return TEAM_PREFIX + self.name


@dataclass(frozen=True)
class SavedMapping:
    """A person's column choices (source -> field, None: ignored) for one header set."""

    export_type: str
    name: str
    fingerprint: str  # matching.header_fingerprint of the source columns
    column_map: tuple[tuple[str, str | None], ...]


def _invalid(message: str, field: str) -> ValidationError:
    return ValidationError(message, details={"field": field})


def check_name(name: str, catalog: Catalog, export_type: str) -> str:
    """`name`, if it can name a team template of `export_type` (else 400). A
    catalog template's name is allowed: as "team:<name>" it can never shadow the catalog's."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _invalid(
            "Template name must be 1-60 letters, digits, spaces or . _ - (starting with a "
            "letter or digit)",
            "name",
        )
    catalog.data_type(export_type)
    return name


def build_team_template(
    catalog: Catalog,
    export_type: str,
    name: str,
    columns: list[tuple[str, str]],
    description: str = "",
) -> TeamTemplate:
    """A checked TeamTemplate from (field, header) pairs in output order (ValidationError)."""
    data_type = catalog.data_type(export_type)
    name = check_name(name, catalog, export_type)
    if not columns:
        raise _invalid("A team template needs at least one column", "columns")
    fields = [f for f, _ in columns]
    headers = [(h or "").rstrip() for _, h in columns]
    unknown = [f for f in fields if f not in data_type.field_kinds]
    if unknown:
        allowed = ", ".join(data_type.field_kinds)
        raise _invalid(
            f"Unknown {export_type} field(s): {', '.join(unknown)}. Use: {allowed}", "columns"
        )
    if len(set(fields)) != len(fields):
        raise MappingConflict("Each field may appear once in a template", details=COLUMNS)
    for header in headers:
        if len(header) > MAX_HEADER_CHARS or not HEADER_RE.match(header):
            raise _invalid(
                f"Header {header[:40]!r}: give 1-{MAX_HEADER_CHARS} characters, not starting "
                "with = + - @ or a space, without control characters",
                "columns",
            )
    if len({h.casefold() for h in headers}) != len(headers):
        raise MappingConflict("Each header may appear once in a template", details=COLUMNS)
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise _invalid(f"Description: at most {MAX_DESCRIPTION_CHARS} characters", "description")
    return TeamTemplate(export_type, name, tuple(fields), tuple(headers), description.strip())


def to_template(team: TeamTemplate, catalog: Catalog) -> Template:
    """The engine Template for a team template. Its chunk size is the type's standard one; it
    holds personal data when it has a field that none of the type's non-sensitive templates
    show."""
    data_type = catalog.data_type(team.export_type)
    try:
        columns = tuple(
            column_of(catalog, team.export_type, f, h)
            for f, h in zip(team.fields, team.headers, strict=True)
        )
    except CatalogError as exc:  # a field the catalog dropped since the template was saved
        raise UnknownTemplate(
            f"Template '{team.template_name}' is out of date: {exc.message}"
        ) from exc
    public = {
        f for t in data_type.templates.values() if not t.includes_sensitive_data for f in t.fields
    }
    return Template(
        export_type=team.export_type,
        name=team.template_name,
        description=team.description or f"Team template {team.name}",
        columns=columns,
        includes_sensitive_data=not set(team.fields) <= public,
        chunk_size=data_type.templates["standard"].chunk_size,
    )


def resolve_options(
    options: ExportOptions, catalog: Catalog, store: TemplateStore | None
) -> ExportOptions:
    """`options` with its team template attached when it names one ("team:<name>"); checks a
    catalog template name as before. UnknownTemplate (the seed's message) when neither."""
    if not options.template.startswith(TEAM_PREFIX):
        catalog.template(options.export_type, options.template)
        return options
    name = options.template[len(TEAM_PREFIX) :]
    team = store.get_template(options.export_type, name) if store else None
    if team is None:  # a resource that does not exist (404), unlike a misspelt catalog name
        raise NotFound(
            f"Template '{options.template}' not found for {options.export_type}",
            details={"template": options.template},
        )
    return dataclasses.replace(options, team_template=to_template(team, catalog))
