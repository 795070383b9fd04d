"""One way to write byte sizes: upload refusals, URL imports and the dashboard agree."""

from __future__ import annotations

from imgpro.units import KB, MB, size_text


def test_sizes_round_up_so_over_never_reads_as_equal() -> None:
    assert size_text(70 * MB + 1) == "70.1 MB"
    assert size_text(70 * MB) == "70 MB"
    assert size_text(10_000) == "9.8 KB"
    assert size_text(KB) == "1 KB"
    assert size_text(512) == "512 bytes"
