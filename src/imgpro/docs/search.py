"""Search over the docs: every section whose heading or text holds all the query's words,
headings first. Values in, values out (the pages are rendered from the same Markdown)."""

from __future__ import annotations

from dataclasses import dataclass

from imgpro.docs.pages import PAGES, DocsContext, Page, page_markdown
from imgpro.docs.render import render

MAX_RESULTS = 30
SNIPPET = 160


@dataclass(frozen=True)
class Hit:
    page: Page
    heading: str
    anchor: str
    snippet: str
    score: int


def _snippet(text: str, word: str) -> str:
    at = text.lower().find(word)
    if at < 0:
        return text[:SNIPPET]
    start = max(0, at - SNIPPET // 3)
    cut = text[start : start + SNIPPET]
    return ("…" if start else "") + cut + ("…" if start + SNIPPET < len(text) else "")


def search(query: str, context: DocsContext) -> list[Hit]:
    words = [word for word in query.lower().split() if word]
    if not words:
        return []
    hits = []
    for page in PAGES:
        for section in render(page_markdown(page, context)).sections:
            heading, text = section.heading.lower(), section.text.lower()
            if not all(word in heading or word in text for word in words):
                continue
            score = sum(3 if word in heading else 1 for word in words)
            hits.append(
                Hit(page, section.heading, section.anchor, _snippet(section.text, words[0]), score)
            )
    hits.sort(key=lambda hit: -hit.score)  # stable: equal scores keep the pages' order
    return hits[:MAX_RESULTS]
