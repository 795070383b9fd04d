"""The render pool: process upkeep (memory given back only once grown) and hand-overs on the
event loop `imgpro serve` runs."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import uvloop

from imgpro.cdn import allocator, pool
from imgpro.media import render as renderer
from imgpro.media.transform import parse
from tests.factories import images


def test_a_render_process_trims_only_past_the_slack() -> None:
    resident = allocator.resident()
    assert resident is not None and resident > 0
    assert allocator.grown(0)  # holds more than the slack over nothing
    assert not allocator.grown(resident)  # just trimmed: small renders reuse their pages
    assert allocator.grown(resident - allocator.TRIM_SLACK - 1)


def test_a_render_process_keeps_its_pages_for_the_next_job_of_the_same_kind() -> None:
    # a cutout frees ~200 MB that the next cutout would fault in afresh after a trim; a job of
    # another kind (or none) still finds them given back
    grow = "[len(bytearray(b'x') * (24 << 20)) for _ in range(3)][0]"  # freed, still resident
    held = "__import__('imgpro.cdn.allocator').cdn.allocator.resident()"

    async def grown_by(next_kind: str | None) -> int:
        renderers = pool.RenderPool(workers=1)
        try:
            before = await renderers.run(eval, held)
            assert await renderers.run(eval, grow, kind="cutout") == 24 << 20
            after: int = await renderers.run(eval, held, kind=next_kind)
            return after - before
        finally:
            renderers.close()

    assert asyncio.run(grown_by("cutout")) > 20 << 20
    assert asyncio.run(grown_by("other")) < 4 << 20
    assert asyncio.run(grown_by(None)) < 4 << 20


def test_a_render_process_gets_huge_pages_from_malloc(monkeypatch: pytest.MonkeyPatch) -> None:
    # a render's buffers fault in 2 MB at a time: half the faults of 4 KB pages
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.check=0")  # an operator's own, kept
    touched = "bytearray(b'x') * (64 << 20)"  # written, so its pages are resident
    huge_kb = "open('/proc/self/smaps_rollup').read().split('AnonHugePages:')[1].split()[0]"

    async def asked() -> tuple[object, object]:
        renderers = pool.RenderPool(workers=1)
        try:
            tunables = await renderers.run(eval, "__import__('os').environ['GLIBC_TUNABLES']")
            return tunables, await renderers.run(eval, f"(lambda _: int({huge_kb}))({touched})")
        finally:
            renderers.close()

    tunables, huge = asyncio.run(asked())
    assert tunables == "glibc.malloc.check=0:glibc.malloc.hugetlb=1"
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as setting:
        if "[never]" not in setting.read():  # a kernel with huge pages off ignores the ask
            assert isinstance(huge, int) and huge >= 2048


def test_renders_are_handed_over_and_answered_on_uvloop() -> None:
    # `imgpro serve` runs uvloop, which turns a pipe it watches non-blocking: every hand-over
    # must still arrive whole, and a killed process must not poison the next render
    async def renders() -> None:
        renderers = pool.RenderPool(workers=1, kill_after=1.0)
        try:
            for _ in range(10):  # replies far over the socket's buffer arrive in parts
                assert len(await renderers.run(os.urandom, 20_000_000)) == 20_000_000
            big = b"x" * (pool.LOOP_SEND_BYTES * 4)
            assert await renderers.run(len, big) == len(big)  # sent from a thread
            assert await renderers.run(len, b"x" * 1000) == 1000  # sent on the loop
            with pytest.raises(pool.RenderKilled):
                await renderers.run(time.sleep, 5)
            assert await renderers.run(abs, -3) == 3  # on a fresh process
            with pytest.raises(ZeroDivisionError):
                await renderers.run(divmod, 1, 0)
            assert await renderers.run(abs, -4) == 4
        finally:
            renderers.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(renders())


def test_a_render_process_imports_only_what_rendering_needs() -> None:
    # asyncio (with ssl and subprocess) cost every render process 6 MB of RSS it never used
    async def imported() -> object:
        renderers = pool.RenderPool(workers=1, preload=("imgpro.media.render",))
        try:  # `eval` pickles by name, so the question is asked in the render process itself
            return await renderers.run(
                eval, "{'asyncio', 'ssl', 'imgpro.media.render'} & __import__('sys').modules.keys()"
            )
        finally:
            renderers.close()

    assert asyncio.run(imported()) == {"imgpro.media.render"}


def test_a_render_process_holding_more_than_its_bound_is_replaced_while_idle() -> None:
    async def replaced() -> tuple[int, int]:
        renderers = pool.RenderPool(workers=1, max_bytes=1)
        try:
            first = later = await renderers.run(os.getpid)  # its reply: it holds over 1 byte
            for _ in range(600):  # the replacement starts beside it; no render waits for it
                await asyncio.sleep(0.1)
                later = await renderers.run(os.getpid)
                if later != first:
                    break
            return first, later
        finally:
            renderers.close()

    first, later = asyncio.run(replaced())
    assert first != later
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(first, 0)

    async def kept() -> set[int]:
        renderers = pool.RenderPool(workers=1, max_bytes=1024**3)
        try:
            served = {await renderers.run(os.getpid) for _ in range(5)}
            assert renderers._processes[0]._spare is None  # nothing starting to replace it
            return served
        finally:
            renderers.close()

    assert len(asyncio.run(kept())) == 1


def malloc_arenas(maps: str) -> int:
    """Arenas beside the main heap: glibc reserves each as 64 MB of anonymous memory at a 64
    MB-aligned address (read-write as far as it has grown, no access beyond)."""
    spans: list[list[int]] = []
    for line in maps.splitlines():
        if len(line.split()) != 5:  # a file's or a named mapping
            continue
        start, end = (int(address, 16) for address in line.split()[0].split("-"))
        if spans and spans[-1][1] == start:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    arena = 64 * 1024 * 1024
    return sum(1 for start, end in spans if start % arena == 0 and end - start == arena)


def test_a_render_process_with_one_libvips_thread_mallocs_from_one_arena() -> None:
    # libvips' buffers settled in a second arena, where the RSS after a trim crept up
    async def arenas() -> int:
        renderers = pool.RenderPool(workers=1, preload=(renderer.__name__,), vips_threads=1)
        try:
            rendered = await renderers.run(
                renderer.render, images.jpeg(2000, 1500), "jpg", parse("w=300&format=webp")
            )
            assert rendered.data
            return malloc_arenas(await renderers.run(eval, "open('/proc/self/maps').read()"))
        finally:
            renderers.close()

    assert asyncio.run(arenas()) == 0


def test_a_render_process_runs_the_cutout_model_on_the_cores_it_has() -> None:
    # two render processes on two cores, each inferring on two threads, spent ~10 % more CPU a
    # cutout than one thread each: the model gets the cores libvips gets, as many as the pool
    # leaves each process
    session = "__import__('imgpro.media.cutout').media.cutout._model()"
    options = f"{session}.get_session_options().intra_op_num_threads"

    async def model_threads(vips_threads: int) -> object:
        renderers = pool.RenderPool(workers=1, vips_threads=vips_threads)
        try:
            return await renderers.run(eval, options)
        finally:
            renderers.close()

    assert asyncio.run(model_threads(1)) == 1
    assert asyncio.run(model_threads(2)) == 2
