"""The public pages over HTTP: the home page (plans from the catalogue in force, a live demo
from this instance, a header that knows the session), the favicon, one 404 page for every
unknown address."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make


def test_home_page_says_what_imgpro_is_and_shows_the_default_plans(stack: Stack) -> None:
    page = stack.client().get("/")
    assert page.status_code == 200
    text = page.text
    assert "identity, image storage, image CDN and billing" in text
    for name, price in (("Free", None), ("Pro", "$9"), ("Scale", "$29"), ("Max", "$99")):
        assert f">{name}</h3>" in text
        if price:
            assert f'<p class="price">{price}<small>/month</small>' in text
    assert "1,000 uploads a month" in text and "10 GiB of storage" in text
    for link in ("/api", "/api/transforms", "/api/app", "/openapi.json", "/llms.txt"):
        assert f'{link}"' in text
    # the demo images are this instance's CDN transforming one upload
    demos = re.findall(r'<img src="([^"]+)"', text)
    assert len(demos) == 4 and all(url.startswith(stack.settings.cdn_url) for url in demos)
    for url in demos:
        rendered = httpx.get(url, timeout=60)
        assert rendered.status_code == 200 and rendered.headers["content-type"].startswith("image/")


def test_the_header_knows_the_session(stack: Stack) -> None:
    visitor = stack.client()
    signed_out = visitor.get("/").text
    assert ">Sign in</a>" in signed_out and ">Get started</a>" in signed_out
    assert "btn-imgpro" not in signed_out  # the "Continue with img.pro" button is for apps
    person = stack.user()
    idf.sign_in(stack, visitor, person.email)
    signed_in = visitor.get("/").text
    assert ">Sign in</a>" not in signed_in and ">Dashboard</a>" in signed_in
    assert f"Signed in as {person.email}" in signed_in


def test_the_attribution_line_is_only_on_the_hosted_login(stack: Stack) -> None:
    attribution = "Account &amp; images secured by img.pro"
    assert attribution not in stack.client().get("/").text
    assert attribution not in stack.client().get("/signin").text
    app = idf.register_app(stack)
    assert attribution in stack.client().get(idf.connect_url(app)).text


def test_favicon_is_an_icon(stack: Stack) -> None:
    icon = stack.client().get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # the ICO header


def test_one_404_page_for_every_unknown_address(stack: Stack) -> None:
    client = stack.client()
    person = stack.user()
    signed_in = stack.client()
    idf.sign_in(stack, signed_in, person.email)
    pages = [
        client.get("/nope"),
        client.get("/zzzzzzzz"),  # shaped like an image id
        client.get("/a/b/c"),
        signed_in.get("/dashboard/nope"),
        client.get("/api/nope"),
    ]
    for page in pages:
        assert page.status_code == 404
        assert "<h1>Page not found</h1>" in page.text
        assert "Image not found" not in page.text


def test_upload_answers_compact_json_like_every_endpoint(stack: Stack) -> None:
    created = stack.client().post("/v1/images", files={"file": ("a.png", make.png(8, 8))})
    assert created.status_code == 201
    assert "\n" not in created.text and '": ' not in created.text


def _signed_in(stack: Stack) -> tuple[httpx.Client, httpx.Client, str]:
    person = stack.user()
    browser = stack.client()
    idf.sign_in(stack, browser, person.email)
    return browser, stack.client(stack.key(person)), person.id


def test_image_cards_show_caption_size_named_sizes_and_a_copy_button(stack: Stack) -> None:
    browser, api, _ = _signed_in(stack)
    image = api.post(
        "/v1/images", files={"file": ("harbour.png", make.png(640, 420))}, data={"caption": "Dusk"}
    ).json()
    page = browser.get("/dashboard").text
    assert ">Dusk" in page and "640 × 420 · PNG" in page
    assert f'data-copy-text="{image["url"]}"' in page and ">Copy URL</button>" in page
    for name in ("small", "medium", "large"):
        assert f'href="{image["sizes"][name]["url"]}"' in page
    assert 'id="file"' in page and "Drop an image here" in page


def test_images_are_paged(stack: Stack) -> None:
    browser, api, _ = _signed_in(stack)
    for _ in range(49):  # one more than a page
        assert api.post("/v1/images", files={"file": ("a.png", make.png(8, 8))}).status_code == 201
    first = browser.get("/dashboard").text
    older = re.search(r'href="([^"]+\?cursor=[^"]+)">Older images', first)
    assert older and "← Newest" not in first
    second = browser.get(older.group(1).replace("&amp;", "&")).text
    assert second.count('class="tile"') == 1 and "← Newest" in second


def test_viewer_offers_download_copy_link_sizes_and_an_embed_with_srcset(stack: Stack) -> None:
    browser, api, _ = _signed_in(stack)
    image = api.post(
        "/v1/images", files={"file": ("Hafen am Abend.png", make.png(640, 420))}
    ).json()
    visitor = stack.client().get(f"/{image['id']}").text
    assert "You own this image" not in visitor
    assert f'data-copy-text="{image["page_url"]}"' in visitor
    assert f'href="{stack.settings.web_url}/{image["id"]}/download"' in visitor
    for name in ("small", "medium", "large"):
        assert f'href="{image["sizes"][name]["url"]}"' in visitor
        assert f"{image['sizes'][name]['url']} {image['sizes'][name]['width']}w" in visitor
    assert "&lt;img src=" in visitor and "srcset=" in visitor
    assert "You own this image" in browser.get(f"/{image['id']}").text
    download = stack.client().get(f"/{image['id']}/download")
    assert download.status_code == 200 and download.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"Hafen am Abend.png\"; filename*=UTF-8''Hafen%20am%20Abend.png"
    )
    assert stack.client().get("/zzzzzzzz/download").status_code == 404
