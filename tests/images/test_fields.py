"""Pure parsing of ids, cursors and labels (Hypothesis over the input space); labels through
the model that parses request bodies."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgpro.errors import ApiError
from imgpro.http import parse_as
from imgpro.ids import ALPHABET, ID_LENGTH, is_id, new_id, new_shard
from imgpro.images import fields
from imgpro.images.cursor import decode_cursor, encode_cursor
from imgpro.images.schemas import ImageFields

ids = st.text(alphabet=ALPHABET, min_size=ID_LENGTH, max_size=ID_LENGTH)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def test_new_ids_are_valid_and_random() -> None:
    made = {new_id() for _ in range(2000)}
    assert len(made) == 2000 and all(is_id(i) for i in made)
    assert all(len(new_shard()) == 3 for _ in range(10))


@given(st.text())
def test_is_id_accepts_exactly_eight_base36_characters(text: str) -> None:
    assert is_id(text) == (len(text) == ID_LENGTH and all(c in ALPHABET for c in text))


@given(moments, ids)
def test_a_cursor_decodes_to_the_position_it_encodes(when: datetime, image_id: str) -> None:
    decoded_when, decoded_id = decode_cursor(encode_cursor(when, image_id))
    assert decoded_id == image_id
    assert decoded_when == when


@given(st.text(max_size=200))
def test_any_other_cursor_is_a_validation_error(text: str) -> None:
    try:
        when, image_id = decode_cursor(text)
    except ApiError as error:
        assert error.code == "validation_error" and "cursor" in (error.details or {})
    else:  # whatever decodes names a real position
        assert is_id(image_id)
        assert decode_cursor(encode_cursor(when, image_id)) == (when, image_id)


# JSON text carries no lone surrogates; `$` is the end (from_regex also allows a last newline)
label_keys = st.from_regex(fields.LABEL_KEY_PATTERN, fullmatch=True).filter(
    lambda k: (
        len(k) <= fields.MAX_LABEL_KEY
        and re.fullmatch(fields.LABEL_KEY_PATTERN, k) is not None
        and not any("\ud800" <= c <= "\udfff" for c in k)
    )
)
label_values = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=256
)


def labels_of(value: object) -> object:
    """The labels a create body with `value` ends up with (ImageFields parses bodies)."""
    return parse_as(ImageFields, {"labels": value}).labels


@given(st.dictionaries(label_keys, label_values, max_size=20))
def test_valid_labels_are_kept_as_sent(labels: dict[str, str]) -> None:
    assert labels_of(labels) == labels


@given(st.one_of(st.integers(), st.lists(st.text()), st.text(), st.floats()))
def test_labels_that_are_not_an_object_are_refused(value: object) -> None:
    with pytest.raises(ApiError) as caught:
        labels_of(value)
    assert caught.value.details is not None and list(caught.value.details) == ["labels"]


@given(
    st.dictionaries(
        label_keys, st.one_of(st.integers(), st.none(), st.lists(st.text())), min_size=1, max_size=5
    )
)
def test_labels_with_non_string_values_are_refused(labels: dict[str, object]) -> None:
    with pytest.raises(ApiError):
        labels_of(labels)


@pytest.mark.parametrize(
    "labels",
    [
        {str(i): "v" for i in range(21)},
        {"k" * 65: "v"},
        {"k": "v" * 257},
        {"": "v"},
        {"a[b]": "v"},
        {"k": "nul\x00"},
    ],
)
def test_label_limits(labels: dict[str, str]) -> None:
    with pytest.raises(ApiError) as caught:
        labels_of(labels)
    assert caught.value.code == "validation_error"


def test_null_labels_clear_and_are_not_an_error() -> None:
    assert labels_of(None) is None


@given(st.text(max_size=5))
def test_limit_is_a_whole_number_from_1_to_100(text: str) -> None:
    try:
        value = fields.parse_limit(text)
    except ApiError:
        assert not (text.isascii() and text.isdigit() and 1 <= int(text) <= 100)
    else:
        assert 1 <= value <= 100 and value == int(text)


def test_filenames_lose_paths_and_control_characters() -> None:
    assert fields.parse_filename("../../etc/passwd") == "passwd"
    assert fields.parse_filename("C:\\photos\\a.jpg") == "a.jpg"
    assert fields.parse_filename("a\x00b\n.jpg") == "ab.jpg"
    assert fields.parse_filename(None) == ""
