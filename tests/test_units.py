"""Byte sizes for people, from one module: upload refusals, URL imports and the dashboard write
a file's size one way; plans, usage bars, the docs and quota errors write storage the other."""

from __future__ import annotations

from imgpro.units import GB, KB, MB, size_text, storage_text


def test_sizes_round_up_so_over_never_reads_as_equal() -> None:
    assert size_text(70 * MB + 1) == "70.1 MB"
    assert size_text(70 * MB) == "70 MB"
    assert size_text(10_000) == "9.8 KB"
    assert size_text(KB) == "1 KB"
    assert size_text(512) == "512 bytes"


def test_storage_is_written_in_the_units_plans_are_sold_in() -> None:
    assert [storage_text(n * GB) for n in (1, 10, 100, 1024)] == [
        "1 GiB",
        "10 GiB",
        "100 GiB",
        "1 TiB",
    ]
    assert storage_text(1024 * 1024 * GB) == "1,024 TiB"  # TiB is the largest unit
    assert storage_text(3 * GB // 2) == "1.5 GiB"
    assert storage_text(300 * KB) == "300 KiB"
    assert storage_text(0) == "0 B"
