"""Opaque list cursors: the position (created_at, id) of the last image of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from imgpro.errors import invalid
from imgpro.ids import is_id

_VERSION = "c1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode_cursor(created_at: datetime, image_id: str) -> str:
    # integer microseconds: a float timestamp would lose one and make pages skip rows
    micros = (created_at.astimezone(UTC) - _EPOCH) // _MICROSECOND
    raw = f"{_VERSION}:{micros}:{image_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; a 422 for anything this module did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, micros, image_id = raw.split(":")
        when = _EPOCH + int(micros) * _MICROSECOND
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise invalid(
            "cursor", "The cursor is malformed; pass pagination.next_cursor as is."
        ) from None
    if version != _VERSION or not is_id(image_id) or not micros.isdigit():
        raise invalid("cursor", "The cursor is malformed; pass pagination.next_cursor as is.")
    return when, image_id
