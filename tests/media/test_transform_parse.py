"""The transform parser: canonical, order-independent, never failing (decisions.md §5)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgpro.media.transform import (
    TransformSpec,
    canonical,
    is_identity,
    named_size,
    parse,
)

NAMES = [
    "size", "w", "h", "fit", "gravity", "dpr", "q", "rotate", "flip", "cutout", "bg", "strip",
    "brightness", "contrast", "gamma", "saturation", "blur", "sharp", "format", "W", "quality",
]  # fmt: skip
VALUES = [
    "", "0", "1", "-1", "1.5", "2", "90", "180", "270", "300", "8192", "8193", "100000", "1e3",
    "nan", "inf", "s", "m", "l", "social", "cover", "crop", "pad", "contain", "scale-down",
    "north", "southeast", "auto", "h", "v", "hv", "jpg", "jpeg", "webp", "avif", "gif", "png",
    "ff0000", "FF000080", "#00ff00", "transparent", "ffffff", "10", "250", "0.5", " 42 ", "１２",
]  # fmt: skip

pairs = st.lists(
    st.tuples(st.sampled_from(NAMES) | st.text(max_size=6), st.sampled_from(VALUES) | st.text()),
    max_size=12,
)


@given(pairs, st.randoms())
def test_order_of_parameters_never_matters(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert parse(urlencode(items)) == parse(urlencode(shuffled))


@given(pairs)
def test_canonical_form_is_idempotent_and_reads_back(items):
    spec = parse(urlencode(items))
    text = canonical(spec)
    assert parse(text) == spec
    assert canonical(parse(text)) == text
    assert (text == "") == is_identity(spec)


@given(st.text(max_size=300))
def test_any_query_string_parses(text):
    assert isinstance(parse(text), TransformSpec)


@given(st.dictionaries(st.text(max_size=8), st.text() | st.lists(st.text(), max_size=3)))
def test_any_mapping_parses(mapping):
    assert isinstance(parse(mapping), TransformSpec)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("strip=1", ""),
        ("w=300&h=200&fit=cover", "fit=cover&h=200&w=300"),
        ("h=200&fit=cover&w=300", "fit=cover&h=200&w=300"),
        ("?w=300", "w=300"),
        ("w=300&dpr=2", "w=600"),
        ("w=5000&h=10&dpr=4", "h=40&w=8192"),
        ("dpr=2", ""),
        ("dpr=100&w=300", "w=300"),
        ("w=100000&h=-5&w=abc", ""),
        ("w=0", ""),
        ("w=", ""),
        ("w=300&w=300", "w=300"),
        ("w=300&w=400", ""),  # conflicting repeats are ambiguous: dropped
        ("w=300&w=junk", "w=300"),
        ("fit=cover", ""),  # no box: nothing to fit
        ("fit=scale-down&w=10", "w=10"),
        ("fit=cover&w=10", "fit=contain&w=10"),  # one side: cover == contain
        ("fit=crop&w=10", "w=10"),  # one side: crop == scale-down
        ("gravity=north&w=10&h=10", "h=10&w=10"),  # nothing to place
        ("gravity=NORTH&w=10&h=10&fit=cover", "fit=cover&gravity=north&h=10&w=10"),
        ("gravity=center&w=10&h=10&fit=cover", "fit=cover&h=10&w=10"),
        ("size=m", "size=m"),
        ("size=xl", ""),
        ("size=m&w=300", "w=300"),  # an explicit box wins over a named size
        ("size=social", "fit=pad&h=630&w=1200"),
        ("size=social&bg=000000", "bg=000000&fit=pad&h=630&w=1200"),
        ("format=jpeg", ""),
        ("format=auto", ""),
        ("format=WEBP", "format=webp"),
        ("q=0&q=101", ""),
        ("q=85", "q=85"),
        ("q=83", "q=85"),  # quality in steps of 5: a finite variant space
        ("q=1", "q=5"),
        ("rotate=90", "rotate=90"),
        ("rotate=45&rotate=360&rotate=-90", ""),
        ("flip=hv", "flip=hv"),
        ("flip=x", ""),
        ("cutout=1", "cutout=1"),
        ("cutout=true", ""),
        ("bg=FFFFFF", ""),
        ("bg=%23FF0000", "bg=ff0000"),
        ("bg=ff0000ff", "bg=ff0000"),
        ("bg=ff000000", "bg=transparent"),
        ("bg=ff000080", "bg=ff000080"),
        ("bg=red", ""),
        ("brightness=1.10", "brightness=1.1"),
        ("brightness=1", ""),
        ("brightness=11", ""),
        ("brightness=-1", ""),
        ("brightness=nan&contrast=inf&saturation=1e1", ""),
        ("gamma=0", ""),
        ("gamma=1.0", ""),
        ("gamma=2.2", "gamma=2.2"),
        ("gamma=0.02", ""),  # tone in steps of 0.05
        ("brightness=1.213", "brightness=1.2"),
        ("brightness=1.02", ""),
        ("contrast=0.974", "contrast=0.95"),
        ("saturation=0", "saturation=0"),
        ("saturation=0.01", "saturation=0"),
        ("blur=0", ""),
        ("blur=250", "blur=250"),
        ("blur=251", ""),
        ("blur=3.4", "blur=3"),  # blur in whole pixels
        ("blur=0.6", ""),
        ("sharp=0", ""),
        ("sharp=.5", "sharp=0.5"),
        ("sharp=1.01", "sharp=1"),  # sharpening in steps of 0.1
        ("sharp=0.04", ""),
        ("unknown=1&W=300", ""),
        ("w=%EF%BC%91%EF%BC%92&blur=%D9%A3", ""),  # non-ASCII digits (fullwidth, Arabic-Indic)
    ],
)
def test_examples(query, expected):
    assert canonical(parse(query)) == expected


def test_mapping_input_with_lists():
    assert parse({"w": ["300", "300"], "h": "200"}) == TransformSpec(w=300, h=200)


def test_spec_construction_normalises_and_validates():
    assert TransformSpec(fit="scale-down", gravity="center", gamma=1.0) == TransformSpec()
    assert TransformSpec(bg="FFFFFF") == TransformSpec()
    with pytest.raises(ValueError):
        TransformSpec(w=0)
    with pytest.raises(ValueError):
        TransformSpec(format="jpeg")


@pytest.mark.parametrize(
    ("width", "height", "size", "expected"),
    [
        (4000, 3000, "m", (853, 640)),
        (3000, 4000, "l", (1080, 1440)),
        (1000, 1000, "s", (320, 320)),
        (300, 200, "s", (300, 200)),  # never enlarged
        (640, 480, "m", (640, 480)),
        (400, 50_000, "s", (65, 8192)),  # the long side is capped at the output limit
        (1, 50_000, "l", (1, 8192)),
        (123, 456, "social", (1200, 630)),
    ],
)
def test_named_size(width, height, size, expected):
    assert named_size(width, height, size) == expected


@given(st.integers(1, 100_000), st.integers(1, 100_000), st.sampled_from("sml"))
def test_named_size_never_enlarges_and_keeps_the_cap(width, height, size):
    new_w, new_h = named_size(width, height, size)
    assert 1 <= new_w <= width and 1 <= new_h <= height
    assert max(new_w, new_h) <= 8192
    assert min(new_w, new_h) <= {"s": 320, "m": 640, "l": 1080}[size] or (new_w, new_h) == (
        width,
        height,
    )
