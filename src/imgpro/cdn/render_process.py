"""A render process: `python -m imgpro.cdn.render_process FD VIPS_THREADS [MODULE ...]`.

Started by `imgpro.cdn.pool` with one end of a socket pair as FD. It imports the MODULEs, says it
is ready, then runs each pickled `(work, args, kwargs)` it receives and sends back its outcome
with its RSS after its last idle trim (the pool replaces a process that holds too much), until
the server's end closes. A plain interpreter, not a multiprocessing child: no resource
tracker process beside the server, and nothing of the server's `__main__` re-run here.
"""

from __future__ import annotations

import importlib
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from imgpro.cdn.allocator import grown, one_arena, release_memory, resident

READY = "ready"


def serve(connection: Connection, preload: list[str], vips_threads: int) -> None:
    """Import `preload`, say it is ready, then run each `(work, args, kwargs)` received and send
    back `(succeeded, value, held)`, `held` the RSS after the last trim; return when the server
    goes away."""
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
    while True:
        try:
            work, args, kwargs = connection.recv()
        except EOFError:  # the server went away
            return
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
        # idle and grown: give freed pages back before the next render
        if not connection.poll() and grown(trimmed_at):
            release_memory()
            trimmed_at = resident() or 0


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), sys.argv[3:], int(sys.argv[2]))
