"""The docs, written once: each page is a Markdown file in content/ with this instance's base URLs
and generated parts (the error catalogue, the API reference, the button snippets) filled in by
Jinja. The same Markdown becomes the HTML pages, /llms.txt and /llms-full.txt."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from imgpro.billing.plans import catalogue, price_label
from imgpro.docs.reference import reference_markdown
from imgpro.errors import CATALOGUE
from imgpro.images.fields import MAX_CAPTION, MAX_LABELS
from imgpro.media.transform import PARAMETERS
from imgpro.settings import Settings
from imgpro.units import storage_text
from imgpro.web.brand import connect_url
from imgpro.web.pages import TEMPLATES

CONTENT = Path(__file__).parent / "content"
_ENV = Environment(
    loader=FileSystemLoader(CONTENT),
    autoescape=False,  # Markdown, not HTML: the renderer escapes what it outputs
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    summary: str

    @property
    def path(self) -> str:
        return f"/api/{self.slug}"


PAGES = (
    Page("quick-start", "Quick start", "Upload an image and use its URL, in two minutes."),
    Page("authentication", "Authentication", "Anonymous calls, API keys and app secrets."),
    Page("image-object", "The Image object", "Every field every image answer carries."),
    Page("transforms", "Transforms", "Resize, crop, convert and retouch with URL parameters."),
    Page("errors", "Errors", "The error envelope and every error code."),
    Page("app", "Building an app", "Sign users in with img.pro, store their images, bill them."),
    Page("sdk", "Python SDK", "imgpro_sdk: the app integration in a few lines."),
    Page("webhooks", "Webhooks", "Events to your app, signed with Standard Webhooks."),
    Page("reference", "API reference", "Every endpoint, generated from the OpenAPI document."),
    Page("self-hosting", "Self-hosting", "Run imgpro yourself: settings, scale-out, operations."),
)
BY_SLUG = {page.slug: page for page in PAGES}
PLACEHOLDER_APP = "YOUR_APP_ID"


@dataclass
class DocsContext:
    """What the Markdown may use: base URLs, the OpenAPI document, the sample image's URL."""

    settings: Settings
    openapi: dict[str, Any]
    sample_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "web_url": settings.web_url,
            "api_url": settings.api_url,
            "cdn_url": settings.cdn_url,
            "sample_url": self.sample_url,
            "error_table": error_table(),
            "transform_parameters": PARAMETERS,
            "plans_table": plans_table(settings),
            # as the Image object page writes them; images.fields defines them
            "image_limits": {"caption": f"{MAX_CAPTION:,}", "labels": MAX_LABELS},
            "settings_table": settings_table(),
            "reference": reference_markdown(
                self.openapi, settings.web_url, settings.api_url, settings.cdn_url
            ),
            "button_snippets": button_snippets(settings.web_url),
            "page_url": lambda slug: settings.web_url + BY_SLUG[slug].path,
        }


def button_snippets(web_url: str) -> str:
    """Each variant as a live preview and its HTML to copy (raw HTML inside the Markdown; the
    same partial as the Apps page)."""
    url = connect_url(web_url, PLACEHOLDER_APP, "https://yourapp.example/callback")
    return TEMPLATES.env.get_template("_button_snippets.html").render(snippet_url=url)


def error_table() -> str:
    lines = ["| Code | Status | Type | Meaning |", "|---|---|---|---|"]
    for code, kind in CATALOGUE.items():
        lines.append(f"| `{code}` | {kind.status} | `{kind.type}` | {kind.message} |")
    return "\n".join(lines)


def plans_table(settings: Settings) -> str:
    lines = ["| Plan | Monthly | Annual | Uploads a month | Storage |", "|---|---|---|---|---|"]
    for plan in catalogue(settings).plans:
        prices = {interval: price_label(price) for interval, price in plan.prices.items()}
        lines.append(
            f"| {plan.name} | {prices.get('monthly', '—')} | {prices.get('annual', '—')} "
            f"| {plan.monthly_uploads:,} | {storage_text(plan.storage_bytes)} |"
        )
    return "\n".join(lines)


def settings_table() -> str:
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, spec in Settings.model_fields.items():
        default = "" if spec.default_factory is not None else spec.default
        shown = f"`{default}`" if default not in ("", None) else "—"
        lines.append(f"| `IMGPRO_{name.upper()}` | {shown} | {spec.description or ''} |")
    return "\n".join(lines)


def page_markdown(page: Page, context: DocsContext) -> str:
    """The page's Markdown, headed by its title: the one source of the HTML page and of its
    part of /llms-full.txt."""
    body = _ENV.get_template(f"{page.slug}.md").render(context.variables())
    return f"# {page.title}\n\n{body}"
