"""What ingest answers about an upload: the file to store and what the Image object reports.

Plain values and no pixel library: ingest runs in a render process and sends these back, and
unpickling a value imports its class's module, so the server reads them without pyvips, numpy
or Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imgpro.media.working_copy import WorkingCopy


@dataclass(frozen=True)
class Placeholder:
    """A ThumbHash and the dominant colour of the stored pixels (`imgpro.media.placeholder`)."""

    thumbhash: str  # base64
    color: str  # "#rrggbb"

    def to_dict(self) -> dict[str, str]:
        return {"thumbhash": self.thumbhash, "color": self.color}


@dataclass(frozen=True)
class Ingested:
    """The file to store and what the Image object reports about it."""

    path: Path  # the normalised file to store (the input path when it needed no change)
    format: str  # jpg png gif webp avif svg bmp ico (HEIC is converted and reported as jpg)
    content_type: str
    width: int  # after EXIF orientation is applied
    height: int
    bytes: int  # size of ``path``
    animated: bool
    frames: int  # 1 for stills
    transformable: bool
    placeholder: Placeholder | None  # None for SVG
    working_copy: WorkingCopy | None = None  # made at upload (a large HEIC's), to store beside it
