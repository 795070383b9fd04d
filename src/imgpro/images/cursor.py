"""Opaque list cursors: the position (created_at, id) of the last image of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from imgpro.errors import invalid
from imgpro.ids import is_id

_VERSION = "c1"


def encode_cursor(created_at: datetime, image_id: str) -> str:
    micros = int(created_at.astimezone(UTC).timestamp() * 1_000_000)
    raw = f"{_VERSION}:{micros}:{image_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; a 422 for anything this module did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, micros, image_id = raw.split(":")
        when = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise invalid(
            "cursor", "The cursor is malformed; pass pagination.next_cursor as is."
        ) from None
    if version != _VERSION or not is_id(image_id) or not micros.isdigit():
        raise invalid("cursor", "The cursor is malformed; pass pagination.next_cursor as is.")
    return when, image_id
