"""img.pro's WordPress plugin against imgpro: every flow of its API class, with an app key of
each data access ("App storage only" and "App-wide"), on SQLite and PostgreSQL. Each test
asserts what imgpro answers and what the plugin then decides (tests/compat/plugin.py)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import BytesParser
from urllib.parse import urlsplit

import pytest

from tests.compat.conftest import IMAGE_LIMIT, REQUESTS_PER_MINUTE
from tests.compat.plugin import Failure, PluginApi, connect, decide, has_room
from tests.conftest import Stack
from tests.factories import identity as idf
from tests.factories import images as make

SITE = "blog.example"


@dataclass
class Plugin:
    api: PluginApi
    app: idf.RegisteredApp
    stack: Stack

    def upload(self, n: int, key: str | None = None, **labels: str) -> dict | Failure:
        """The sync's upload of one media file: labels site/wp_id/wp_size, metadata
        wp_file/wp_bytes/wp_md5, a key per file version."""
        contents = make.png(8 + n, 8)
        return self.api.upload_file(
            f"photo-{n}.png",
            contents,
            {"site": SITE, "wp_id": str(n), "wp_size": "full", **labels},
            {"wp_file": f"2026/11/photo-{n}.png", "wp_bytes": str(len(contents))},
            key or f"bs-{n:032x}",
        )


@pytest.fixture
def plugin_with(plugin_stack: Stack) -> Iterator[Callable[[str], PluginApi]]:
    """The plugin holding a given key (closed after the test)."""
    made: list[PluginApi] = []

    def make_api(key: str) -> PluginApi:
        made.append(PluginApi(plugin_stack.base_url, key))
        return made[-1]

    yield make_api
    for api in made:
        api.close()


@pytest.fixture(params=["app", "app-wide"])
def plugin(
    request: pytest.FixtureRequest, plugin_stack: Stack, plugin_with: Callable[[str], PluginApi]
) -> Plugin:
    """A fresh app (so a fresh App storage) and the plugin holding one of its keys."""
    app = idf.register_app(plugin_stack)
    return Plugin(plugin_with(idf.app_key(plugin_stack, app, request.param)), app, plugin_stack)


def ok(result: object) -> dict:
    assert not isinstance(result, Failure), result
    assert isinstance(result, dict)
    return result


def failed(result: object, status: int, code: str) -> Failure:
    assert isinstance(result, Failure), result
    assert (result.status, result.code) == (status, code), result
    return result


# -- connecting a key


def test_connect_reads_usage_and_probes_write_access(plugin: Plugin) -> None:
    assert connect(plugin.api) == "connected"
    probe = plugin.api.sent[-1]
    usage = ok(plugin.api.get_usage())
    assert usage["limits"]["images"] == {"used": 0, "limit": IMAGE_LIMIT}
    assert usage["limits_enforced"] is True and has_room(usage)
    assert (probe.method, probe.url.path, probe.content) == ("POST", "/v1/images", b"{}")
    assert "x-img-user" not in probe.headers
    assert probe.headers["authorization"] == f"Bearer {plugin.api.api_key}"
    assert ok(plugin.api.get_usage())["totals"]["images_stored"] == 0  # the probe made nothing


@pytest.mark.parametrize(
    ("abilities", "outcome"), [("read", "cannot-write"), ("write", "cannot-read")]
)
def test_connect_names_the_missing_permission(
    plugin_stack: Stack, plugin_with: Callable[[str], PluginApi], abilities: str, outcome: str
) -> None:
    app = idf.register_app(plugin_stack)
    for access in ("app", "app-wide"):
        assert connect(plugin_with(idf.app_key(plugin_stack, app, access, abilities))) == outcome


def test_connect_refuses_unknown_keys_and_machine_secrets(
    plugin_stack: Stack, plugin_with: Callable[[str], PluginApi]
) -> None:
    assert connect(plugin_with("img_live_" + "x" * 32)) == "key-not-recognised"
    # the app's machine secret needs X-Img-User, which the plugin never sends
    secret = plugin_with(idf.register_app(plugin_stack).secret)
    assert connect(secret) == "refused:validation_error"


def test_a_suspended_app_stops_app_wide_keys_only(
    plugin_stack: Stack, plugin_with: Callable[[str], PluginApi]
) -> None:
    app = idf.register_app(plugin_stack)
    storage_only = plugin_with(idf.app_key(plugin_stack, app, "app"))
    app_wide = plugin_with(idf.app_key(plugin_stack, app, "app-wide"))
    idf.suspend(plugin_stack, app.id)
    try:
        assert connect(storage_only) == "connected"
        assert connect(app_wide) == "app_suspended"
        refused = failed(Plugin(app_wide, app, plugin_stack).upload(1), 403, "app_suspended")
        assert decide(refused) == "pause-app"
        assert "id" in ok(Plugin(storage_only, app, plugin_stack).upload(1))
    finally:
        idf.suspend(plugin_stack, app.id, "active")
    assert connect(app_wide) == "connected"


# -- uploads


def test_an_upload_sends_labels_and_metadata_as_json_strings(plugin: Plugin) -> None:
    image = ok(plugin.upload(1))
    assert image["labels"] == {"site": SITE, "wp_id": "1", "wp_size": "full"}
    assert image["metadata"]["wp_file"] == "2026/11/photo-1.png"
    assert image["filename"] == "photo-1.png" and image["public"] is True
    assert plugin.stack.client().get(image["url"]).status_code == 200

    sent = plugin.api.sent[-1]
    boundary = sent.headers["content-type"].split("boundary=")[1]
    assert re.fullmatch(r"imgpro[0-9a-f]{32}", boundary)
    assert sent.headers["idempotency-key"] == f"bs-{1:032x}"
    envelope = b"Content-Type: " + sent.headers["content-type"].encode() + b"\r\n\r\n"
    parts = BytesParser().parsebytes(envelope + sent.content).get_payload()
    assert [part.get_param("name", header="content-disposition") for part in parts] == [
        "labels",
        "metadata",
        "file",
    ]
    wp_bytes = image["metadata"]["wp_bytes"]
    assert (
        parts[1].get_payload()
        == '{"wp_file":"2026\\/11\\/photo-1.png","wp_bytes":"' + wp_bytes + '"}'
    )


def test_a_retry_with_the_same_key_replays_and_a_changed_file_conflicts(plugin: Plugin) -> None:
    first = ok(plugin.upload(2, key="bs-retry"))
    assert ok(plugin.upload(2, key="bs-retry"))["id"] == first["id"]
    assert ok(plugin.api.get_usage())["limits"]["images"]["used"] == 1

    rewritten = failed(plugin.upload(3, key="bs-retry"), 409, "idempotency_key_conflict")
    assert decide(rewritten) == "requeue"
    assert ok(plugin.api.get_usage())["limits"]["images"]["used"] == 1


def test_concurrent_retries_of_one_upload_store_it_once(
    plugin: Plugin, plugin_with: Callable[[str], PluginApi]
) -> None:
    """Two runs of the plugin sending the same file version at once: one stores it, the other
    replays it or is told the first is still running (and waits)."""
    twins = [plugin.api, *(plugin_with(plugin.api.api_key) for _ in range(3))]
    start = threading.Barrier(len(twins))

    def send(api: PluginApi) -> dict | Failure:
        start.wait()
        return Plugin(api, plugin.app, plugin.stack).upload(7, key="bs-twins")

    with ThreadPoolExecutor(len(twins)) as pool:
        results = list(pool.map(send, twins))
    stored = {result["id"] for result in results if isinstance(result, dict)}
    assert len(stored) == 1
    for result in results:
        if isinstance(result, Failure):
            assert (result.status, result.code) == (409, "idempotency_key_in_progress")
            assert decide(result) == f"wait-{max(30, result.retry_after)}"
    assert ok(plugin.api.get_usage())["limits"]["images"]["used"] == 1


def test_a_file_imgpro_cannot_read_fails_that_file_only(plugin: Plugin) -> None:
    broken = plugin.api.upload_file("broken.png", b"not a png", {"site": SITE}, {}, "bs-broken")
    refused = failed(broken, 422, "validation_error")
    assert decide(refused) == "fail-file" and refused.message != "Validation failed."
    assert "id" in ok(plugin.upload(4))


# -- imports from other websites


def test_an_import_stores_the_image_and_names_its_address(plugin: Plugin, website: str) -> None:
    url = f"{website}/photo.png"
    image = ok(
        plugin.api.import_url(url, {"site": SITE, "wp_size": "remote"}, {"wp_url": url}, "k1")
    )
    assert image["metadata"] == {"wp_url": url} and image["labels"]["wp_size"] == "remote"
    sent = plugin.api.sent[-1]
    assert sent.headers["content-type"] == "application/json"
    assert b'"url":"http:\\/\\/127.0.0.2' in sent.content  # wp_json_encode escapes slashes


def test_an_import_that_fails_at_the_source_says_whether_to_retry(
    plugin: Plugin, website: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        closed = f"http://127.0.0.2:{probe.getsockname()[1]}/a.png"
    cases = [
        (f"{website}/missing.png", 502, "fail-source"),  # answered with an error
        (closed, 502, "fail-source"),  # could not be reached
        (f"{website}/slow.png", 504, "retry-later"),  # did not answer in time
    ]
    for n, (url, status, decision) in enumerate(cases):
        result = plugin.api.import_url(url, {"site": SITE}, {"wp_url": url}, f"imp-{n}")
        assert decide(failed(result, status, "fetch_failed")) == decision
    private = plugin.api.import_url("http://127.0.0.1:9/a.png", {"site": SITE}, {}, "imp-9")
    assert decide(failed(private, 422, "validation_error")) == "fail-file"
    assert ok(plugin.api.get_usage())["limits"]["images"]["used"] == 0


# -- finding, checking and deleting copies


def test_listing_a_sites_images_follows_the_cursor(plugin: Plugin) -> None:
    mine = {ok(plugin.upload(n))["id"] for n in range(5)}
    other_site = ok(plugin.upload(9, site="other.example"))["id"]
    seen: list[str] = []
    cursor = None
    while True:
        page = ok(plugin.api.list_images({"site": SITE}, 2, cursor))
        seen += [image["id"] for image in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if not page["pagination"]["has_more"] or not cursor:
            break
    assert sorted(seen) == sorted(mine) and other_site not in seen
    assert "label%5Bsite%5D=blog.example" in str(plugin.api.sent[-1].url)
    # a cursor img.pro no longer accepts is a request error: the plugin lists from the start
    stale = plugin.api.list_images({"site": SITE}, 100, "not-a-cursor")
    assert decide(failed(stale, 422, "validation_error")) == "fail-file"


def other_app(stack: Stack, plugin_with: Callable[[str], PluginApi]) -> PluginApi:
    """The plugin on another site, with a key of another app."""
    return plugin_with(idf.app_key(stack, idf.register_app(stack)))


def test_checking_copies_by_id_leaves_out_what_cannot_be_served(
    plugin: Plugin, plugin_with: Callable[[str], PluginApi]
) -> None:
    kept = ok(plugin.upload(1))["id"]
    gone = ok(plugin.upload(2))["id"]
    ok(plugin.api.delete_images([gone]))
    other = other_app(plugin.stack, plugin_with)
    elsewhere = ok(other.upload_file("x.png", make.png(5, 5), {"site": SITE}, {}, "bs-x"))["id"]
    unknown = [f"zz{n:06d}" for n in range(60)]
    found = ok(plugin.api.get_images([kept, gone, elsewhere, *unknown]))
    assert [image["id"] for image in found["data"]] == [kept]
    query = plugin.api.sent[-1].url.query.decode()
    assert query.startswith("ids=") and len(query.split("%2C")) == 50  # at most 50 are sent

    # one at a time says why: gone (or another storage's) is not_found → copy it again
    failed(plugin.api.get_image(gone), 404, "not_found")
    failed(plugin.api.get_image(elsewhere), 404, "not_found")
    assert ok(plugin.api.get_image(kept))["id"] == kept


def test_batch_deletes_of_up_to_100_are_idempotent(
    plugin: Plugin, plugin_with: Callable[[str], PluginApi]
) -> None:
    ids = [ok(plugin.upload(n))["id"] for n in range(3)]
    other = other_app(plugin.stack, plugin_with)
    foreign = ok(other.upload_file("f.png", make.png(6, 5), {"site": SITE}, {}, "bs-f"))["id"]
    batch = [*ids, foreign, *(f"zz{n:06d}" for n in range(100))]
    result = ok(plugin.api.delete_images(batch))
    # every id is reported deleted, so the plugin lets each queued deletion go
    assert result["object"] == "batch_result" and result["errors"] == []
    assert [entry["id"] for entry in result["data"]] == batch[:100]  # the plugin sends 100
    assert ok(plugin.api.delete_images(ids))["errors"] == []  # again: still nothing fails
    assert ok(plugin.api.get_usage())["limits"]["images"]["used"] == 0
    assert ok(other.get_image(foreign))["id"] == foreign  # another app's image is untouched


# -- limits


def test_at_the_image_limit_the_plugin_pauses_and_resumes_only_with_room(plugin: Plugin) -> None:
    stored = [ok(plugin.upload(n))["id"] for n in range(IMAGE_LIMIT)]
    refused = failed(plugin.upload(IMAGE_LIMIT), 403, "quota_exceeded")
    assert decide(refused) == "pause-quota"
    usage = ok(plugin.api.get_usage())
    assert usage["limits"]["images"] == {"used": IMAGE_LIMIT, "limit": IMAGE_LIMIT}
    assert not has_room(usage)  # so the plugin stays paused instead of retrying every 15 min

    ok(plugin.api.delete_images(stored[:1]))  # deletions make room
    assert has_room(ok(plugin.api.get_usage()))
    assert "id" in ok(plugin.upload(IMAGE_LIMIT))


def test_an_upgraded_app_storage_has_room_again(plugin: Plugin) -> None:
    for n in range(IMAGE_LIMIT):
        ok(plugin.upload(n))
    assert not has_room(ok(plugin.api.get_usage()))
    browser = plugin.stack.client()
    idf.sign_in(plugin.stack, browser, plugin.app.owner.email)
    manage_url = ok(plugin.api.request("GET", "/billing/status"))["manage_url"]
    workspace_id = urlsplit(manage_url).query.split("workspace=")[1]
    page = browser.get(manage_url)
    started = browser.post(
        "/billing/checkout",
        data={"csrf_token": idf.csrf_of(page.text), "workspace": workspace_id, "plan": "pro",
              "interval": "monthly"},
    )  # fmt: skip
    checkout = urlsplit(started.headers["location"]).path
    browser.post(f"{checkout}/pay", data={"csrf_token": idf.csrf_of(browser.get(checkout).text)})
    usage = ok(plugin.api.get_usage())
    assert usage["plan"] == "pro" and has_room(usage)
    assert "id" in ok(plugin.upload(IMAGE_LIMIT))


def test_too_many_requests_make_the_plugin_wait_as_told(plugin: Plugin) -> None:
    for _ in range(REQUESTS_PER_MINUTE + 1):
        result = plugin.api.get_usage()
        if isinstance(result, Failure):
            break
    throttled = failed(result, 429, "rate_limited")
    assert throttled.retry_after >= 1
    assert decide(throttled) == f"wait-{max(30, throttled.retry_after)}"


def test_a_revoked_key_pauses_the_plugin(plugin: Plugin) -> None:
    browser = plugin.stack.client()
    idf.sign_in(plugin.stack, browser, plugin.app.owner.email)
    page = browser.get(f"/dashboard/apps/{plugin.app.id}")
    [key_id] = re.findall(
        rf"/dashboard/apps/{plugin.app.id}/keys/([a-z0-9]{{8}})/revoke", page.text
    )
    browser.post(
        f"/dashboard/apps/{plugin.app.id}/keys/{key_id}/revoke",
        data={"csrf_token": idf.csrf_of(page.text)},
    )
    assert decide(failed(plugin.upload(1), 401, "unauthorized")) == "pause-auth"
