"""CDN transform parameters: query string -> canonical, validated `TransformSpec`.

Pure values in, values out (no I/O). The rules (spec/transforms.md, decisions.md §5):

* Order-independent; unknown names and invalid values are dropped, never an error.
* A name repeated with *different* valid values is ambiguous and dropped (so that reordering a
  query can never change the result); repeats of the same value are harmless.
* The spec normalises itself: values equal to the default, and parameters that cannot take effect
  (``fit`` without a box, ``dpr`` without ``w``/``h``), are removed, so one rendered variant has
  exactly one canonical string — that string is the variant cache key.

Choices where the docs are silent:

* ``w``/``h`` win over ``size`` (the explicit box is more specific); ``size`` is then dropped.
* ``size=social`` is the box ``w=1200&h=630&fit=pad`` (padded on ``bg``, placed by ``gravity``).
* ``dpr`` is folded into ``w``/``h`` at parse time (``w=300&dpr=2`` == ``w=600``), clamped to 8192.
* ``gravity`` is kept only with ``fit`` cover/crop/pad and both sides (the only fits that place).
* Continuous values are quantised (``STEPS``: tone 0.05, ``sharp`` 0.1, ``blur`` whole pixels,
  ``q`` 5), so the variants of one image are a finite set: ``sharp=1.01`` is ``sharp=1``, one
  stored variant, not a new one per spelling. Steps are below what an eye tells apart.
* Enum and hex values are case-insensitive; ``bg`` may carry ``#``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from urllib.parse import parse_qsl, urlencode

MAX_SIDE = 8192
NAMED_SIZES = {"s": 320, "m": 640, "l": 1080}
SOCIAL = (1200, 630)
FITS = ("scale-down", "contain", "cover", "crop", "pad")
GRAVITIES = (
    "center",
    "north",
    "south",
    "east",
    "west",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
    "auto",
)
FLIPS = ("h", "v", "hv")
ROTATIONS = (90, 180, 270)
FORMATS = ("jpg", "png", "webp", "avif", "gif")
TRANSPARENT = "transparent"
WHITE = "ffffff"

_INT = re.compile(r"[0-9]{1,9}")  # ASCII only: \d and int() also take "１２" and "٣"
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{0,9})?|\.[0-9]{1,9}")
_HEX = re.compile(r"#?([0-9a-f]{6}|[0-9a-f]{8})")
_MAX_QUERY = 16_384  # a longer query is cut: nothing legitimate needs it


@dataclass(frozen=True)
class TransformSpec:
    """A validated transform; every field optional, `TransformSpec()` means "serve as stored".

    Construction normalises (drops defaults and no-ops) and rejects out-of-range values with
    `ValueError`; `parse` only ever builds valid specs.
    """

    size: str | None = None  # "s" | "m" | "l" (social is folded into w/h/fit)
    w: int | None = None
    h: int | None = None
    fit: str | None = None  # None == "scale-down"
    gravity: str | None = None  # None == "center"
    q: int | None = None
    rotate: int | None = None
    flip: str | None = None
    cutout: bool = False
    bg: str | None = None  # "rrggbb", "rrggbbaa" or "transparent"; None == white
    brightness: float | None = None
    contrast: float | None = None
    gamma: float | None = None
    saturation: float | None = None
    blur: float | None = None
    sharp: float | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        _check(self)
        for name, value in _normalised(self).items():
            object.__setattr__(self, name, value)

    @property
    def fit_or_default(self) -> str:
        return self.fit or "scale-down"

    @property
    def gravity_or_default(self) -> str:
        return self.gravity or "center"

    @property
    def bg_rgba(self) -> tuple[int, int, int, int]:
        """The background as RGBA 0–255 (white when unset, (0,0,0,0) for transparent)."""
        if self.bg is None:
            return (255, 255, 255, 255)
        if self.bg == TRANSPARENT:
            return (0, 0, 0, 0)
        r, g, b = (int(self.bg[i : i + 2], 16) for i in (0, 2, 4))
        a = int(self.bg[6:8], 16) if len(self.bg) == 8 else 255
        return (r, g, b, a)


def _check(spec: TransformSpec) -> None:
    def bad(name: str) -> ValueError:
        return ValueError(f"invalid {name}: {getattr(spec, name)!r}")

    if spec.size is not None and spec.size not in NAMED_SIZES:
        raise bad("size")
    for name, limit in (("w", MAX_SIDE), ("h", MAX_SIDE), ("q", 100)):
        value = getattr(spec, name)
        if value is not None and not (isinstance(value, int) and 1 <= value <= limit):
            raise bad(name)
    for name, allowed in (
        ("fit", FITS),
        ("gravity", GRAVITIES),
        ("rotate", ROTATIONS),
        ("flip", FLIPS),
        ("format", FORMATS),
    ):
        value = getattr(spec, name)
        if value is not None and value not in allowed:
            raise bad(name)
    if spec.bg is not None and _canonical_bg(spec.bg) is None:
        raise bad("bg")
    for name, (low, high) in _DECIMAL_RANGES.items():
        number = getattr(spec, name)
        if number is not None and not (low <= number <= high):
            raise bad(name)


def _normalised(spec: TransformSpec) -> dict[str, object]:
    """The field values that make two specs with the same effect compare (and print) equal."""
    has_side = spec.w is not None or spec.h is not None
    has_box = spec.w is not None and spec.h is not None
    fit = spec.fit if has_side and spec.fit != "scale-down" else None
    if not has_box:  # with one side the box follows the source aspect: nothing to crop or pad
        fit = {"cover": "contain", "pad": "contain", "crop": None}.get(fit or "", fit)
    out: dict[str, object] = {
        "size": None if has_side else spec.size,
        "fit": fit,
        "cutout": bool(spec.cutout),
    }
    if spec.gravity == "center" or fit not in ("cover", "crop", "pad"):
        out["gravity"] = None
    if spec.bg is not None:
        bg = _canonical_bg(spec.bg)
        out["bg"] = None if bg == WHITE else bg
    for name, neutral in _NEUTRAL.items():
        raw = getattr(spec, name)
        if raw is not None:
            value = quantised(name, float(raw))
            out[name] = None if value in neutral else value
    if spec.q is not None:
        out["q"] = int(quantised("q", spec.q))
    return out


#: The grid each continuous parameter is rounded to (the README's Transforms table says so).
STEPS = {
    "brightness": 0.05,
    "contrast": 0.05,
    "gamma": 0.05,
    "saturation": 0.05,
    "sharp": 0.1,
    "blur": 1.0,
    "q": 5,
}


def quantised(name: str, value: float) -> float:
    """`value` on its parameter's grid (q never below one step: q=0 is not a quality)."""
    step = STEPS[name]
    steps = round(value / step)
    if name == "q":
        steps = max(1, steps)
    return round(steps * step, 3)


_DECIMAL_RANGES = {
    "brightness": (0.0, 10.0),
    "contrast": (0.0, 10.0),
    "gamma": (0.0, 10.0),
    "saturation": (0.0, 10.0),
    "blur": (1.0, 250.0),
    "sharp": (0.0, 10.0),
}
_NEUTRAL: dict[str, tuple[float, ...]] = {
    "brightness": (1.0,),
    "contrast": (1.0,),
    "gamma": (0.0, 1.0),
    "saturation": (1.0,),
    "blur": (),
    "sharp": (0.0,),
}


def _canonical_bg(raw: str) -> str | None:
    """ "transparent" (any zero alpha), "rrggbb" (opaque) or "rrggbbaa"; None when invalid."""
    value = raw.strip().lower()
    if value == TRANSPARENT:
        return TRANSPARENT
    match = _HEX.fullmatch(value)
    if not match:
        return None
    hex_value = match.group(1)
    if len(hex_value) == 8 and hex_value.endswith("00"):
        return TRANSPARENT
    return hex_value[:6] if hex_value.endswith("ff") and len(hex_value) == 8 else hex_value


# -- parsing ------------------------------------------------------------------------------------


def _int_in(raw: str, low: int, high: int) -> int | None:
    value = raw.strip()
    if not _INT.fullmatch(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def _decimal_in(raw: str, low: float, high: float) -> float | None:
    value = raw.strip()
    if not _DECIMAL.fullmatch(value):
        return None
    number = round(float(value), 3)
    return number if low <= number <= high else None


def _choice(raw: str, allowed: Iterable[str]) -> str | None:
    value = raw.strip().lower()
    return value if value in allowed else None


def _rotation(raw: str) -> int | None:
    value = _int_in(raw, 0, 360)
    return value if value in ROTATIONS else None


def _one(raw: str) -> bool | None:
    return True if raw.strip() == "1" else None


def _decimal_parser(low: float, high: float) -> Callable[[str], float | None]:
    return lambda raw: _decimal_in(raw, low, high)


_PARSERS: dict[str, Callable[[str], object]] = {
    "size": lambda raw: _choice(raw, (*NAMED_SIZES, "social")),
    "w": lambda raw: _int_in(raw, 1, MAX_SIDE),
    "h": lambda raw: _int_in(raw, 1, MAX_SIDE),
    "fit": lambda raw: _choice(raw, FITS),
    "gravity": lambda raw: _choice(raw, GRAVITIES),
    "dpr": _decimal_parser(1.0, 4.0),
    "q": lambda raw: _int_in(raw, 1, 100),
    "rotate": _rotation,
    "flip": lambda raw: _choice(raw, FLIPS),
    "cutout": _one,
    "bg": _canonical_bg,
    "strip": _one,
    "format": lambda raw: _choice(raw, FORMATS),
    **{name: _decimal_parser(low, high) for name, (low, high) in _DECIMAL_RANGES.items()},
}
PARAMETERS = tuple(_PARSERS)  # every query parameter the CDN reads (the docs name each one)


def _pairs(query: str | Mapping[str, str | list[str]]) -> Iterable[tuple[str, str]]:
    if isinstance(query, str):
        text = query[:_MAX_QUERY].lstrip("?")
        try:
            return parse_qsl(text, keep_blank_values=True, max_num_fields=None)
        except ValueError:
            return []
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, item) for item in values if isinstance(item, str))
    return pairs


def parse(query: str | Mapping[str, str | list[str]]) -> TransformSpec:
    """Parse a query string (or a mapping of name -> value(s)); never raises."""
    values: dict[str, object] = {}
    conflicting: set[str] = set()
    try:
        pairs = list(_pairs(query))
    except Exception:  # a hostile mapping: treat as no parameters
        pairs = []
    for name, raw in pairs:
        parser = _PARSERS.get(name)
        if parser is None or name in conflicting:
            continue
        value = parser(raw)
        if value is None:
            continue
        if name in values and values[name] != value:
            conflicting.add(name)
            del values[name]
            continue
        values[name] = value
    return _build(values)


def _build(values: dict[str, object]) -> TransformSpec:
    values.pop("strip", None)  # accepted for compatibility: metadata is always stripped
    dpr = values.pop("dpr", None)
    w, h = values.get("w"), values.get("h")
    if isinstance(dpr, float):
        for name, side in (("w", w), ("h", h)):
            if isinstance(side, int):
                values[name] = min(MAX_SIDE, math.floor(side * dpr + 0.5))
    if values.get("size") == "social":
        del values["size"]
        if w is None and h is None:
            values.update(w=SOCIAL[0], h=SOCIAL[1], fit="pad")
    values["cutout"] = bool(values.get("cutout"))
    return TransformSpec(**values)  # type: ignore[arg-type]


# -- printing -----------------------------------------------------------------------------------


def _print_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def canonical(spec: TransformSpec) -> str:
    """Stable, sorted query string for the spec ("" for identity); `parse` reads it back."""
    items = []
    for field in fields(spec):
        value = getattr(spec, field.name)
        if value is None or value is False:
            continue
        items.append((field.name, "1" if value is True else _print_value(value)))
    return urlencode(sorted(items))


def is_identity(spec: TransformSpec) -> bool:
    return spec == TransformSpec()


# -- named sizes --------------------------------------------------------------------------------


def named_size(width: int, height: int, size: str) -> tuple[int, int]:
    """Dimensions of a named size for a (display-oriented) source of width×height.

    s/m/l: short side 320/640/1080, long side truncated, never enlarged (the source dims when its
    short side is already smaller), and the long side capped at 8192 (the output limit, so the
    `sizes` object never promises more than the CDN renders). social: always 1200×630.
    """
    if size == "social":
        return SOCIAL
    target = NAMED_SIZES[size]
    short, long = min(width, height), max(width, height)
    if short <= target and long <= MAX_SIDE:
        return width, height
    # integer arithmetic: floats would truncate 639.99999 to 639
    if short > target and target * long <= MAX_SIDE * short:  # the short side binds
        new_short, new_long = target, long * target // short
    else:  # the long side would pass the output cap
        new_short, new_long = max(1, short * MAX_SIDE // long), MAX_SIDE
    return (new_short, new_long) if width <= height else (new_long, new_short)
