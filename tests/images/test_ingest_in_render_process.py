"""Uploads are checked in a render process: a busy or failing one still answers the envelope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from imgpro.cdn.pool import PoolBusy, RenderKilled, RenderPool
from tests.conftest import Stack
from tests.factories import images as make
from tests.images.test_upload_refusals import assert_refused, stored_count


def every_render_raises(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    async def run(self: RenderPool, work: Any, *args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(RenderPool, "run", run)


def upload(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/images", files={"file": ("a.jpg", make.jpeg(), "image/jpeg")})


def test_a_busy_render_pool_answers_an_upload_503_with_retry_after(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.client(stack.key())
    every_render_raises(monkeypatch, PoolBusy(retry_after=3))
    response = upload(client)
    error = assert_refused(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "3"
    assert error["action"] == {"type": "wait", "retry_after": 3}
    assert stored_count(client) == 0


def test_an_upload_whose_render_process_is_killed_is_refused_422(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.client(stack.key())
    every_render_raises(monkeypatch, RenderKilled("render time budget exceeded"))
    assert_refused(upload(client), 422, "upload_failed")
    assert stored_count(client) == 0


def test_a_killed_upload_check_leaves_no_file_behind(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render process killed while writing what it converts (HEIC to JPEG, say) cannot clean
    up: what it wrote must not stay on the server's disk, upload after upload."""
    client = stack.client(stack.key())
    workdir = stack.settings.data_dir / "tmp"
    before = set(workdir.rglob("*"))

    async def killed_while_writing(self: RenderPool, work: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["workdir"].mkdir(parents=True, exist_ok=True)
        (kwargs["workdir"] / "converted.jpg").write_bytes(b"\xff\xd8 half a JPEG")
        raise RenderKilled("render time budget exceeded")

    monkeypatch.setattr(RenderPool, "run", killed_while_writing)
    assert_refused(upload(client), 422, "upload_failed")
    assert set(workdir.rglob("*")) == before
