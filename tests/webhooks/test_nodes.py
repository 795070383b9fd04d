"""Nodes on one PostgreSQL: an event committed by a process that dies before delivering is
delivered by the next node to run, and two nodes deliver each event exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgpro.app import create_app
from imgpro.db import migrate
from imgpro.settings import Settings
from tests.conftest import ServerThread, Stack, free_port, reset_postgres
from tests.factories import identity as idf
from tests.factories import images as make
from tests.webhooks.conftest import (
    FAST,
    Receiver,
    body_of,
    outbox,
    point_app_at,
    postgres_overrides,
)


def node_settings(data_dir: Path, port: int, database_url: str, **overrides: Any) -> Settings:
    base = f"http://127.0.0.1:{port}"
    return Settings(
        env="test",
        data_dir=data_dir,
        database_url=database_url,
        web_url=base,
        api_url=base,
        cdn_url=f"{base}/src",
        trusted_proxies=["127.0.0.1"],
        import_allow_networks=["127.0.0.2/32"],
        secret_key="test-secret-nodes-0123456789abcdefghij",
        **{**FAST, **overrides},
    )


@pytest.fixture
def database() -> Iterator[str]:
    url = str(postgres_overrides("_nodes")["database_url"])
    asyncio.run(reset_postgres(url))
    migrate.upgrade(url)
    yield url


def start_node(settings: Settings, port: int) -> ServerThread:
    server = ServerThread(create_app(settings), settings, port)
    server.start_and_wait()
    return server


def test_an_event_committed_by_a_killed_process_is_delivered_after_restart(
    database: str, receiver: Receiver, tmp_path: Path
) -> None:
    port = free_port()
    first = node_settings(tmp_path / "a", port, database, webhook_delivery=False)
    stack = Stack("node-a", first, first.api_url)
    app = idf.register_app(stack)
    point_app_at(stack, app, receiver)
    person = stack.user()
    idf.connect_directly(stack, app, person)  # user.connected: committed, not delivered
    user_id = person.id

    env = {key: value for key, value in os.environ.items() if not key.startswith("IMGPRO_")}
    env.update(
        {
            "IMGPRO_ENV": "test",
            "IMGPRO_DATA_DIR": str(first.data_dir),
            "IMGPRO_DATABASE_URL": database,
            "IMGPRO_WEB_URL": first.web_url,
            "IMGPRO_API_URL": first.api_url,
            "IMGPRO_CDN_URL": first.cdn_url,
            "IMGPRO_SECRET_KEY": first.secret_key,
            "IMGPRO_WEBHOOK_DELIVERY": "false",
        }
    )
    imgpro = str(Path(sys.executable).parent / "imgpro")
    process = subprocess.Popen(
        [imgpro, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"{first.api_url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        created = httpx.post(
            f"{first.api_url}/v1/images",
            headers={"Authorization": f"Bearer {app.secret}", "X-Img-User": user_id},
            files={"file": ("a.png", make.png(8, 8))},
        )
        assert created.status_code == 201, created.text
    finally:
        process.send_signal(signal.SIGKILL)  # no shutdown: whatever was not sent stays unsent
        process.wait(10)
    assert receiver.deliveries == []
    assert {m["status"] for m in outbox(stack, app.id)} == {"pending"}

    second = node_settings(tmp_path / "b", free_port(), database)
    server = start_node(second, int(second.api_url.rsplit(":", 1)[1]))
    try:
        events = receiver.events(2)
    finally:
        server.stop()
    assert sorted(e["type"] for e in events) == ["image.created", "user.connected"]
    assert [e["data"]["image"]["id"] for e in events if e["type"] == "image.created"] == [
        created.json()["id"]
    ]


def test_two_nodes_deliver_each_event_once(
    database: str, receiver: Receiver, tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    nodes = [node_settings(tmp_path / f"n{i}", port, database) for i, port in enumerate(ports)]
    stack = Stack("nodes", nodes[0], nodes[0].api_url)
    app = idf.register_app(stack)
    point_app_at(stack, app, receiver)
    servers = [start_node(settings, port) for settings, port in zip(nodes, ports, strict=True)]
    try:
        person = stack.user()
        idf.connect_directly(stack, app, person)
        clients = [
            httpx.Client(
                base_url=settings.api_url,
                headers={"Authorization": f"Bearer {app.secret}", "X-Img-User": person.id},
            )
            for settings in nodes
        ]
        for index in range(20):  # alternate: each node commits, and both are woken to send
            response = clients[index % 2].post(
                "/v1/images", files={"file": ("a.png", make.png(8, 8))}
            )
            assert response.status_code == 201, response.text
        deliveries = receiver.wait_for(21)
        time.sleep(1)  # time for a duplicate to show up, if a node were to send one
        for client in clients:
            client.close()
    finally:
        for server in servers:
            server.stop()
    counts = Counter(d.headers["webhook-id"] for d in receiver.deliveries)
    assert len(counts) == 21 and set(counts.values()) == {1}
    assert Counter(body_of(d)["type"] for d in deliveries) == {
        "image.created": 20,
        "user.connected": 1,
    }
    assert {(m["status"], m["attempts"]) for m in outbox(stack, app.id)} == {("delivered", 1)}
