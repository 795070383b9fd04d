"""Byte sizes: the binary units and one way to write a size for people."""

from __future__ import annotations

import math

KB = 1024
MB = 1024 * KB
GB = 1024 * MB


def size_text(n: int) -> str:
    """Bytes for people ("512 bytes", "1.5 KB", "70 MB"), rounded up to a tenth so a file just
    over a limit never reads as the limit."""
    if n >= MB:
        return f"{up_to_tenth(n / MB)} MB"
    if n >= KB:
        return f"{up_to_tenth(n / KB)} KB"
    return f"{n} bytes"


def up_to_tenth(value: float) -> str:
    """`value` rounded up to one decimal, without a trailing .0 (70, 70.1)."""
    # round() first: 70.0000001 from float division must not become 70.1
    tenths = math.ceil(round(value * 10, 6))
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths / 10:.1f}"
