"""What a render of a stored image answers, known without its pixels: the format it writes, the
spec with what cannot change its output dropped (so every spelling of one variant is one name),
and the two outcomes a render sends back (`Rendered`, `RenderRefused`).

Values in, values out; no pixel library. The server imports this to name variants and to read
what a render process sends back (unpickling a value imports its class's module); the pixels
are `imgpro.media.render`'s, in the render processes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from imgpro.media.formats import TRANSFORMABLE
from imgpro.media.transform import TransformSpec

#: Output formats that keep an alpha channel (the others are flattened onto `bg`).
HAS_ALPHA = frozenset({"png", "webp", "avif", "gif"})
#: The encoder's quality when the spec names none (png and gif have none).
DEFAULT_Q = {"jpg": 80, "webp": 80, "avif": 55}
# the stored format is the default output; HEIC (normally converted at upload) is served as JPEG
_SOURCE_FORMATS = {"jpeg": "jpg", "heic": "jpg", "heif": "jpg", **{f: f for f in TRANSFORMABLE}}


@dataclass(frozen=True)
class Rendered:
    data: bytes
    format: str
    content_type: str
    width: int
    height: int


class RenderRefused(Exception):
    """The stored image cannot be rendered: corrupt, over a budget, or too slow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def output_format(source_format: str, spec: TransformSpec) -> str:
    """The format `render` writes for a stored `source_format`: `spec.format`, else the stored
    one (HEIC as JPEG)."""
    return spec.format or _SOURCE_FORMATS.get(source_format.lower(), "jpg")


def without_no_ops(spec: TransformSpec, source_format: str) -> TransformSpec:
    """`spec` minus what cannot change the output for this stored format, so every spelling of
    one result is one cache key: the stored format asked for again, `q` where the encoder has
    none (png, gif) or at its default, `bg` where nothing is padded, cut out or flattened."""
    stored = _SOURCE_FORMATS.get(source_format.lower(), "jpg")
    fmt = spec.format or stored
    changes: dict[str, object] = {}
    if spec.format == stored:
        changes["format"] = None
    if spec.q is not None and DEFAULT_Q.get(fmt) in (None, spec.q):
        changes["q"] = None
    flattens = fmt not in HAS_ALPHA and source_format.lower() not in ("jpg", "jpeg")
    if spec.bg is not None and not (spec.cutout or spec.fit == "pad" or flattens):
        changes["bg"] = None
    return replace(spec, **changes) if changes else spec  # type: ignore[arg-type]
