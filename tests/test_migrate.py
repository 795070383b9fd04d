"""Migrating at every start: alembic only when the schema is not at head."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from imgpro.db import migrate


def test_head_names_alembic_s_newest_migration() -> None:
    # fails once a migration is added and HEAD is not moved to it: serve would skip it
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite+aiosqlite://"))
    assert script.get_current_head() == migrate.HEAD


def test_an_upgrade_stores_head_and_imports_no_alembic(tmp_path: Path) -> None:
    """The server's own process migrates a new database (alembic runs in a child) and skips a
    current one: either way alembic and mako (7 MB) are not held by the server."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}"
    assert asyncio.run(migrate.stored_revision(url)) is None  # no schema yet
    twice = (
        "import sys; from imgpro.db import migrate; migrate.upgrade(sys.argv[1]); "
        "migrate.upgrade(sys.argv[1]); "
        "print(sorted(name for name in ('alembic', 'mako') if name in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", twice, url], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    assert asyncio.run(migrate.stored_revision(url)) == migrate.HEAD


def test_a_failed_migration_raises(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}"
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "imgpro.db") as database:
        database.execute("UPDATE alembic_version SET version_num = 'from-the-future'")
    with pytest.raises(migrate.MigrationFailed, match="the migration to head failed"):
        migrate.upgrade(url)


def test_a_database_behind_head_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}"
    migrate.upgrade(url, "0005")
    assert asyncio.run(migrate.stored_revision(url)) == "0005"
    migrate.upgrade(url)
    assert asyncio.run(migrate.stored_revision(url)) == migrate.HEAD
