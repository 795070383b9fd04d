"""Placeholders on every Image object (decisions.md §8), on the pages that show images, in the
OpenAPI document, and `imgpro admin backfill` for images stored before."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from imgpro.cdn.layout import OriginalMeta
from imgpro.cli import app as cli_app
from imgpro.images.tables import Image
from imgpro.media import thumbhash_draw
from imgpro.runtime import Runtime
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make

HEX = re.compile(r"^#[0-9a-f]{6}$")


def upload(client: httpx.Client, data: bytes, name: str) -> dict:
    response = client.post("/v1/images", files={"file": (name, data)})
    assert response.status_code == 201, response.text
    return response.json()


def test_every_image_response_carries_the_placeholder(stack: Stack) -> None:
    client = stack.client(stack.key())
    created = upload(client, make.jpeg(300, 200), "a.jpg")
    found = created["placeholder"]
    assert set(found) == {"thumbhash", "color"} and HEX.match(found["color"])
    assert client.get(f"/v1/images/{created['id']}").json()["placeholder"] == found
    listed = client.get("/v1/images", params={"ids": created["id"]}).json()["data"]
    assert [image["placeholder"] for image in listed] == [found]
    patched = client.patch(f"/v1/images/{created['id']}", json={"caption": "x"}).json()
    assert patched["placeholder"] == found
    assert upload(client, make.svg(), "a.svg")["placeholder"] is None


def test_the_openapi_image_documents_it(stack: Stack) -> None:
    schemas = stack.client().get("/openapi.json").json()["components"]["schemas"]
    by_title = {schema.get("title"): schema for schema in schemas.values()}
    assert "placeholder" in by_title["Image"]["required"]
    assert set(by_title["Placeholder"]["properties"]) == {"thumbhash", "color"}


def test_the_viewer_and_the_dashboard_paint_it_until_the_image_loads(stack: Stack) -> None:
    person = stack.user()
    created = upload(stack.client(stack.key(person)), make.png(80, 60), "p.png")
    painted = thumbhash_draw.data_url(created["placeholder"]["thumbhash"])
    viewer = stack.client().get(created["page_url"]).text
    assert painted in viewer and created["placeholder"]["color"] in viewer
    browser = stack.client()
    idf.sign_in(stack, browser, person.email)
    assert painted in browser.get("/dashboard").text


def _forget_placeholders_and_working_copies(stack: Stack, ids: list[str]) -> None:
    """What images stored by an older version look like."""

    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            await db.execute(update(Image).where(Image.id.in_(ids)).values(placeholder=None))
            await db.commit()

    stack.run(work)
    for sidecar in (stack.settings.data_dir / "blobs").glob("*/*/meta.json"):
        if sidecar.parent.name in ids:
            meta = json.loads(sidecar.read_bytes())
            meta.pop("work_width"), meta.pop("work_height")
            sidecar.write_text(json.dumps(meta))
            for copy in sidecar.parent.glob("work.*"):
                copy.unlink()


def backfill(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("IMGPRO_DATA_DIR", str(stack.settings.data_dir))
    monkeypatch.setenv("IMGPRO_DATABASE_URL", stack.settings.database_url)
    result = CliRunner().invoke(cli_app, ["admin", "backfill", "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_backfill_fills_what_older_versions_did_not_store(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.client(stack.key())
    small = upload(client, make.jpeg(120, 90), "small.jpg")
    large = upload(client, make.jpeg(3600, 2400), "large.jpg")
    svg = upload(client, make.svg(), "v.svg")
    backfill(stack, monkeypatch)  # whatever the suite stored before is done now
    _forget_placeholders_and_working_copies(stack, [small["id"], large["id"], svg["id"]])
    assert client.get(f"/v1/images/{small['id']}").json()["placeholder"] is None

    # at least our two: every large still the suite stored earlier (tests/cdn runs first) is
    # visited again on each run, since its working copy is only known from its sidecar
    filled = backfill(stack, monkeypatch)
    assert filled["images"] >= 2 and filled["failed"] == 0

    for image in (small, large):
        assert (
            client.get(f"/v1/images/{image['id']}").json()["placeholder"] == (image["placeholder"])
        )
    assert client.get(f"/v1/images/{svg['id']}").json()["placeholder"] is None
    folder = Path(stack.settings.data_dir / "blobs" / large["url"].split("/")[-2] / large["id"])
    assert OriginalMeta.loads((folder / "meta.json").read_bytes()).working_size == (2560, 1707)
    assert (folder / "work.jpg").exists()
    assert client.get(large["url"], params={"w": 640}).status_code == 200
    # a second run finds nothing left to do (the large one is visited, and left alone)
    assert backfill(stack, monkeypatch)["failed"] == 0


def test_backfill_leaves_a_large_original_it_cannot_decode_without_a_copy(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An original that is no image any more (damaged on disk) gets no working copy; the
    backfill goes on to the next image and finishes."""
    client = stack.client(stack.key())
    large = upload(client, make.jpeg(3600, 2400), "large.jpg")
    folder = Path(stack.settings.data_dir / "blobs" / large["url"].split("/")[-2] / large["id"])
    sidecar = json.loads((folder / "meta.json").read_bytes())
    sidecar.pop("work_width", None), sidecar.pop("work_height", None)
    (folder / "meta.json").write_text(json.dumps(sidecar))
    (folder / "original.jpg").write_bytes(b"no longer an image")

    assert backfill(stack, monkeypatch)["failed"] == 0
    assert OriginalMeta.loads((folder / "meta.json").read_bytes()).working_size is None
    assert not list(folder.glob("work.*"))
