"""The variant cache's ledger and per-image cap, on files (the HTTP behaviour is in
test_variant_limits)."""

from __future__ import annotations

import os
from pathlib import Path

from imgpro.cdn.cache import LEDGER_KEY, VariantCache


def variant(root: Path, name: str, size: int, age: float = 0.0) -> Path:
    path = root / "pub" / "abcdefgh" / "v" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if age:
        when = path.stat().st_mtime - age
        os.utime(path, (when, when))
    return path


def test_the_ledger_adds_each_stored_variant_to_a_total_written_before(tmp_path: Path) -> None:
    cache = VariantCache(tmp_path, max_per_image=10, max_bytes=10_000)
    (tmp_path / LEDGER_KEY).write_text("1000")  # as earlier versions wrote it: no padding
    cache.stored(variant(tmp_path, "a.webp", 300))
    cache.stored(variant(tmp_path, "b.webp", 200))
    assert int((tmp_path / LEDGER_KEY).read_text()) == 1500


def test_the_per_image_cap_evicts_the_oldest_only_past_it(tmp_path: Path) -> None:
    cache = VariantCache(tmp_path, max_per_image=2, max_bytes=10_000)
    old = variant(tmp_path, "old.webp", 10, age=3600)
    cache.stored(variant(tmp_path, "mid.webp", 10, age=60))
    assert old.exists()  # two: at the cap, nothing goes
    new = variant(tmp_path, "new.webp", 10)
    cache.stored(new)
    assert sorted(path.name for path in new.parent.iterdir()) == ["mid.webp", "new.webp"]
    assert int((tmp_path / LEDGER_KEY).read_text()) == 20
