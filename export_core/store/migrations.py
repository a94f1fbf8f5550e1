"""Versioned schema migrations for the PostgreSQL store.

`MIGRATIONS` is an ordered list of (version, SQL); the applied versions are rows of
`ybb_schema_migrations`. `migrate()` applies the missing ones, each in its own transaction,
under a session advisory lock, so when several workers on several machines start together
exactly one applies them and the others wait, then find nothing to do. Every process runs it
once at start-up (first use of the store); an operator can run it by hand before a deploy:

    DATABASE_URL=postgresql://... python -m export_core.store.migrations

To change the schema, append (N+1, "SQL") — never edit an applied migration."""

from __future__ import annotations

import os
import sys
import threading

import psycopg

MIGRATE_LOCK = 0x59424200  # pg_advisory_lock key held while migrating

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE exports (
            export_id     TEXT PRIMARY KEY,
            export_type   TEXT NOT NULL,
            template      TEXT NOT NULL,
            format        TEXT NOT NULL,
            state         TEXT NOT NULL,
            progress      INTEGER NOT NULL DEFAULT 0,
            record_count  BIGINT NOT NULL,
            strategy      TEXT NOT NULL,
            files         TEXT NOT NULL DEFAULT '[]',
            archive       TEXT,
            quality       TEXT,
            created_at    DOUBLE PRECISION NOT NULL,
            expires_at    DOUBLE PRECISION NOT NULL,
            owner         TEXT,
            heartbeat_at  DOUBLE PRECISION,
            error         TEXT
        );
        CREATE INDEX exports_by_created ON exports (created_at DESC);
        CREATE INDEX exports_by_state ON exports (state, heartbeat_at);
        CREATE INDEX exports_by_expiry ON exports (expires_at);
        CREATE TABLE idempotency (
            key           TEXT PRIMARY KEY,
            request_hash  TEXT NOT NULL,
            state         TEXT NOT NULL,
            status_code   INTEGER,
            response      BYTEA,
            export_id     TEXT,
            owner         TEXT NOT NULL,
            created_at    DOUBLE PRECISION NOT NULL,
            expires_at    DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE sign_in_failures (
            key           TEXT NOT NULL,
            at            DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at);
        """,
    ),
    (
        2,
        # team templates and saved column mappings (issue 18; store/templates.py)
        """
        CREATE TABLE team_templates (
            export_type   TEXT NOT NULL,
            name          TEXT NOT NULL,
            description   TEXT NOT NULL,
            fields        TEXT NOT NULL,
            headers       TEXT NOT NULL,
            updated_at    DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (export_type, name)
        );
        CREATE TABLE saved_mappings (
            export_type   TEXT NOT NULL,
            name          TEXT NOT NULL,
            fingerprint   TEXT NOT NULL,
            column_map    TEXT NOT NULL,
            updated_at    DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (export_type, name)
        );
        CREATE INDEX saved_mappings_by_fingerprint ON saved_mappings (export_type, fingerprint);
        """,
    ),
]

_done: set[tuple[int, str]] = set()  # (pid, url) already migrated by this process
_lock = threading.Lock()


def migrate(url: str) -> list[int]:
    """Apply the missing migrations to `url`'s database; returns the versions applied now."""
    with _lock:
        if (os.getpid(), url) in _done:
            return []
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS ybb_schema_migrations"
                    " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                rows = conn.execute("SELECT version FROM ybb_schema_migrations").fetchall()
                applied = {r[0] for r in rows}
                new = [(v, sql) for v, sql in MIGRATIONS if v not in applied]
                for version, sql in new:
                    with conn.transaction():
                        conn.execute(sql)  # our own constant SQL
                        conn.execute(
                            "INSERT INTO ybb_schema_migrations (version) VALUES (%s)", (version,)
                        )
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
        _done.add((os.getpid(), url))
        return [v for v, _ in new]


def main() -> int:
    """`python -m export_core.store.migrations`: migrate DATABASE_URL's database."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    applied = migrate(url)
    latest = MIGRATIONS[-1][0]
    print(f"applied migrations: {applied or 'none'}; schema is at version {latest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
