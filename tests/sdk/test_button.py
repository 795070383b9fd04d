"""button(): the official snippet, each variant, with the URL escaped."""

from __future__ import annotations

import re

import pytest

from imgpro_sdk import button

URL = 'http://127.0.0.1:8000/connect?app=a8o46yrk&redirect_uri=x&state=s"<'


def test_each_variant_links_to_the_url_with_the_globe() -> None:
    for variant in ("dark", "light", "short", "icon"):
        html = button(URL, variant=variant)
        assert 'href="http://127.0.0.1:8000/connect?app=a8o46yrk&amp;redirect_uri=x' in html
        assert "&quot;&lt;" in html and '"<' not in html.split("<style>")[0].split("href=")[1]
        assert html.count("<svg") == 1 and 'stroke-width="1.5"' in html
        assert "<style>" in html and "://" not in html.split("<style>")[1]  # loads nothing


def test_labels_per_variant() -> None:
    text = lambda html: re.sub(r"<[^>]+>", "", html.split("<style>")[0])  # noqa: E731
    assert text(button(URL)) == "Continue with img.pro"
    assert 'class="imgpro-btn imgpro-btn-light"' in button(URL, variant="light")
    assert text(button(URL, variant="short")) == "img.pro"
    icon = button(URL, variant="icon")
    assert text(icon) == "" and 'aria-label="Continue with img.pro"' in icon


def test_an_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError):
        button(URL, variant="purple")
