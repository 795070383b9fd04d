"""`imgpro admin backup DIR` / `restore DIR` for the embedded default (SQLite + files).

Backup runs beside a serving imgpro: the database first, through SQLite's online backup (a
consistent snapshot while writers go on), then the blobs. Every row in that snapshot was
committed after its blobs were stored, so the copied blobs cover every copied row; blobs of
uploads made after the snapshot come along as orphans, which `imgpro admin gc` removes.

Restore puts a backup back into the data dir; stop imgpro first (it replaces the database and
the blobs under a running server's feet otherwise). PostgreSQL and S3 have their own tools
(pg_dump, bucket versioning), so both commands refuse anything but the embedded default.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

from imgpro.files import TMP_DIR
from imgpro.settings import Settings

DATABASE = "imgpro.db"
BLOBS = "blobs"
SECRET = "secret_key"
MANIFEST = "backup.json"


class BackupRefused(Exception):
    """Why this backup or restore cannot run, with what to do instead."""


def _local_paths(settings: Settings) -> tuple[Path, Path]:
    if not settings.is_sqlite or not settings.storage_url.startswith("file://"):
        raise BackupRefused(
            "backup and restore cover the embedded default (SQLite and file blobs); back up "
            "PostgreSQL with pg_dump and S3 with bucket versioning or replication"
        )
    database = Path(settings.database_url.split("///", 1)[1])
    blobs = urlsplit(settings.storage_url)
    return database, Path(blobs.netloc + blobs.path)


def _copy_database(source: Path, target: Path) -> None:
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)  # page by page, consistent, while other connections write
    finally:
        origin.close()
        copy.close()


def backup(settings: Settings, target: Path) -> dict[str, int | str]:
    database, blobs = _local_paths(settings)
    if not database.exists():
        raise BackupRefused(f"no database at {database}; is IMGPRO_DATA_DIR right?")
    if target.exists() and any(target.iterdir()):
        raise BackupRefused(f"{target} is not empty; back up into a new directory")
    target.mkdir(parents=True, exist_ok=True)
    _copy_database(database, target / DATABASE)
    if blobs.exists():
        shutil.copytree(blobs, target / BLOBS, ignore=shutil.ignore_patterns(TMP_DIR))
    secret = settings.data_dir / SECRET
    if secret.exists():  # sessions and links signed before the backup stay valid after
        shutil.copy2(secret, target / SECRET)
    files = [path for path in (target / BLOBS).rglob("*") if path.is_file()]
    summary: dict[str, int | str] = {
        "directory": str(target),
        "blobs": len(files),
        "bytes": sum(path.stat().st_size for path in files) + (target / DATABASE).stat().st_size,
        "created_at": int(time.time()),
    }
    (target / MANIFEST).write_text(json.dumps(summary))
    return summary


def restore(settings: Settings, source: Path) -> dict[str, int | str]:
    database, blobs = _local_paths(settings)
    if not (source / MANIFEST).exists() or not (source / DATABASE).exists():
        raise BackupRefused(f"{source} is not an imgpro backup (no {MANIFEST} or {DATABASE})")
    database.parent.mkdir(parents=True, exist_ok=True)
    _copy_database(source / DATABASE, database)
    staged = blobs.with_name(blobs.name + ".restoring")
    shutil.rmtree(staged, ignore_errors=True)
    if (source / BLOBS).exists():
        shutil.copytree(source / BLOBS, staged)
    else:
        staged.mkdir(parents=True)
    if blobs.exists():
        old = blobs.with_name(blobs.name + ".replaced")
        shutil.rmtree(old, ignore_errors=True)
        blobs.rename(old)
        staged.rename(blobs)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(blobs)
    if (source / SECRET).exists():
        shutil.copy2(source / SECRET, settings.data_dir / SECRET)
    manifest: dict[str, int | str] = json.loads((source / MANIFEST).read_text())
    return {"directory": str(source), "blobs": manifest["blobs"], "bytes": manifest["bytes"]}
