"""PostgreSQL schema migrations: applied once, under a lock, however many processes start
together; the operator's manual command (`python -m export_core.store.migrations`)."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from export_core.store.migrations import MIGRATIONS

COMMAND = [sys.executable, "-m", "export_core.store.migrations"]


def test_processes_starting_together_apply_each_migration_once(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    procs = [
        subprocess.Popen(COMMAND, env=env, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    latest = MIGRATIONS[-1][0]
    applied_now = [o for o in outputs if "applied migrations: [" in o]
    assert len(applied_now) == 1, outputs  # one process migrated, the others found it done
    assert all(f"schema is at version {latest}" in o for o in outputs)
    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM ybb_schema_migrations")]
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert versions == [v for v, _ in MIGRATIONS]
    assert {"exports", "idempotency", "sign_in_failures"} <= tables


def test_the_manual_command_needs_database_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(COMMAND, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "DATABASE_URL is not set" in done.stderr
