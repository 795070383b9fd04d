"""`imgpro admin gc`: remove blobs that no image row owns (decisions.md §6).

They appear when a node dies between storing an upload's blobs and committing its row (the
blobs go first, so a row never lacks its blobs), or when a delete's blob removal failed. An
image's blobs share the prefix `{shard}/{id}/`; a prefix is removed only when no row has that
id and its newest blob is older than `min_age`, so an upload still in flight is never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from imgpro.images import service as images
from imgpro.runtime import Runtime

BATCH = 500


@dataclass
class _Prefix:
    bytes: int = 0
    newest: float = 0.0
    keys: list[str] = field(default_factory=list)


async def collect(runtime: Runtime, min_age: float) -> tuple[int, int]:
    """Remove orphaned images' blobs; returns (blobs removed, bytes freed)."""
    cutoff = time.time() - min_age
    prefixes: dict[tuple[str, str], _Prefix] = {}
    async for blob in runtime.blobs.walk():
        shard, _, rest = blob.key.partition("/")
        image_id, slash, _ = rest.partition("/")
        if not slash:  # not an image's blob (e.g. the variant ledger)
            continue
        entry = prefixes.setdefault((shard, image_id), _Prefix())
        entry.bytes += blob.size
        entry.newest = max(entry.newest, blob.modified)
        entry.keys.append(blob.key)
    candidates = [key for key, entry in prefixes.items() if entry.newest < cutoff]
    removed = freed = 0
    for start in range(0, len(candidates), BATCH):
        batch = candidates[start : start + BATCH]
        async with runtime.sessions() as db:
            owned = await images.existing_ids(db, [image_id for _, image_id in batch])
        for shard, image_id in batch:
            if image_id in owned:
                continue
            entry = prefixes[(shard, image_id)]
            await runtime.blobs.delete_prefix(f"{shard}/{image_id}/")
            removed += len(entry.keys)
            freed += entry.bytes
    return removed, freed
