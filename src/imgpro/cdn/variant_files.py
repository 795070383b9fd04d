"""Variants on local files, stored by the render process that made them.

On a local blob store a render process writes the variant it rendered, checks that its original
is still there, and accounts it in the variant cache (`cdn.cache`, whose ledger every process
updates under a lock) before it answers. The server then stores nothing itself: a write in a
thread cost it a hop there and back (eight context switches a miss, two without), more than the
small file's I/O. On S3 the server stores what comes back, as before (`cdn.variants`).

Render processes import this module, so it imports nothing a render does not need (no asyncio).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imgpro.cdn.cache import VariantCache
from imgpro.files import key_path, write_whole
from imgpro.media import jobs
from imgpro.media.outputs import Rendered


class VariantGone(Exception):
    """The original disappeared (deleted, expired) while its variant was being made."""


@dataclass(frozen=True)
class VariantFiles:
    """A local store's variants and their cache's caps: what a render process needs (it pickles)
    to store one."""

    cache: VariantCache

    def store(self, key: str, original: str, data: bytes) -> None:
        """Write a rendered variant as blob `key`; leave nothing and raise `VariantGone` when
        `original` was deleted while it rendered; account it in the cache."""
        stored = write_whole(self.cache.root, key, data)
        if not key_path(self.cache.root, original).exists():
            stored.unlink(missing_ok=True)
            raise VariantGone(original)
        self.cache.stored(stored, len(data))


def render_stored(
    files: VariantFiles, key: str, original: str, *args: Any, **kwargs: Any
) -> Rendered:
    """`jobs.RENDER(*args, **kwargs)`, stored as blob `key` of `files` before it is returned."""
    rendered = jobs.RENDER(*args, **kwargs)
    files.store(key, original, rendered.data)
    return rendered


#: :func:`render_stored`, run in a render process.
RENDER_STORED: jobs.Job[Rendered] = jobs.Job(__name__, "render_stored")
