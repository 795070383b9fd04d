"""Child interpreters of imgpro (render processes, a migration): each must import the imgpro
this process runs, which a new interpreter may not find by itself (a checkout run with
PYTHONPATH, or from its own folder)."""

from __future__ import annotations

import os
from pathlib import Path

#: Where `imgpro` is imported from.
IMPORT_ROOT = str(Path(__file__).resolve().parents[1])


def environment(**extra: str) -> dict[str, str]:
    """This process's environment for a child interpreter, plus `extra`."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (IMPORT_ROOT, path))),
        **extra,
    }
