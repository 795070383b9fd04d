"""A stack set up the way img.pro serves the WordPress plugin: plans sold by the number of
images stored, a short URL-import timeout (so a slow source is quick to test) and a lower
per-credential rate limit; and a website the plugin asks img.pro to import from."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack, own_postgres_backends, start_stack
from tests.factories import images as make
from tests.local_http import QuietHandler, serving

# the plugin's plans, at test scale: Free and Pro limit images, Unlimited does not
PLUGIN_PLANS = """
[[plans]]
id = "free"
name = "Free"
monthly_uploads = 1000
storage_bytes = 1000000000
images = 6

[[plans]]
id = "pro"
name = "Pro"
monthly_uploads = 10000
storage_bytes = 10000000000
images = 60
prices.monthly = { amount_cents = 500, currency = "usd" }

[[plans]]
id = "unlimited"
name = "Unlimited"
monthly_uploads = 100000
storage_bytes = 100000000000
prices.monthly = { amount_cents = 1500, currency = "usd" }
"""
IMAGE_LIMIT = 6
IMPORT_TIMEOUT = 1.0
REQUESTS_PER_MINUTE = 60


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def plugin_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("compat")
    plans = tmp / "plans.toml"
    plans.write_text(PLUGIN_PLANS)
    overrides: dict[str, str] = {}
    if request.param == "postgresql":
        overrides = own_postgres_backends("compat", redis_offset=5)
    running, server = start_stack(
        f"compat-{request.param}",
        tmp,
        plans_file=Path(plans),
        import_timeout_seconds=IMPORT_TIMEOUT,
        credential_requests_per_minute=REQUESTS_PER_MINUTE,
        **overrides,
    )
    try:
        yield running
    finally:
        running.close()
        server.stop()


class Website(QuietHandler):
    """Another website whose images a page shows (the plugin imports them by address)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/slow.png":
            time.sleep(IMPORT_TIMEOUT * 3)  # longer than img.pro waits
        if self.path in ("/photo.png", "/slow.png"):
            body, status = make.png(12, 9), 200
        else:
            body, status = b"gone", 404
        self.send_response(status)
        self.send_header("Content-Type", "image/png" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="session")
def website() -> Iterator[str]:
    """On 127.0.0.2, which the test stacks let URL import reach."""
    with serving(Website, "127.0.0.2") as url:
        yield url
