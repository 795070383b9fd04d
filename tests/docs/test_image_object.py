"""The Image object's docs page is written by hand, so it is held to the model: its field table
and its example name exactly the fields ImageOut answers with (a field added to ImageOut
fails here until the page documents it), and its limits are images.fields' own."""

from __future__ import annotations

import re
from pathlib import Path

import imgpro.docs
from imgpro.docs.pages import BY_SLUG
from imgpro.images.fields import MAX_CAPTION, MAX_LABELS
from imgpro.images.schemas import ImageOut
from tests.conftest import Stack

PAGE = Path(imgpro.docs.__file__).with_name("content") / "image-object.md"


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_the_field_table_names_every_image_field() -> None:
    rows = [line for line in _section(PAGE.read_text(), "Fields").splitlines() if line[:3] == "| `"]
    documented = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert documented == set(ImageOut.model_fields)


def test_the_example_shows_every_image_field() -> None:
    example = PAGE.read_text().split("```json\n", 1)[1].split("```", 1)[0]
    assert set(re.findall(r'^  "(\w+)":', example, re.MULTILINE)) == set(ImageOut.model_fields)


def test_the_limits_come_from_the_one_place_that_defines_them(stack: Stack) -> None:
    text = _section(PAGE.read_text(), "Fields")
    assert "{{ image_limits.caption }}" in text and "{{ image_limits.labels }}" in text
    page = stack.client().get(BY_SLUG["image-object"].path).text
    assert f"Up to {MAX_CAPTION:,} characters" in page
    assert f"Up to {MAX_LABELS} string pairs" in page
