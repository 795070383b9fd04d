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


def test_past_the_per_image_cap_the_oldest_go_down_to_nine_tenths_of_it(tmp_path: Path) -> None:
    cache = VariantCache(tmp_path, max_per_image=20, max_bytes=1_000_000)
    stored = []
    for number in range(20):  # each a minute newer than the one before
        stored.append(variant(tmp_path, f"{number:02}.webp", 10, age=3600 - 60 * number))
        cache.stored(stored[-1])
    folder = stored[0].parent

    def left() -> list[str]:
        return sorted(path.name for path in folder.iterdir())

    assert left() == [path.name for path in stored]  # at the cap: nothing goes
    cache.stored(variant(tmp_path, "20.webp", 10))  # past it: the three oldest go, not one
    assert left() == [f"{number:02}.webp" for number in range(3, 21)]
    cache.stored(variant(tmp_path, "21.webp", 10))
    cache.stored(variant(tmp_path, "22.webp", 10))
    assert len(left()) == 20  # back at the cap, and nothing evicted on the way
    cache.stored(variant(tmp_path, "23.webp", 10))
    assert left() == [f"{number:02}.webp" for number in range(6, 24)]
    assert int((tmp_path / LEDGER_KEY).read_text()) == 18 * 10


def test_a_small_per_image_cap_evicts_down_to_the_cap_itself(tmp_path: Path) -> None:
    cache = VariantCache(tmp_path, max_per_image=3, max_bytes=1_000_000)
    for number in range(3):
        cache.stored(variant(tmp_path, f"{number}.webp", 10, age=3600 - 60 * number))
    newest = variant(tmp_path, "3.webp", 10)
    cache.stored(newest)
    assert sorted(path.name for path in newest.parent.iterdir()) == ["1.webp", "2.webp", "3.webp"]


def test_the_variant_just_stored_stays_even_when_its_file_is_the_oldest(tmp_path: Path) -> None:
    cache = VariantCache(tmp_path, max_per_image=20, max_bytes=1_000_000)
    for number in range(20):
        cache.stored(variant(tmp_path, f"{number:02}.webp", 10, age=60 * number))
    oldest = variant(tmp_path, "old.webp", 10, age=7200)  # e.g. a clock set back
    cache.stored(oldest)
    assert oldest.exists()
    assert len(list(oldest.parent.iterdir())) == 18
