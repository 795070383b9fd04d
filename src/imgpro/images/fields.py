"""The limits of an image's caller-supplied fields, and the pure checks the models and the
query parser share (values in, values out; no database)."""

from __future__ import annotations

import json
import re
from typing import Any

from imgpro.errors import invalid
from imgpro.http import BadJson, nests_deeper_than, parse_json
from imgpro.ids import ID_PATTERN

MAX_CAPTION = 2000
MAX_LABELS = 20
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 256
MAX_METADATA_BYTES = 16 * 1024
MAX_FILENAME = 255
MAX_LIST_IDS = 50
MAX_BATCH_IDS = 100
# text we store or query holds no NUL (PostgreSQL can't); label keys also no brackets (they
# would break label[key]=value filters) and no control characters
_ID = ID_PATTERN.strip("^$")
NO_NUL_PATTERN = r"^[^\x00]*$"
LABEL_KEY_PATTERN = r"^[^\[\]\x00-\x1f\x7f]+$"
_LABEL_KEY = re.compile(LABEL_KEY_PATTERN)
LIST_IDS_PATTERN = rf"^{_ID}(,{_ID}){{0,{MAX_LIST_IDS - 1}}}$"
_LIST_IDS = re.compile(LIST_IDS_PATTERN)
MAX_JSON_DEPTH = 32  # labels and metadata


def check_text(field: str, value: str) -> str:
    """Text we store or query: no NUL character (PostgreSQL can't hold one)."""
    if "\x00" in value:
        raise invalid(field, f"{field} must not contain NUL characters.")
    return value


def _check_json_text(field: str, value: Any) -> None:
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(field, key)
            _check_json_text(field, item)
    elif isinstance(value, list):
        for item in value:
            _check_json_text(field, item)


def json_object(field: str, value: Any) -> dict[str, Any]:
    """A JSON object, given as one or as its JSON text (multipart fields)."""
    if isinstance(value, str):
        try:
            value = parse_json(value, MAX_JSON_DEPTH)
        except BadJson as exc:
            raise invalid(field, f"{field} must be a JSON object; this is {exc}.") from None
    if not isinstance(value, dict):
        raise invalid(field, f"{field} must be a JSON object.")
    if nests_deeper_than(value, MAX_JSON_DEPTH):
        raise invalid(field, f"{field} may nest at most {MAX_JSON_DEPTH} levels deep.")
    return value


def check_label_key(key: str) -> str:
    if not (1 <= len(key) <= MAX_LABEL_KEY) or not _LABEL_KEY.fullmatch(key):
        raise invalid(
            "labels", f"Label keys are 1–{MAX_LABEL_KEY} characters without brackets or controls."
        )
    return key


def parse_metadata(value: Any) -> dict[str, Any]:
    metadata = json_object("metadata", value)
    _check_json_text("metadata", metadata)
    encoded = json.dumps(metadata)
    if len(encoded) > MAX_METADATA_BYTES:
        raise invalid(
            "metadata", f"metadata is limited to {MAX_METADATA_BYTES // 1024} KB of JSON."
        )
    return metadata


def parse_filename(value: str | None) -> str:
    name = (value or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(c for c in name if c.isprintable())
    return name[:MAX_FILENAME]


def parse_list_ids(text: str) -> list[str]:
    if not _LIST_IDS.fullmatch(text):
        raise invalid("ids", f"ids takes 1–{MAX_LIST_IDS} comma-separated image ids.")
    return list(dict.fromkeys(text.split(",")))


def parse_limit(value: str | None, default: int = 50) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 100:
        raise invalid("limit", "limit is a whole number from 1 to 100.")
    return int(value)
