"""The official "Continue with img.pro" button as a self-contained HTML snippet, for the docs
and the Apps page. The SDK's `imgpro_sdk.button` makes the very same markup (the SDK cannot
import the server, nor the server the SDK); tests/docs/test_docs.py holds the two equal.

Use it unmodified: dark on light pages, `variant="light"` on dark ones, `"short"` (the mark and
"img.pro") where space is tight, `"icon"` in a row of sign-in icons. The snippet carries its own
<style>, so it needs no stylesheet and loads nothing from another origin.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

LABEL = "Continue with img.pro"
PLACEHOLDER_STATE = "YOUR_STATE"
VARIANTS = ("dark", "light", "short", "icon")
VARIANT_NAMES = {
    "dark": "Dark, for light pages",
    "light": "Light, for dark pages",
    "short": "Short, where space is tight",
    "icon": "Icon, in a row of sign-in icons",
}
GLOBE = (
    '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" '
    'stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">'
    '<circle cx="12" cy="12" r="10"/><path d="M2 12h20"/><path d="M12 2a15.3 15.3 0 0 1 4 10 '
    '15.3 15.3 0 0 1-4 10 15.3 15.3 0 0 1-4-10 15.3 15.3 0 0 1 4-10z"/></svg>'
)
STYLE = (
    "<style>.imgpro-btn{display:inline-flex;align-items:center;justify-content:center;gap:9px;"
    "padding:12px 16px;border-radius:8px;border:1px solid #0a0a0a;background:#0a0a0a;"
    "color:#fff;font:500 14px/1.2 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "text-decoration:none;cursor:pointer}.imgpro-btn:hover{background:#1a1a1a}"
    ".imgpro-btn svg{width:18px;height:18px;flex:none}"
    ".imgpro-btn-light{background:#fff;color:#0a0a0a;border-color:#e5e5e5}"
    ".imgpro-btn-light:hover{background:#f0f0f0}.imgpro-btn-icon{padding:12px}</style>"
)


def button(url: str, variant: str = "dark") -> str:
    """The button linking to `url` (a /connect URL)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant is one of {', '.join(VARIANTS)}")
    classes = {"dark": "imgpro-btn", "light": "imgpro-btn imgpro-btn-light"}.get(
        variant, f"imgpro-btn imgpro-btn-{variant}"
    )
    href = escape(url, quote=True)
    if variant == "icon":
        return f'<a class="{classes}" href="{href}" aria-label="{LABEL}">{GLOBE}</a>{STYLE}'
    text = "img.pro" if variant == "short" else LABEL
    return f'<a class="{classes}" href="{href}">{GLOBE}{text}</a>{STYLE}'


def connect_url(web_url: str, app_id: str, redirect_uri: str) -> str:
    """The hosted login link for snippets: `YOUR_STATE` marks where the app puts its own
    random state, fresh for each sign-in."""
    query = urlencode({"app": app_id, "redirect_uri": redirect_uri})
    return f"{web_url}/connect?{query}&state={PLACEHOLDER_STATE}"
