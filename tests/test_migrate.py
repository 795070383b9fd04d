"""Migrating at every start: alembic only when the schema is not at head."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from imgpro.db import migrate


def test_head_names_alembic_s_newest_migration() -> None:
    # fails once a migration is added and HEAD is not moved to it: serve would skip it
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite+aiosqlite://"))
    assert script.get_current_head() == migrate.HEAD


def test_an_upgrade_stores_head_and_a_second_one_imports_no_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}"
    assert asyncio.run(migrate.stored_revision(url)) is None  # no schema yet
    migrate.upgrade(url)
    assert asyncio.run(migrate.stored_revision(url)) == migrate.HEAD
    again = (
        "import sys; from imgpro.db import migrate; migrate.upgrade(sys.argv[1]); "
        "print(sorted(name for name in ('alembic', 'mako') if name in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", again, url], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_database_behind_head_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}"
    migrate.upgrade(url, "0005")
    assert asyncio.run(migrate.stored_revision(url)) == "0005"
    migrate.upgrade(url)
    assert asyncio.run(migrate.stored_revision(url)) == migrate.HEAD
