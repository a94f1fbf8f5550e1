"""Team templates and saved mappings in the export store: a small interface and one
implementation over the store's database, SQLite or PostgreSQL.

The SQL is portable (standard types, `ON CONFLICT ... DO UPDATE`, which SQLite >= 3.24 and
PostgreSQL both take); `PgDatabase` turns the `?` placeholders into psycopg's. The tables live
in the store's database beside the exports: created on first use in SQLite, by migration 2
(`store/migrations.py`) in PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Protocol

import orjson

from ..settings import Settings
from ..team_templates import SavedMapping, TeamTemplate
from .db import Database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS team_templates ("
    " export_type TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,"
    " fields TEXT NOT NULL, headers TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (export_type, name))",
    "CREATE TABLE IF NOT EXISTS saved_mappings ("
    " export_type TEXT NOT NULL, name TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " column_map TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (export_type, name))",
    "CREATE INDEX IF NOT EXISTS saved_mappings_by_fingerprint"
    " ON saved_mappings (export_type, fingerprint)",
)


class SQL:
    """The statements, with `?` placeholders."""

    save_template = (
        "INSERT INTO team_templates (export_type, name, description, fields, headers, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (export_type, name) DO UPDATE SET"
        " description = excluded.description, fields = excluded.fields,"
        " headers = excluded.headers, updated_at = excluded.updated_at"
    )
    list_templates = "SELECT * FROM team_templates ORDER BY export_type, name"
    get_template = "SELECT * FROM team_templates WHERE export_type = ? AND name = ?"
    delete_template = "DELETE FROM team_templates WHERE export_type = ? AND name = ?"
    save_mapping = (
        "INSERT INTO saved_mappings (export_type, name, fingerprint, column_map, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (export_type, name) DO UPDATE SET"
        " fingerprint = excluded.fingerprint, column_map = excluded.column_map,"
        " updated_at = excluded.updated_at"
    )
    find_mappings = (
        "SELECT * FROM saved_mappings WHERE export_type = ? AND fingerprint = ?"
        " ORDER BY updated_at DESC, name"
    )
    delete_mapping = "DELETE FROM saved_mappings WHERE export_type = ? AND name = ?"


class TemplateStore(Protocol):
    """Where team templates and saved mappings are kept."""

    def save_template(self, template: TeamTemplate) -> None:
        """Create or replace the team template (export_type, name)."""
        ...

    def list_templates(self, export_type: str | None = None) -> list[TeamTemplate]:
        """Every team template (of one type), by type then name."""
        ...

    def get_template(self, export_type: str, name: str) -> TeamTemplate | None:
        """The team template, or None."""
        ...

    def delete_template(self, export_type: str, name: str) -> bool:
        """Remove the team template; False when there was none."""
        ...

    def save_mapping(self, mapping: SavedMapping) -> None:
        """Create or replace the saved mapping (export_type, name)."""
        ...

    def find_mappings(self, export_type: str, fingerprint: str) -> list[SavedMapping]:
        """The saved mappings for this header set, newest first."""
        ...

    def delete_mapping(self, export_type: str, name: str) -> bool:
        """Remove the saved mapping; False when there was none."""
        ...


def _template(row: Any) -> TeamTemplate:
    return TeamTemplate(
        export_type=row["export_type"],
        name=row["name"],
        fields=tuple(orjson.loads(row["fields"])),
        headers=tuple(orjson.loads(row["headers"])),
        description=row["description"],
    )


def _mapping(row: Any) -> SavedMapping:
    pairs = orjson.loads(row["column_map"])
    return SavedMapping(
        export_type=row["export_type"],
        name=row["name"],
        fingerprint=row["fingerprint"],
        column_map=tuple((str(s), None if f is None else str(f)) for s, f in pairs),
    )


class SqlTemplateStore:
    """TemplateStore on the export store's database (`Database` or `PgDatabase`)."""

    def __init__(self, db: Any, *, create_schema: bool = True) -> None:
        self.db = db
        self.create_schema = create_schema  # False where migrations made the tables
        self._ready_pid: int | None = None
        self._lock = threading.Lock()

    def _ready(self) -> Any:
        with self._lock:
            if self.create_schema and self._ready_pid != os.getpid():
                with self.db.write() as conn:
                    for statement in SCHEMA:
                        conn.execute(statement)
                self._ready_pid = os.getpid()
        return self.db

    def _change(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._ready().write() as conn:
            return int(conn.execute(sql, args).rowcount)

    def save_template(self, template: TeamTemplate) -> None:
        """See TemplateStore."""
        t = template
        fields, headers = orjson.dumps(t.fields).decode(), orjson.dumps(t.headers).decode()
        args = (t.export_type, t.name, t.description, fields, headers, time.time())
        self._change(SQL.save_template, args)

    def list_templates(self, export_type: str | None = None) -> list[TeamTemplate]:
        """See TemplateStore."""
        rows = self._ready().read_all(SQL.list_templates)
        found = [_template(r) for r in rows]
        return [t for t in found if export_type is None or t.export_type == export_type]

    def get_template(self, export_type: str, name: str) -> TeamTemplate | None:
        """See TemplateStore."""
        row = self._ready().read_one(SQL.get_template, (export_type, name))
        return None if row is None else _template(row)

    def delete_template(self, export_type: str, name: str) -> bool:
        """See TemplateStore."""
        return self._change(SQL.delete_template, (export_type, name)) > 0

    def save_mapping(self, mapping: SavedMapping) -> None:
        """See TemplateStore."""
        m = mapping
        pairs = orjson.dumps([list(p) for p in m.column_map]).decode()
        self._change(SQL.save_mapping, (m.export_type, m.name, m.fingerprint, pairs, time.time()))

    def find_mappings(self, export_type: str, fingerprint: str) -> list[SavedMapping]:
        """See TemplateStore."""
        rows = self._ready().read_all(SQL.find_mappings, (export_type, fingerprint))
        return [_mapping(r) for r in rows]

    def delete_mapping(self, export_type: str, name: str) -> bool:
        """See TemplateStore."""
        return self._change(SQL.delete_mapping, (export_type, name)) > 0


def open_template_store(settings: Settings, kind: str | None = None) -> TemplateStore:
    """The template store beside the export store that settings.store / YBB_STORE selects
    (SQLite by default; PostgreSQL, migrated here, when YBB_STORE=postgres)."""
    from . import metadata_database

    db = metadata_database(settings, kind)
    if isinstance(db, Database):
        return SqlTemplateStore(db)
    from .migrations import migrate

    migrate(settings.database_url)
    return SqlTemplateStore(db, create_schema=False)
