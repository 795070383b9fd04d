"""Markdown to HTML (markdown-it-py, CommonMark + tables) with an id on every heading, the
page's table of contents, and plain-text sections for the search. Values in, values out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

_MD = MarkdownIt("commonmark", {"html": True}).enable("table")
_SLUG_DROP = re.compile(r"[^a-z0-9 _-]")


def slugify(text: str) -> str:
    return re.sub(r"[\s_]+", "-", _SLUG_DROP.sub("", text.lower())).strip("-") or "section"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Section:
    """A heading and the plain text under it: what the search looks through."""

    heading: str
    anchor: str
    text: str


@dataclass(frozen=True)
class Rendered:
    html: str
    headings: list[Heading]
    sections: list[Section]


def _plain(tokens: list[Token]) -> str:
    parts = [t.content for t in tokens if t.type in ("inline", "fence", "code_block")]
    return " ".join(" ".join(parts).split())


def render(markdown: str) -> Rendered:
    tokens = _MD.parse(markdown)
    headings: list[Heading] = []
    used: set[str] = set()
    starts: list[int] = []
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = tokens[index + 1].content
        anchor = base = slugify(text)
        counter = 2
        while anchor in used:  # the same heading twice on a page gets -2, -3, ...
            anchor, counter = f"{base}-{counter}", counter + 1
        used.add(anchor)
        token.attrSet("id", anchor)
        headings.append(Heading(int(token.tag[1]), text, anchor))
        starts.append(index)
    sections = []
    for number, (heading, start) in enumerate(zip(headings, starts, strict=True)):
        end = starts[number + 1] if number + 1 < len(starts) else len(tokens)
        sections.append(Section(heading.text, heading.anchor, _plain(tokens[start + 3 : end])))
    html = _MD.renderer.render(tokens, _MD.options, {})
    return Rendered(html, headings, sections)
