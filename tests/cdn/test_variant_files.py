"""Variants on local files, stored by the render process that rendered them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from imgpro.cdn.cache import LEDGER_KEY, VariantCache
from imgpro.cdn.pool import RenderPool
from imgpro.cdn.variant_files import RENDER_STORED, VariantFiles, VariantGone
from imgpro.files import TMP_DIR
from imgpro.media.outputs import Rendered
from imgpro.media.transform import parse
from tests.factories import images

ORIGINAL = "pub/abcdefgh/original.jpg"
VARIANT = "pub/abcdefgh/v/0123456789abcdef01234567.webp"


def render_stored_in_a_process(files: VariantFiles, source: bytes) -> Rendered:
    async def run() -> Rendered:
        renderers = RenderPool(workers=1, preload=("imgpro.media.render",))
        try:
            return await renderers.run(
                RENDER_STORED, files, VARIANT, ORIGINAL, source, "jpg", parse("w=40&format=webp")
            )
        finally:
            renderers.close()

    return asyncio.run(run())


def test_a_render_process_stores_the_variant_it_renders_and_counts_it(tmp_path: Path) -> None:
    (tmp_path / TMP_DIR).mkdir()
    source = images.jpeg(120, 80)
    (tmp_path / ORIGINAL).parent.mkdir(parents=True)
    (tmp_path / ORIGINAL).write_bytes(source)
    files = VariantFiles(VariantCache(tmp_path, max_per_image=10, max_bytes=10**6))

    rendered = render_stored_in_a_process(files, source)

    assert rendered.data[8:12] == b"WEBP" and rendered.width == 40
    assert (tmp_path / VARIANT).read_bytes() == rendered.data
    assert int((tmp_path / LEDGER_KEY).read_text()) == len(rendered.data)
    assert list((tmp_path / TMP_DIR).iterdir()) == []


def test_a_variant_whose_original_was_deleted_while_it_rendered_is_not_kept(
    tmp_path: Path,
) -> None:
    (tmp_path / TMP_DIR).mkdir()
    files = VariantFiles(VariantCache(tmp_path, max_per_image=10, max_bytes=10**6))

    with pytest.raises(VariantGone):  # raised in the render process, crossed as it is
        render_stored_in_a_process(files, images.jpeg(120, 80))

    assert not (tmp_path / VARIANT).exists()
    assert not (tmp_path / LEDGER_KEY).exists()
    assert list((tmp_path / TMP_DIR).iterdir()) == []


def test_storing_variants_adds_no_asyncio_to_a_render_process() -> None:
    # asyncio brings ssl: 6 MB of every render process
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, imgpro.cdn.render_process, imgpro.cdn.variant_files, imgpro.media.render;"
            "print(sorted(name for name in ('asyncio', 'ssl') if name in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "[]"
