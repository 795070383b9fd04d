"""SVG sanitising: what an uploaded SVG may keep before imgpro serves it.

The SVG is parsed with defusedxml, so entities are never expanded: a DOCTYPE that declares entities
(billion laughs, external entities) is refused; a plain DOCTYPE is accepted and dropped, as are
comments and processing instructions (``<?xml-stylesheet?>``). Then, keeping the drawing intact:

* elements outside the SVG namespace are dropped (HTML islands, editor metadata, RDF/XMP);
* ``script``, ``foreignObject``, ``iframe``/``embed``/``object`` and friends are dropped;
* animations (``set``, ``animate``, ...) that target ``href`` or an ``on*`` attribute are dropped;
* ``on*`` attributes, attributes in foreign namespaces (``xml:base`` included) and every
  ``href``/``xlink:href`` that is not a same-document ``#fragment`` are dropped;
* attributes and ``<style>`` sheets that reach outside the document (``url(...)`` not ``#...``,
  ``@import``, ``image-set``) are dropped.

The result is re-serialised by hand, so it is always well-formed, uses the default SVG namespace and
holds nothing the parser did not understand.
"""

from __future__ import annotations

import contextlib
import math
import re
from xml.etree.ElementTree import Element, ParseError
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from imgpro.errors import invalid

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_DROPPED_ELEMENTS = {
    "script",
    "foreignobject",
    "iframe",
    "embed",
    "object",
    "applet",
    "frame",
    "frameset",
    "handler",
    "listener",
    "meta",
    "link",
    "base",
}
_ANIMATIONS = {"set", "animate", "animatecolor", "animatemotion", "animatetransform", "discard"}

_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_URL = re.compile(r"url\s*\(\s*(['\"]?)\s*(?P<target>[^)'\"]*)", re.IGNORECASE)
_CSS_OUTWARD = re.compile(r"@import|image-set\s*\(|image\s*\(|expression\s*\(", re.IGNORECASE)


def sanitize_svg(data: bytes, *, field: str = "file") -> bytes:
    """A safe, well-formed copy of an SVG document; :func:`invalid` when it cannot be made one."""
    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise invalid(
            field,
            "The SVG declares XML entities, which are not allowed; "
            "remove the DOCTYPE and upload it again.",
        ) from None
    except (ParseError, ValueError, UnicodeError):
        raise invalid(
            field, "The SVG is not well-formed XML; export it again and upload the new file."
        ) from None
    if _local(root.tag) != "svg" or _namespace(root.tag) not in ("", SVG_NS):
        raise invalid(field, "The file is not an SVG image; its root element must be <svg>.")
    _clean(root)
    return _serialise(root)


def _clean(root: Element) -> None:
    """Strip, in place and without recursion (a hostile file may nest very deep), what is unsafe."""
    stack = [root]
    while stack:
        element = stack.pop()
        for child in list(element):
            if _keeps(child):
                _clean_attributes(child)
                stack.append(child)
            else:
                _remove_keeping_tail(element, child)
        if element is root:
            _clean_attributes(root)
        if _local(element.tag) == "style" and not _safe_css(element.text or ""):
            element.text = ""


def _keeps(element: Element) -> bool:
    if not isinstance(element.tag, str) or _namespace(element.tag) not in ("", SVG_NS):
        return False
    name = _local(element.tag).lower()
    if name in _DROPPED_ELEMENTS:
        return False
    if name in _ANIMATIONS:
        target = element.get("attributeName", "").rpartition(":")[2].strip().lower()
        return not (target == "href" or target.startswith("on") or target == "style")
    return True


def _clean_attributes(element: Element) -> None:
    for key, value in list(element.attrib.items()):
        if not _safe_attribute(key, value):
            del element.attrib[key]


def _safe_attribute(key: str, value: str) -> bool:
    namespace, name = _namespace(key), _local(key).lower()
    if namespace not in ("", XLINK_NS, XML_NS) or key == f"{{{XML_NS}}}base":
        return False
    if name.startswith("on"):
        return False
    if name == "href":
        return value.strip().startswith("#")
    return _safe_css(value) if ("(" in value or "@" in value) else True


def _safe_css(css: str) -> bool:
    """Whether a style sheet or attribute value refers to nothing outside the document."""
    text = _CSS_COMMENT.sub("", _CSS_ESCAPE.sub(_unescape, css))
    if _CSS_OUTWARD.search(text):
        return False
    return all(m["target"].strip().startswith("#") for m in _CSS_URL.finditer(text))


def _unescape(match: re.Match[str]) -> str:
    if match[1]:
        code = int(match[1], 16)
        return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"
    return match[2]


def _remove_keeping_tail(parent: Element, child: Element) -> None:
    """Drop ``child``; the text after it belongs to the parent and stays."""
    if child.tail:
        index = list(parent).index(child)
        if index:
            previous = parent[index - 1]
            previous.tail = (previous.tail or "") + child.tail
        else:
            parent.text = (parent.text or "") + child.tail
    parent.remove(child)


def _serialise(root: Element) -> bytes:
    """UTF-8 SVG with the default namespace; only SVG, xlink and xml names can be left by now."""
    uses_xlink = any(_namespace(k) == XLINK_NS for el in root.iter() for k in el.attrib)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    namespaces = f' xmlns="{SVG_NS}"' + (f' xmlns:xlink="{XLINK_NS}"' if uses_xlink else "")
    # (element, closing?) pairs: an explicit stack instead of recursion, for deep documents
    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        element, closing = stack.pop()
        name = _local(element.tag)
        if closing:
            parts.append(f"</{name}>{_text(element.tail)}")
            continue
        attributes = "".join(f' {_attribute_name(k)}="{_attr(v)}"' for k, v in element.items())
        if element is root:
            attributes = namespaces + attributes
        children = list(element)
        if not children and not element.text:
            parts.append(f"<{name}{attributes}/>{_text(element.tail)}")
            continue
        parts.append(f"<{name}{attributes}>{_text(element.text)}")
        stack.append((element, True))
        stack.extend((child, False) for child in reversed(children))
    return "".join(parts).encode("utf-8")


def _attribute_name(key: str) -> str:
    namespace = _namespace(key)
    prefix = {XLINK_NS: "xlink:", XML_NS: "xml:"}.get(namespace, "")
    return prefix + _local(key)


def _text(text: str | None) -> str:
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return (
        _text(value)
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# ---- size ---------------------------------------------------------------------------------------

#: What a browser draws an SVG at when it states neither a size nor a viewBox (CSS's default object
#: size), so the Image object always has positive integers to report.
DEFAULT_SIZE = (300, 150)
_MAX_SIDE = 2**31 - 1
_PX_PER_UNIT = {"": 1.0, "px": 1.0, "pt": 96 / 72, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54}
_PX_PER_UNIT["in"] = 96.0
_LENGTH = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d{1,3}))?\s*([a-z]*)\s*\Z", re.I)


def svg_size(svg: bytes) -> tuple[int, int]:
    """Width and height in CSS pixels of a sanitised SVG, from its root element.

    ``width``/``height`` in absolute units win; a missing one follows the ``viewBox`` aspect ratio;
    without either, the ``viewBox`` size; with nothing, :data:`DEFAULT_SIZE`. Percentages and
    font-relative units count as missing. Rounded, and clamped to 1 … 2**31 - 1.
    """
    root = _root_attributes(svg)
    width, height = _length(root.get("width")), _length(root.get("height"))
    box = _view_box(root.get("viewBox"))
    if box:
        if width is None and height is None:
            width, height = box
        elif width is None and height is not None:
            width = height * box[0] / box[1]
        elif height is None and width is not None:
            height = width * box[1] / box[0]
    return (
        _side(width if width is not None else DEFAULT_SIZE[0]),
        _side(height if height is not None else DEFAULT_SIZE[1]),
    )


def _root_attributes(svg: bytes) -> dict[str, str]:
    """The root element's attributes, reading no further than its start tag."""
    found: dict[str, str] = {}

    class Found(Exception):
        pass

    def start(name: str, attributes: dict[str, str]) -> None:
        found.update(attributes)
        raise Found

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    with contextlib.suppress(Found, expat.ExpatError):
        parser.Parse(svg, True)
    return found


def _length(value: str | None) -> float | None:
    match = _LENGTH.match(value or "")
    if not match or match[3].lower() not in _PX_PER_UNIT:
        return None
    number = float(match[1]) * 10 ** int(match[2] or 0) * _PX_PER_UNIT[match[3].lower()]
    return number if number > 0 else None


def _view_box(value: str | None) -> tuple[float, float] | None:
    parts = re.split(r"[\s,]+", (value or "").strip())
    try:
        width, height = float(parts[2]), float(parts[3])
    except (IndexError, ValueError):
        return None
    if len(parts) != 4 or not (0 < width < 1e12 and 0 < height < 1e12):
        return None
    return width, height


def _side(value: float) -> int:
    return min(max(1, round(value)), _MAX_SIDE) if math.isfinite(value) else _MAX_SIDE
