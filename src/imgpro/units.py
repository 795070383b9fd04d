"""Byte sizes: the binary units and the two ways sizes are written for people: a file's size
against a limit (`size_text`), and storage as plans sell it (`storage_text`)."""

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


def storage_text(n: int) -> str:
    """Storage in IEC units, as plans are sold and their usage shown: "1 GiB", "1.5 MiB",
    "1 TiB", "1,024 TiB" (to the nearest tenth: no limit is checked against this text)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < KB or unit == "TiB":
            break
        value /= KB
    return f"{value:,.0f} {unit}" if value == int(value) else f"{value:,.1f} {unit}"


def up_to_tenth(value: float) -> str:
    """`value` rounded up to one decimal, without a trailing .0 (70, 70.1)."""
    # round() first: 70.0000001 from float division must not become 70.1
    tenths = math.ceil(round(value * 10, 6))
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths / 10:.1f}"
