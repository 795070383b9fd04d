"""Backends a scale-out test can stop and start again: moto's S3 server, a Redis server of the
test's own, a TCP proxy in front of PostgreSQL that can be cut, and imgpro nodes as separate
processes (`imgpro serve`) that can be killed with SIGKILL.

Each is real: S3 over HTTP, Redis's own server, PostgreSQL through a socket. The machine's
PostgreSQL is never stopped; a test cuts the proxy instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import redis

from imgpro.ids import new_id
from imgpro.settings import Settings
from tests.conftest import Stack, free_port, serve_environ

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def wait_until(ready: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come up within {timeout} s")
        time.sleep(0.05)


class MotoS3:
    """moto's S3 server on a fixed port. Objects live in this test process, so they survive a
    stop and start: like an S3 outage, not data loss."""

    def __init__(self) -> None:
        os.environ.update(CREDENTIALS)  # read by obstore and boto3 alike
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def new_bucket(self) -> str:
        import boto3

        name = f"imgpro-{new_id().lower()}"
        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1").create_bucket(
            Bucket=name
        )
        return name

    def url(self, bucket: str) -> str:
        return f"s3://{bucket}?endpoint_url={self.endpoint}&region=us-east-1"

    def keys(self, bucket: str) -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


class RedisServer:
    """A redis-server process of the test's own (never the shared one), on a fixed port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)

        def answers() -> bool:
            with contextlib.suppress(redis.ConnectionError):
                return bool(client.ping())
            return False

        wait_until(answers, "redis-server")
        client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; `cut()` closes the listener and every connection
    (the backend looks down), `restore()` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class Node:
    """One imgpro node: `imgpro serve` in its own process, its own data dir and port; the
    shared backends come in `variables` (IMGPRO_* settings by lower-case name)."""

    def __init__(self, name: str, data_dir: Path, **variables: Any) -> None:
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.variables = {
            "env": "test",
            "data_dir": str(data_dir),
            "web_url": self.base_url,
            "api_url": self.base_url,
            "cdn_url": f"{self.base_url}/src",
            "secret_key": "test-secret-nodes",  # one secret: sessions hold across nodes
            "trusted_proxies": ["127.0.0.1"],
            **variables,
        }
        self.stack = Stack(name, Settings(**self.variables), self.base_url)
        self._process: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "node.log"

    def start(self) -> None:
        imgpro = str(Path(sys.executable).with_name("imgpro"))  # the venv's console script
        command = [imgpro, "serve", "--port", str(self.port)]
        environ = {**serve_environ(self.variables), **CREDENTIALS}
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(command, env=environ, stdout=log, stderr=log)

        def answers() -> bool:
            assert self._process is not None and self._process.poll() is None, self.log_text()
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.base_url}/openapi.json", timeout=2).status_code == 200
            return False

        wait_until(answers, f"node {self.name}", timeout=60)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, like a machine losing power."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(10)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.stack.close()
        self._process = None


@contextlib.contextmanager
def running(*services: Any) -> Iterator[None]:
    """Start services (each with start/stop, or restore/cut), stop them however the test ends."""
    started = []
    try:
        for service in services:
            (service.restore if isinstance(service, TcpProxy) else service.start)()
            started.append(service)
        yield
    finally:
        for service in reversed(started):
            (service.cut if isinstance(service, TcpProxy) else service.stop)()
