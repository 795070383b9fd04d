"""Apply Alembic migrations (SQLite and PostgreSQL) from code: `imgpro migrate` and `serve`.

`serve` migrates on every start, and almost every start finds the schema at head: then the
stored revision is read with one query. Otherwise alembic runs in a child interpreter
(`python -m imgpro.db.migrate`): imported in the server, it and mako would hold 7 MB there for
good, for a step taken once. `HEAD` names the newest migration; a test fails when it is not
alembic's head.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from imgpro import children
from imgpro.db.engine import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration's revision (tests/test_migrate.py holds it to alembic's head).
HEAD = "0006"
#: How `upgrade` hands the database URL to its child interpreter.
_URL_VARIABLE = "IMGPRO_MIGRATE_DATABASE_URL"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def stored_revision(database_url: str) -> str | None:
    """The revision the database says it is at; None when it cannot say (no schema yet, no
    connection, several heads): alembic then finds out for itself."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:
        return None
    finally:
        await engine.dispose()
    return str(rows[0][0]) if len(rows) == 1 else None


class MigrationFailed(Exception):
    """The migration's child interpreter failed; its error is on stderr above."""


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call on every start."""
    if database_url.startswith("sqlite"):
        Path(database_url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    if revision == "head" and asyncio.run(stored_revision(database_url)) == HEAD:
        return
    # the URL in the environment, not the arguments: other users can read a process's arguments
    child = [sys.executable, "-m", __name__, revision]
    done = subprocess.run(child, env=children.environment(**{_URL_VARIABLE: database_url}))
    if done.returncode:
        raise MigrationFailed(f"the migration to {revision} failed (exit {done.returncode})")


if __name__ == "__main__":
    from alembic import command

    command.upgrade(alembic_config(os.environ[_URL_VARIABLE]), sys.argv[1])
