"""glibc's allocator, set for the server and for render processes, and the RSS they watch.

Render processes import this module, so it imports nothing a render does not need (no asyncio:
with ssl and subprocess it was 6 MB of every render process's RSS, 38 against 32, for four names).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _glibc()
if _LIBC is not None:
    # glibc gives every thread that mallocs its own arena and keeps freed pages in them: with
    # libvips workers that is gigabytes of RSS that never shrinks. Two arenas, and a trim when
    # a render process goes idle, keep memory near the live pixels (this module is imported by
    # the server and by every render process).
    _LIBC.mallopt(-8, 2)  # M_ARENA_MAX


def one_arena() -> None:
    """For a render process whose libvips runs one thread. Beside the interpreter's, that thread
    got the second arena, where libvips' buffers settled: over 3,000 renders the RSS after a trim
    crept from 46 to 80 MB. With one arena it stayed flat, at the same CPU a render (two threads
    hardly contend for its lock)."""
    if _LIBC is not None:
        _LIBC.mallopt(-8, 1)  # M_ARENA_MAX


def fix_mmap_threshold() -> None:
    """For the server process (the one that makes pools). glibc raises its mmap threshold each
    time a large block is freed (up to 32 MB): from then on the server's large buffers (each
    variant from a render process, uploads) come from the heap, which they fragment and never
    give back. Fixed, blocks over 1 MB stay mmapped and return to the system when freed. Render
    processes keep the moving threshold: they reuse their heap and trim it when idle."""
    if _LIBC is not None:
        _LIBC.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD


#: glibc's tunables for a render process, which glibc reads only when a process starts:
#: malloc asks for transparent huge pages (madvise) for its heap and its mmapped blocks, so a
#: render's buffers fault in 2 MB at a time, not 4 KB. Over 1,200 mixed renders the faults
#: halved (2,490 -> 1,300 a render; with cutouts 8,130 -> 3,240, and 11 % less CPU a render:
#: an inference's ~200 MB of buffers are faulted afresh after each trim), at the same memory.
#: A kernel with huge pages off ignores it.
RENDER_TUNABLES = "glibc.malloc.hugetlb=1"


def render_tunables() -> str:
    """GLIBC_TUNABLES for a render process: this process's, then `RENDER_TUNABLES`."""
    return ":".join(filter(None, (os.environ.get("GLIBC_TUNABLES"), RENDER_TUNABLES)))


def release_memory() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


#: A render process gives freed pages back once it holds this much more than after its last
#: trim. Trimming after every render made the next one fault its buffers in afresh: 2 ms of a
#: 1 MP render's 12, 20 ms of a 6 MP PNG's 120. Small renders now reuse their pages; one
#: that leaves a large heap behind is still trimmed before the next. Each process holds
#: anything up to the slack at a given moment: at 24 MB the tree's pages peaked at 198-202 MB
#: over 1,200 mixed renders, at 12 MB at 176 MB, for 1,270 more page faults a render (~0.5 %
#: of its CPU).
TRIM_SLACK = 12 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident() -> int | None:
    """This process's RSS in bytes (None when /proc cannot say)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def grown(trimmed_at: int) -> bool:
    """Whether this process holds more than `TRIM_SLACK` over its RSS after its last trim."""
    now = resident()
    return now is None or now > trimmed_at + TRIM_SLACK
