"""The bounded render pool: every render runs in a worker process that can be killed, never on
the event loop.

At most `workers` renders run at once, each on its own long-lived child process (started on
first use, and again after a kill); at most `queue` more wait for a slot, each for at most
`wait` seconds. A caller beyond the queue, or one that waited too long, gets `PoolBusy` (the
route answers 503 with Retry-After) instead of piling up memory and latency. A slot is freed
when its render ends, not when the caller stops waiting, so abandoned renders still count.

A render still running `kill_after` seconds after it was handed over is killed with its process
(`RenderKilled`). That bounds every stage: libvips stops its own pixel pipeline at a deadline,
but an encoder that holds the whole image (libaom for AVIF, libwebp, cgif) never looks at one,
so a thread could only wait for it. A process that crashes (a decoder bug on hostile bytes)
costs one render, not the server.

A render process is a plain interpreter (`imgpro.cdn.render_process`) on one end of a socket pair,
not a multiprocessing child: multiprocessing would add its resource tracker (a 12 MB process) and
re-run the server's `__main__` in each child. It ignores SIGINT (Ctrl-C stops the server, whose
end then closes) and ends when it reads EOF or cannot send its reply: when the server goes away.

A render process that still holds more than `max_bytes` after its idle trim (what libvips and
glibc keep of past renders, a cutout's onnxruntime) is replaced by a fresh one: started in a
thread beside it, swapped in when both are ready and it is idle, so no render waits for a start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from imgpro import children
from imgpro.cdn.allocator import fix_mmap_threshold, render_tunables
from imgpro.cdn.render_process import READY, JobMessage

T = TypeVar("T")

#: A new process imports libvips (and numpy) before its first render: not part of that render's
#: time, but one that cannot start in this long is broken.
START_SECONDS = 60.0
#: Arguments larger than this are handed to a render process from a thread (the pipe takes
#: them as fast as the process reads, a millisecond or more the event loop should not wait).
LOOP_SEND_BYTES = 256 * 1024


class PoolBusy(Exception):
    """Every render worker is busy and the wait is over (or the queue is full)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"render pool busy; retry after {retry_after} s")
        self.retry_after = retry_after


class RenderKilled(Exception):
    """The render's process was killed (over time) or died; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_Started = tuple[subprocess.Popen[bytes], Connection]
#: Where replacements start: one at a time (they are rare), and not on the event loop's default
#: executor, so that closing a pool can wait for one still starting and stop it.
_spares = ThreadPoolExecutor(1, thread_name_prefix="render-spare")


class RenderProcess:
    """One render process, driven by one render at a time."""

    def __init__(self, preload: tuple[str, ...], vips_threads: int, max_bytes: int = 0) -> None:
        self.preload = preload
        self.vips_threads = vips_threads
        self.max_bytes = max_bytes  # 0: never replaced for its memory
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._busy = False
        self._spare: Future[_Started] | None = None  # its replacement, starting

    async def call(
        self,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float,
        kind: str | None = None,
    ) -> T:
        """`work(*args, **kwargs)` in the process; killed after `timeout` seconds. The reply is
        awaited on the event loop (a reader on the pipe): a thread per render cost the server
        more than the rest of a cache miss. Starting a process (seconds) and handing over
        large bytes happen in a thread."""
        self._busy = True
        try:
            result: T = await self._call((work, args, kwargs, kind), timeout)
            return result
        finally:
            self._busy = False

    async def _call(self, job: JobMessage, timeout: float) -> Any:
        self._take_spare()
        if not self._alive():
            await asyncio.to_thread(self._start)
        try:
            await self._send(job)
        except OSError:  # it died while idle, after the check above: once more on a new one
            await asyncio.to_thread(self._start)
            await self._send(job)
        assert self._connection is not None
        loop = asyncio.get_running_loop()
        reply = self._connection.fileno()
        replied: asyncio.Future[bool] = loop.create_future()  # True: in time

        def settle(in_time: bool) -> None:
            if not replied.done():
                replied.set_result(in_time)

        loop.add_reader(reply, settle, True)
        deadline = loop.call_later(timeout, settle, False)  # wait_for costs more
        try:
            try:
                in_time = await replied
            finally:
                deadline.cancel()
                loop.remove_reader(reply)
                # uvloop made the pipe non-blocking; the reply is read, and the next render
                # sent, whole and blocking (the process writes its reply at once)
                os.set_blocking(reply, True)
        except asyncio.CancelledError:  # its reply would be read as the next render's
            self.stop()
            raise
        if not in_time:
            self.stop()
            raise RenderKilled("render time budget exceeded")
        try:
            succeeded, value, held = self._connection.recv()
        except (EOFError, OSError):
            self.stop()
            raise RenderKilled("the renderer crashed") from None
        if self.max_bytes and held > self.max_bytes and self._spare is None:
            self._spare = _spares.submit(self._launch)
            self._spare.add_done_callback(lambda _: loop.call_soon_threadsafe(self._spare_started))
        if succeeded:
            return value
        raise value

    def _alive(self) -> bool:
        """Started and not dead: an idle process has nothing to say, so a readable end is the
        EOF of one that died (killed by the OOM killer, say)."""
        if self._process is None or self._connection is None:
            return False
        return self._process.poll() is None and not self._connection.poll()

    async def _send(self, job: JobMessage) -> None:
        assert self._connection is not None
        if any(isinstance(arg, bytes) and len(arg) > LOOP_SEND_BYTES for arg in job[1]):
            await asyncio.to_thread(self._connection.send, job)
        else:
            self._connection.send(job)

    def _spare_started(self) -> None:
        if not self._busy:  # otherwise the next render swaps it in
            self._take_spare()

    def _take_spare(self) -> None:
        """In place of this process, its replacement if it has started (this one is idle)."""
        if self._spare is None or not self._spare.done():
            return
        spare, self._spare = self._spare, None
        if spare.cancelled() or spare.exception() is not None:
            return  # a busy machine: this process serves on, and is weighed after its next render
        self.stop()
        self._process, self._connection = spare.result()

    def _start(self) -> None:
        self.stop()
        self._process, self._connection = self._launch()

    def _launch(self) -> _Started:
        """A new render process, ready, and the server's end of its pipe."""
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "imgpro.cdn.render_process",
                    str(theirs.fileno()),
                    str(self.vips_threads),
                    *self.preload,
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=children.environment(GLIBC_TUNABLES=render_tunables()),
            )
        connection = Connection(ours.detach())
        try:
            ready = connection.poll(START_SECONDS) and connection.recv() == READY
        except (EOFError, OSError):
            ready = False
        if not ready:  # the machine, not the image: answer 503 and let the client retry
            _end(process, connection)
            raise PoolBusy(retry_after=1)
        return process, connection

    def stop(self) -> None:
        if self._process is not None and self._connection is not None:
            _end(self._process, self._connection)
        self._process = self._connection = None

    def close(self) -> None:
        """Stop this process and its replacement, started or starting."""
        self.stop()
        if self._spare is not None:
            spare, self._spare = self._spare, None
            if spare.exception() is None:  # waits for one still starting
                _end(*spare.result())


def _end(process: subprocess.Popen[bytes], connection: Connection) -> None:
    process.kill()
    # as multiprocessing's join(5) did: a process the kernel has not reaped in 5 s (stuck in
    # I/O) is left to it, not raised into the render that stopped it
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    connection.close()


class RenderPool:
    def __init__(
        self,
        workers: int = 0,
        queue: int = 64,
        wait: float = 5.0,
        kill_after: float = 30.0,
        preload: tuple[str, ...] = (),
        vips_threads: int = 0,
        max_bytes: int = 0,
    ) -> None:
        fix_mmap_threshold()
        self.workers = workers or os.cpu_count() or 1
        self.queue = queue
        self.wait = wait
        self.kill_after = kill_after
        self._processes = [
            RenderProcess(preload, vips_threads, max_bytes) for _ in range(self.workers)
        ]
        self._idle = list(self._processes)
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    @property
    def retry_after(self) -> int:
        return max(1, round(self.wait))

    async def run(
        self, work: Callable[..., T], *args: object, kind: str | None = None, **kwargs: object
    ) -> T:
        """`work(*args, **kwargs)` in a render process, once a slot is free. `work` and its
        arguments must pickle (a module-level function and plain values). Jobs of one `kind`
        reuse the pages the last one freed (see `imgpro.cdn.render_process`)."""
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

        task = asyncio.ensure_future(self._render(slots, work, args, kwargs, kind))
        # a caller that stops waiting leaves the render to finish: its slot is freed by it
        return await asyncio.shield(task)

    async def _render(
        self,
        slots: asyncio.Semaphore,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        kind: str | None,
    ) -> T:
        process = self._idle.pop()  # never empty: there are as many as slots
        try:
            return await process.call(work, args, kwargs, self.kill_after, kind)
        finally:
            self._idle.append(process)
            slots.release()

    def _slots_for(self) -> asyncio.Semaphore:
        # made on first use: a semaphore belongs to the loop that first waits on it
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        return self._slots

    def close(self) -> None:
        for process in self._processes:
            process.close()
