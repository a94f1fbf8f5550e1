"""The UI's access to team templates and saved mappings (export_core.store.templates), and
template resolution for the pages: a template value is a catalog name or "team:<name>"."""

from __future__ import annotations

import threading

from components import runtime
from export_core.catalog import Template, get_catalog
from export_core.errors import ValidationError
from export_core.model import ExportOptions
from export_core.store.templates import TemplateStore, open_template_store
from export_core.team_templates import TEAM_PREFIX, TeamTemplate, resolve_options, to_template

_lock = threading.Lock()
_stores: dict[str, TemplateStore] = {}


def template_store() -> TemplateStore:
    """The TemplateStore of the configured settings, opened once per process and data dir."""
    settings = runtime.get_settings()
    key = str(settings.db_path)
    with _lock:
        if key not in _stores:
            _stores[key] = open_template_store(settings)
        return _stores[key]


def team_templates(export_type: str) -> list[TeamTemplate]:
    """The team templates of `export_type`, by name."""
    return template_store().list_templates(export_type)


def is_known(export_type: str, name: str | None) -> bool:
    """True when `name` is a catalog template of the type or an existing team template."""
    if not name:
        return False
    if name.startswith(TEAM_PREFIX):
        found = template_store().get_template(export_type, name[len(TEAM_PREFIX) :])
        return found is not None
    return name in get_catalog().data_type(export_type).templates


def resolve(export_type: str, name: str) -> Template:
    """The Template a picker value names (UnknownTemplate when it is gone)."""
    options = resolve_options(ExportOptions(export_type, name), get_catalog(), template_store())
    return options.team_template or get_catalog().template(export_type, name)


def with_team_template(options: ExportOptions) -> ExportOptions:
    """`options` with its team template attached (no-op for catalog templates)."""
    return resolve_options(options, get_catalog(), template_store())


def team_template_value(team: TeamTemplate) -> tuple[str, Template]:
    """The picker value and engine template of a team template."""
    return team.template_name, to_template(team, get_catalog())


def column_map_pairs(value: object) -> tuple[tuple[str, str | None], ...]:
    """A column map kept in the browser ({source: field or null}) as ExportOptions takes it;
    anything else is refused rather than guessed at."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise ValidationError("The column choices could not be read; load the data again")
    return tuple((k, v or None) for k, v in value.items())
