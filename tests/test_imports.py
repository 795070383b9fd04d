"""What a server process holds in memory: no pixel library (the render processes do every
pixel's work), and an SDK only where its feature is configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.factories import images as make

PIXEL_LIBRARIES = ("numpy", "pyvips", "PIL", "pillow_heif")  # 38 MB of every server process

# builds the app as `imgpro serve` does (embedded default: SQLite, local files, local billing),
# uploads the file named by argv[2], renders a variant of it, then names the libraries it holds
SERVE = """
import sys
from starlette.testclient import TestClient
from imgpro.app import create_app
from imgpro.db import migrate
from imgpro.settings import Settings

settings = Settings(env="test", data_dir=sys.argv[1], secret_key="s" * 32)
migrate.upgrade(settings.database_url)
with TestClient(create_app(settings), base_url=settings.api_url) as client:
    with open(sys.argv[2], "rb") as upload:
        created = client.post("/v1/images", files={"file": ("a.png", upload)})
    assert created.status_code == 201, created.text
    variant = client.get(created.json()["url"] + "?w=40&format=webp")
    assert variant.status_code == 200 and variant.content[8:12] == b"WEBP", variant.text
print(" ".join(sorted(name for name in sys.argv[3:] if name in sys.modules)))
"""


def loaded_while_serving(tmp_path: Path, names: tuple[str, ...]) -> str:
    """Which of `names` a fresh server process has imported once it served an upload and a
    variant."""
    upload = tmp_path / "a.png"
    upload.write_bytes(make.png(64, 48))
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(tmp_path / "data"), str(upload), *names],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_server_that_took_an_upload_and_rendered_holds_no_pixel_library(
    tmp_path: Path,
) -> None:
    assert loaded_while_serving(tmp_path, PIXEL_LIBRARIES) == ""


def test_a_server_on_the_embedded_default_loads_no_client_it_was_not_configured_for(
    tmp_path: Path,
) -> None:
    # Stripe's SDK 8 MB, obstore (S3) 8 MB, redis 6 MB, asyncpg 3 MB, aiosmtplib 1 MB
    clients = ("stripe", "obstore", "redis", "asyncpg", "aiosmtplib")
    assert loaded_while_serving(tmp_path, clients) == ""


# a render process's work: check an upload (argv[2]), render a variant of it; then names which
# of the optional decoders it holds
RENDER_PROCESS_WORK = """
import sys
from pathlib import Path
from imgpro.media.ingest import ingest
from imgpro.media.render import render
from imgpro.media.transform import parse

checked = ingest(Path(sys.argv[2]), workdir=Path(sys.argv[1]), max_bytes=10**7)
render(checked.path, checked.format, parse("w=40&format=webp"))
print(" ".join(name for name in ("pillow_heif", "PIL.ImageCms") if name in sys.modules))
"""


def decoders_after(tmp_path: Path, name: str, data: bytes) -> str:
    upload = tmp_path / name
    upload.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", RENDER_PROCESS_WORK, str(tmp_path), str(upload)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_render_process_loads_the_heic_decoder_for_a_heic_only(tmp_path: Path) -> None:
    # pillow-heif: 3 MB of every render process that never sees a HEIC; Pillow's littlecms is
    # not needed even then (libvips converts a HEIC's colours)
    assert decoders_after(tmp_path, "a.jpg", make.jpeg()) == ""
    assert decoders_after(tmp_path, "a.heic", make.heic()) == "pillow_heif"
