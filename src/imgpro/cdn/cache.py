"""The variant cache's bounds: at most `max_per_image` stored variants per image and
`max_bytes` of variants per blob store, the least recently used deleted first. A variant is only
a cache: a deleted one is rendered again on its next request.

No database, nothing on the hot path but what a hit already does:

* "Recently used" is the variant file's mtime: set when it is stored, moved forward when it is
  served (`touch_if_stale`: at most once a minute, read from the `stat` a hit makes anyway).
* Per image, the cap is applied when a variant is stored: its folder is listed (that is all a
  store below the cap costs) and, once it holds more than the cap, the oldest go down to the
  low-water count (`per_image_low_water`: nine tenths of the cap, the cap itself below 10), so the
  next stores do not `stat` every sibling again to evict one each.
* Per store, the total lives in a small ledger file beside the blobs, updated under an exclusive
  lock by every process that shares them, only when a variant is stored or evicted here. It
  may only over-count (deleting an image removes its variants without telling it); whenever it
  passes the cap a sweep measures the truth, evicts down to `LOW_WATER` of the cap (so sweeps
  stay rare) and writes the measured total back. The sweep runs on a render's thread while it
  holds the ledger, so processes never sweep at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LEDGER_KEY = ".variant-bytes"
LOW_WATER = 0.9
_LEDGER_WIDTH = 20  # digits of the total, right-aligned: any byte count fits
TOUCH_SECONDS = 60.0


def touch_if_stale(path: Path, stat: os.stat_result) -> None:
    """Mark a served variant as used (mtime = now), unless that was done in the last minute."""
    if time.time() - stat.st_mtime > TOUCH_SECONDS:
        with contextlib.suppress(FileNotFoundError):  # evicted meanwhile: nothing to keep
            os.utime(path)


@dataclass(frozen=True)
class _Entry:
    path: str
    size: int
    mtime_ns: int


def _entries(paths: Iterable[str]) -> list[_Entry]:
    """Stat each path (oldest first); ones deleted meanwhile are skipped."""
    found = []
    for path in paths:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        found.append(_Entry(path, stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda entry: (entry.mtime_ns, entry.path))


def _evict(entries: list[_Entry], keep: Path, *, count: int = 0, size: int = 0) -> int:
    """Delete from the oldest `entries` until at most `count` remain, or until they total at
    most `size` bytes; never `keep`. Returns the bytes freed."""
    remaining = len(entries)
    total = sum(entry.size for entry in entries)
    freed = 0
    kept = str(keep)
    for entry in entries:
        if remaining <= count or total <= size:
            break
        if entry.path == kept:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
        remaining -= 1
        total -= entry.size
        freed += entry.size
    return freed


def per_image_low_water(max_per_image: int) -> int:
    """How many of an image's variants remain once it passed its cap: nine tenths of the cap,
    rounded up (a cap below 10 is kept exactly)."""
    return max_per_image - max_per_image // 10


class VariantCache:
    """Keeps the stored variants of a local blob store (`root`) within their caps."""

    def __init__(self, root: Path, max_per_image: int, max_bytes: int) -> None:
        self.root = root
        self.max_per_image = max_per_image
        self.max_bytes = max_bytes

    def stored(self, path: Path, size: int | None = None) -> None:
        """Account for the variant just written at `path` (`{shard}/{id}/v/{name}`; `size`
        bytes, when the caller knows), evicting what the caps demand. Blocking: call it from a
        thread."""
        try:
            if size is None:
                size = path.stat().st_size
            with os.scandir(path.parent) as listing:
                siblings = [entry.path for entry in listing]
        except FileNotFoundError:  # its image was deleted meanwhile: nothing left to count
            return
        freed = 0
        if len(siblings) > self.max_per_image:  # only then do their ages matter
            low_water = per_image_low_water(self.max_per_image)
            freed = _evict(_entries(siblings), path, count=low_water)
        ledger = os.open(self.root / LEDGER_KEY, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(ledger, fcntl.LOCK_EX)  # released when the file closes
            text = os.pread(ledger, _LEDGER_WIDTH, 0).strip()
            total = int(text) + size - freed if text.isdigit() else None
            if total is None or total > self.max_bytes:  # no ledger yet, or over: measure
                total = self._sweep(keep=path)
            # overwritten in place at a fixed width: truncating first cost more than the rest
            os.pwrite(ledger, b"%*d" % (_LEDGER_WIDTH, total), 0)
        finally:
            os.close(ledger)

    def _sweep(self, keep: Path) -> int:
        """Every stored variant's real size; the oldest evicted down to the low-water mark."""
        entries = _entries(str(variant) for variant in self.root.glob("*/*/v/*"))
        total = sum(entry.size for entry in entries)
        if total > self.max_bytes:
            total -= _evict(entries, keep, size=int(self.max_bytes * LOW_WATER))
        return total
