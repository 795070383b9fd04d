"""The bounded render pool: libvips work runs on its own threads, never on the event loop.

At most `workers` renders run at once (libvips releases the GIL, so threads give real
parallelism); at most `queue` more wait for a slot, each for at most `wait` seconds. A caller
beyond the queue, or one that waited too long, gets `PoolBusy` (the route answers 503 with
Retry-After) instead of piling up memory and latency. A slot is freed when its thread finishes,
not when the caller stops waiting, so abandoned renders still count against the bound.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


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
    # render threads and libvips workers that is gigabytes of RSS that never shrinks. Two arenas
    # and a trim when renders pause keep a worker's memory near its live pixels.
    _LIBC.mallopt(-8, 2)  # M_ARENA_MAX

#: A trim returns freed pages to the system and the next render faults them back in (~2,500
#: faults, ~15 ms CPU for a 640 px variant): trim when the pool goes idle, under load every Nth.
TRIM_EVERY = 8


def _release_memory() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class PoolBusy(Exception):
    """Every render worker is busy and the wait is over (or the queue is full)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"render pool busy; retry after {retry_after} s")
        self.retry_after = retry_after


class RenderPool:
    def __init__(self, workers: int = 0, queue: int = 64, wait: float = 5.0) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.queue = queue
        self.wait = wait
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="render")
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0
        self._running = 0  # renders on the threads now; guarded by _count_lock
        self._since_trim = 0
        self._count_lock = threading.Lock()

    @property
    def retry_after(self) -> int:
        return max(1, round(self.wait))

    async def run(self, work: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`work(*args, **kwargs)` on a render thread, once a slot is free."""
        loop = asyncio.get_running_loop()
        slots = self._slots_for()
        if slots.locked():
            if self._waiting >= self.queue:
                raise PoolBusy(self.retry_after)
            self._waiting += 1
            try:
                await asyncio.wait_for(slots.acquire(), self.wait)
            except TimeoutError:
                raise PoolBusy(self.retry_after) from None
            finally:
                self._waiting -= 1
        else:
            await slots.acquire()

        def job_then_trim() -> T:
            with self._count_lock:
                self._running += 1
            try:
                return work(*args, **kwargs)
            finally:
                if self._trim_due():
                    _release_memory()

        try:
            job: Future[T] = self._executor.submit(job_then_trim)
        except BaseException:
            slots.release()
            raise

        def free_slot(_: Future[T]) -> None:
            if not loop.is_closed():  # a render outliving the server frees nothing
                loop.call_soon_threadsafe(slots.release)

        job.add_done_callback(free_slot)
        return await asyncio.wrap_future(job)

    def _trim_due(self) -> bool:
        with self._count_lock:
            self._running -= 1
            self._since_trim += 1
            if self._running and self._since_trim < TRIM_EVERY:
                return False
            self._since_trim = 0
            return True

    def _slots_for(self) -> asyncio.Semaphore:
        # made on first use: a semaphore belongs to the loop that first waits on it
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        return self._slots

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
