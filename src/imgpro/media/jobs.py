"""The pixel work the server hands to its render processes, by name.

The server process imports no pixel library (pyvips, numpy, Pillow, pillow-heif: 38 MB of
every server): uploads are checked, variants rendered and working copies made in the render
pool (`imgpro.cdn.pool`). The pool pickles its work, and pickling a function imports its
module in the process that pickles it, so the server sends a `Job`, a module and a function
name, that the render process imports and calls.

What comes back must unpickle without those libraries too: results are plain values from
pixel-free modules (`outputs`, `ingested`, `working_copy`), errors are imgpro's own or
Python's, and an error of a pixel library crosses as `PixelsFailed` carrying its message.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from imgpro.media.ingested import Ingested, Placeholder
from imgpro.media.outputs import Rendered
from imgpro.media.working_copy import WorkingCopy

T = TypeVar("T")


class PixelsFailed(Exception):
    """A pixel library raised (a decoder's error on a stored file, say): its type and message."""


@dataclass(frozen=True)
class Job(Generic[T]):
    """`module.function(*args, **kwargs)`, called where it runs (a render process)."""

    module: str
    function: str

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        work = getattr(importlib.import_module(self.module), self.function)
        try:
            result: T = work(*args, **kwargs)
        except Exception as error:
            if _crosses(error):
                raise
            raise PixelsFailed(f"{type(error).__name__}: {error}") from None
        return result


def _crosses(error: Exception) -> bool:
    """Whether the server can unpickle `error` without importing a pixel library."""
    module = type(error).__module__
    return module == "builtins" or module.startswith("imgpro.")


#: `imgpro.media.ingest.ingest`: check an upload, the file to store (ApiError on a refusal).
INGEST: Job[Ingested] = Job("imgpro.media.ingest", "ingest")
#: `imgpro.media.render.render`: a variant (RenderRefused when it cannot be made).
RENDER: Job[Rendered] = Job("imgpro.media.render", "render")
#: `imgpro.media.render.make_working_copy`: the working copy of a large original.
WORKING_COPY: Job[WorkingCopy] = Job("imgpro.media.render", "make_working_copy")
#: `imgpro.media.placeholder.of_file`: the placeholder of a stored file (None for SVG).
PLACEHOLDER: Job[Placeholder | None] = Job("imgpro.media.placeholder", "of_file")
#: `imgpro.media.sample.draw`: the docs' sample picture, written to a path.
SAMPLE: Job[None] = Job("imgpro.media.sample", "draw")
