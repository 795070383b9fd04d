"""Whole-file writes under a local root: a temp file in `{root}/.tmp`, then a rename, so a reader
sees all of a file or none of it.

Render processes write here too (they store the variants they make), so this module imports
nothing past the standard library's basics: asyncio, with ssl, was 6 MB of every render process.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from pathlib import Path

#: unfinished writes, under the root: blob listings and backups skip it
TMP_DIR = ".tmp"

# names of this process's unfinished writes: `{pid}.{run}.{n}`, unique without mkstemp's random
# names (its Python cost a cache miss more than the write); O_EXCL still refuses a clash
_RUN = secrets.token_hex(4)
_WRITES = itertools.count()
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def key_path(root: Path, key: str) -> Path:
    """The file of blob `key` under `root`; ValueError for a key that could escape it."""
    # keys are built by imgpro from validated ids: refuse anything else
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"bad blob key {key!r}")
    return root / key


def rename_into(tmp: str, target: Path) -> None:
    """Move the finished `tmp` to `target`, making its folder only when it is missing (most
    writes land in a folder that exists: an mkdir each cost more than the rename)."""
    try:
        os.replace(tmp, target)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)


def write_whole(root: Path, key: str, data: bytes) -> Path:
    """Write `data` as blob `key` under `root` (replacing what was there); the file written."""
    target = key_path(root, key)
    tmp = f"{root}/{TMP_DIR}/{os.getpid()}.{_RUN}.{next(_WRITES)}"
    fd = os.open(tmp, _NEW_FILE, 0o600)  # mkstemp's flags and mode
    try:
        try:
            written = 0
            while written < len(data):  # a short write (a nearly full disk) goes on
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)
        rename_into(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target
