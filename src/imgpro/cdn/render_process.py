"""A render process: `python -m imgpro.cdn.render_process FD VIPS_THREADS [MODULE ...]`.

Started by `imgpro.cdn.pool` with one end of a socket pair as FD. It imports the MODULEs, says it
is ready, then runs each pickled `(work, args, kwargs, kind)` it receives and sends back its
outcome with its RSS after its last trim (the pool replaces a process that holds too much), until
the server's end closes.

After a job that grew its heap past the slack it trims (`imgpro.cdn.allocator`) unless the next
job is of the same `kind`: a cutout's inference frees ~200 MB that the next cutout would fault in
afresh (5–10 % of its CPU), so after a job with a kind it waits `KEEP_SECONDS` for the next one
before trimming. Jobs of no kind trim unless the next is already waiting, as before. The peak is
the same either way (each cutout needs those pages); only a run of cutouts holds them between.

A plain interpreter, not a multiprocessing child: no resource tracker process beside the server,
and nothing of the server's `__main__` re-run here.
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from imgpro.cdn.allocator import grown, one_arena, release_memory, resident

READY = "ready"
#: How long a render process that grew on a job with a kind waits for the next job (of that kind:
#: kept pages; of another: a trim first) before it trims anyway. Cutouts come in runs spread over
#: seconds (a page of product photos; each is ~0.6 s of CPU): waiting 0.25 s kept the pages for
#: the next cutout of a burst but not after a pause of ~2 s (1.07-1.11x the bare pipeline's CPU
#: a cutout), waiting 5 s kept them across it (1.01-1.02x). An idle process gives them back then.
KEEP_SECONDS = 5.0

#: What a render process receives: `(work, args, kwargs, kind)`, `work` usually an
#: `imgpro.media.jobs.Job`, `kind` what its heap is like (None: nothing to keep for).
JobMessage = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], "str | None"]


def serve(connection: Connection, preload: list[str], vips_threads: int) -> None:
    """Import `preload`, say it is ready, then run each job received and send back
    `(succeeded, value, held)`, `held` the RSS after the last trim; return when the server goes
    away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which closes the pipe
    if vips_threads == 1:  # before libvips starts its thread
        one_arena()
    for module in preload:
        importlib.import_module(module)
    if vips_threads:
        import pyvips

        pyvips.concurrency_set(vips_threads)
    connection.send(READY)
    trimmed_at = resident() or 0  # RSS after the last trim, or at the start
    job = _receive(connection)
    while job is not None:
        work, args, kwargs, kind = job
        try:
            outcome: tuple[bool, Any, int] = (True, work(*args, **kwargs), trimmed_at)
        except Exception as error:
            outcome = (False, error, trimmed_at)
        try:
            connection.send(outcome)
        except (BrokenPipeError, ConnectionResetError):  # the server went away mid-render
            return
        except Exception as error:  # an outcome that does not pickle
            unsendable = RuntimeError(f"unsendable render outcome: {error}")
            connection.send((False, unsendable, trimmed_at))
        if not grown(trimmed_at):
            job = _receive(connection)
            continue
        # grown: give freed pages back before the next job, unless it is of the same kind
        job = None
        if connection.poll(0 if kind is None else KEEP_SECONDS):
            job = _receive(connection)
            if job is None or job[3] == kind:
                continue
        release_memory()
        trimmed_at = resident() or 0
        if job is None:
            job = _receive(connection)


def _receive(connection: Connection) -> JobMessage | None:
    """The next job; None once the server has gone away."""
    try:
        job: JobMessage = connection.recv()
    except EOFError:
        return None
    return job


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), sys.argv[3:], int(sys.argv[2]))
