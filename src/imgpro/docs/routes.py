"""The docs on the web surface: /api (index), /api/<page>, /api/search, /llms.txt and
/llms-full.txt, all from the Markdown in content/."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from imgpro.deps import Db, Rt
from imgpro.docs import llms
from imgpro.docs.pages import BY_SLUG, PAGES, DocsContext, page_markdown
from imgpro.docs.render import render
from imgpro.docs.sample import sample_image
from imgpro.docs.search import search
from imgpro.images.schemas import image_url
from imgpro.web.pages import not_found_page
from imgpro.web.pages import render as render_page

router = APIRouter()


async def _context(request: Request, db: Db, rt: Rt) -> DocsContext:
    sample = await sample_image(db, rt)
    return DocsContext(rt.settings, request.app.state.openapi(), image_url(rt.settings, sample))


@router.get("/api")
async def docs_index(request: Request) -> Response:
    return render_page(request, "docs/index.html", {"pages": PAGES, "current": None})


@router.get("/api/search")
async def docs_search(request: Request, db: Db, rt: Rt) -> Response:
    query = request.query_params.get("q", "")[:200]
    context = await _context(request, db, rt)
    results = search(query, context) if query.strip() else []
    return render_page(
        request,
        "docs/search.html",
        {"pages": PAGES, "current": None, "query": query, "results": results},
    )


@router.get("/api/{slug}")
async def docs_page(slug: str, request: Request, db: Db, rt: Rt) -> Response:
    page = BY_SLUG.get(slug)
    if page is None:
        return not_found_page(request)
    rendered = render(page_markdown(page, await _context(request, db, rt)))
    return render_page(
        request,
        "docs/page.html",
        {
            "pages": PAGES,
            "current": page,
            "content": rendered.html,
            "toc": [h for h in rendered.headings if h.level == 2],
        },
    )


@router.get("/llms.txt")
async def llms_txt(rt: Rt) -> Response:
    return PlainTextResponse(llms.summary(rt.settings))


@router.get("/llms-full.txt")
async def llms_full_txt(request: Request, db: Db, rt: Rt) -> Response:
    return PlainTextResponse(llms.full(await _context(request, db, rt)))
