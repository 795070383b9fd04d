"""Webhook test rig: imgpro stacks with a retry schedule scaled down to fractions of a second,
and a real HTTP receiver that verifies every delivery with the `standardwebhooks` package (and
with our SDK's `webhooks.verify`)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from imgpro.runtime import Runtime
from imgpro.webhooks import service as webhooks
from imgpro_sdk import errors as sdk_errors
from imgpro_sdk import webhooks as sdk_webhooks
from tests.conftest import PG_URL, REDIS_URL, Stack, ensure_database, free_port, start_stack
from tests.factories import identity as idf
from tests.local_http import QuietHandler, serving

#: where receivers listen: loopback, which the test stacks' IMGPRO_IMPORT_ALLOW_NETWORKS allows
RECEIVER_HOST = "127.0.0.2"
FAST = {"webhook_retry_seconds": [0.2, 0.4], "webhook_poll_seconds": 0.1}


def postgres_overrides(suffix: str) -> dict[str, Any]:
    """A database and Redis db of their own, named after the suite's (parallel runs apart)."""
    url = PG_URL + suffix
    asyncio.run(ensure_database(url))
    redis_base, _, redis_db = REDIS_URL.rpartition("/")
    return {"database_url": url, "redis_url": f"{redis_base}/{(int(redis_db) - 2) % 16}"}


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    event: dict[str, Any]
    received: float  # time.time()


@dataclass
class Receiver:
    """An app's webhook endpoint: answers `answers` in turn (then 204) and keeps every delivery
    whose signature verifies; one that does not is kept in `forged`."""

    secret: str = ""
    answers: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    forged: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://{RECEIVER_HOST}:{self.port}/hooks/imgpro"

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            try:
                event = Webhook(self.secret).verify(body, headers)
                sdk_event = sdk_webhooks.verify(body, headers, secret=self.secret)
                assert sdk_event.to_dict()["data"] == event["data"]  # our SDK agrees
            except (WebhookVerificationError, sdk_errors.WebhookVerificationError, AssertionError):
                self.forged.append(body)
                return 400
            self.deliveries.append(Delivery(headers, body, event, time.time()))
            return self.answers.pop(0) if self.answers else 204

    def wait_for(self, count: int, timeout: float = 20) -> list[Delivery]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.deliveries) >= count:
                    return list(self.deliveries)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.deliveries)} deliveries, expected {count}")

    def events(self, count: int) -> list[dict[str, Any]]:
        return [delivery.event for delivery in self.wait_for(count)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = found.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    with serving(Handler, RECEIVER_HOST, found.port):
        yield found
    assert not found.forged, "a delivery failed verification"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def hook_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    overrides = postgres_overrides("_hooks") if request.param == "postgresql" else {}
    running, server = start_stack(
        f"hooks-{request.param}", tmp_path_factory.mktemp("hooks"), **FAST, **overrides
    )
    try:
        yield running
    finally:
        running.close()
        server.stop()


def point_app_at(stack: Stack, app: idf.RegisteredApp, receiver: Receiver) -> None:
    """Set the app's endpoint to the receiver and give the receiver the signing secret."""

    async def work(rt: Runtime) -> str | None:
        async with rt.sessions() as db:
            return (await webhooks.set_endpoint(db, rt.settings, app.id, receiver.url)).secret

    secret = stack.run(work)
    assert secret is not None
    receiver.secret = secret


def outbox(stack: Stack, app_id: str) -> list[dict[str, Any]]:
    async def work(rt: Runtime) -> list[dict[str, Any]]:
        async with rt.sessions() as db:
            return [
                {"id": m.id, "type": m.type, "status": m.status, "attempts": m.attempts}
                for m in await webhooks.recent(db, app_id)
            ]

    return stack.run(work)


def body_of(delivery: Delivery) -> dict[str, Any]:
    return dict(json.loads(delivery.body))
