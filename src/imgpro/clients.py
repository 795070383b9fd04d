"""The scale-out backends' clients (redis, asyncpg) are imported only where their backend is
configured: a server on the embedded default holds neither (9 MB of every server process).

Code that catches their errors names them through `errors_of`, which answers none for a
library this process has not imported: that library cannot have raised them.
"""

from __future__ import annotations

import sys


def errors_of(module: str, *names: str) -> tuple[type[Exception], ...]:
    """The exception classes `names` of `module` when it is imported, else an empty tuple (an
    `except` clause that catches nothing)."""
    loaded = sys.modules.get(module)
    return tuple(getattr(loaded, name) for name in names) if loaded is not None else ()
