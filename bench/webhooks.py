"""Webhook delivery latency: from an API change to the app's endpoint receiving the event.

    .venv/bin/python bench/webhooks.py [--changes 200] [--database-url postgresql+asyncpg://...]

Starts `imgpro serve` (SQLite in a temporary data dir unless --database-url is given), an app
with an endpoint on 127.0.0.2, one connected user and one image; then PATCHes the image's
caption `--changes` times, one at a time, and timestamps each `image.updated` as the endpoint
receives it. Prints p50/p95 of receipt minus the moment the PATCH was sent, and minus the moment
its answer (sent after the commit) arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyvips

RECEIVER_HOST = "127.0.0.2"  # loopback, allowed below as an operator would allow a network


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # caption -> time.perf_counter() at receipt
        self.port = free_port(RECEIVER_HOST)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.perf_counter()
                event = json.loads(body)
                if event["type"] == "image.updated":
                    receiver.received[event["data"]["image"]["caption"]] = now
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((RECEIVER_HOST, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def arrange(endpoint: str) -> tuple[str, str, str]:
    """An app with its endpoint and a connected user, straight through the services."""
    from imgpro.accounts import service as accounts
    from imgpro.apps import service as apps
    from imgpro.billing.plans import catalogue
    from imgpro.runtime import Runtime
    from imgpro.settings import Settings
    from imgpro.webhooks import service as webhooks

    runtime = Runtime.build(Settings())
    try:
        async with runtime.sessions() as db:
            owner = await accounts.create_user(db, "owner@bench.example", "pro")
            person = await accounts.create_user(db, "person@bench.example")
            await db.commit()
            plans = catalogue(runtime.settings)
            issued = await apps.register(
                db, owner, "Bench", ["https://bench.example/cb"], plans=plans
            )
            await apps.connect(db, issued.app, person)
            await webhooks.set_endpoint(db, runtime.settings, issued.app.id, endpoint)
            return issued.app.id, issued.secret, person.id
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    imgpro = str(Path(sys.executable).parent / "imgpro")
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        os.environ.update(
            {
                "IMGPRO_DATA_DIR": data_dir,
                "IMGPRO_WEB_URL": base,
                "IMGPRO_API_URL": base,
                "IMGPRO_CDN_URL": f"{base}/src",
                "IMGPRO_IMPORT_ALLOW_NETWORKS": json.dumps([f"{RECEIVER_HOST}/32"]),
            }
        )
        if args.database_url:
            os.environ["IMGPRO_DATABASE_URL"] = args.database_url
        subprocess.run([imgpro, "migrate"], check=True, capture_output=True)
        app_id, secret, user_id = asyncio.run(
            arrange(f"http://{RECEIVER_HOST}:{receiver.port}/hooks")
        )
        server = subprocess.Popen(
            [imgpro, "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {secret}", "X-Img-User": user_id}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                png = pyvips.Image.black(16, 16).pngsave_buffer()
                uploaded = client.post("/v1/images", files={"file": ("a.png", png)})
                uploaded.raise_for_status()
                image = uploaded.json()
                sent: dict[str, tuple[float, float]] = {}
                for index in range(args.changes):
                    caption = f"change {index}"
                    started = time.perf_counter()
                    response = client.patch(f"/v1/images/{image['id']}", json={"caption": caption})
                    response.raise_for_status()
                    sent[caption] = (started, time.perf_counter())
                    deadline = time.perf_counter() + 10
                    while caption not in receiver.received and time.perf_counter() < deadline:
                        time.sleep(0.0005)
        finally:
            server.terminate()
            server.wait(10)
    from_request = [
        receiver.received[c] - s for c, (s, _) in sent.items() if c in receiver.received
    ]
    from_answer = [receiver.received[c] - a for c, (_, a) in sent.items() if c in receiver.received]
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"imgpro serve (1 worker, {database}), app {app_id}; {len(from_request)} of "
        f"{args.changes} image.updated events received; {os.cpu_count()} cores"
    )
    for name, values in (("from the PATCH sent", from_request), ("from its answer", from_answer)):
        q = statistics.quantiles(values, n=100)
        print(f"{name:<22} p50 {q[49] * 1000:7.1f} ms   p95 {q[94] * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
