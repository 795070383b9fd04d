"""Work handed to a render process by name, and what crosses back."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import pytest

from imgpro.errors import ApiError
from imgpro.media import jobs
from imgpro.media.outputs import RenderRefused
from tests.factories import images as make


def crossed(error: BaseException) -> BaseException:
    """`error` as the server reads it from a render process."""
    return pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own bytes


@pytest.mark.parametrize(
    "name", [name for name, v in vars(jobs).items() if isinstance(v, jobs.Job)]
)
def test_every_job_names_a_function_that_exists(name: str) -> None:
    job = getattr(jobs, name)
    assert callable(getattr(importlib.import_module(job.module), job.function))


def test_an_ingest_refusal_crosses_with_its_envelope_and_status(tmp_path: Path) -> None:
    upload = tmp_path / "a.jpg"
    upload.write_bytes(make.truncated_jpeg())
    with pytest.raises(ApiError) as refused:
        jobs.INGEST(upload, workdir=tmp_path, max_bytes=1 << 20, field="url")
    read = crossed(refused.value)
    assert isinstance(read, ApiError)
    assert (read.status, read.envelope()) == (422, refused.value.envelope())
    assert "url" in read.details  # type: ignore[operator]


def test_a_busy_error_keeps_its_retry_after_when_it_crosses() -> None:
    read = crossed(ApiError("rate_limited", action={"type": "wait", "retry_after": 7}))
    assert isinstance(read, ApiError)
    assert (read.status, read.headers["Retry-After"]) == (429, "7")


def test_a_pixel_library_error_crosses_as_its_message(tmp_path: Path) -> None:
    stored = tmp_path / "a.png"
    stored.write_bytes(b"not an image at all")
    with pytest.raises(jobs.PixelsFailed) as failed:
        jobs.PLACEHOLDER(stored, "png")
    read = crossed(failed.value)
    assert type(read) is jobs.PixelsFailed
    assert str(read).startswith("Error: ")  # pyvips.Error, named but not carried


def test_a_working_copy_of_no_image_is_refused_with_the_renders_reason() -> None:
    with pytest.raises(RenderRefused) as refused:
        jobs.WORKING_COPY(b"not an image at all", "jpg")
    read = crossed(refused.value)
    assert type(read) is RenderRefused
    assert read.reason == "not a supported raster image"
