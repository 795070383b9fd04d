"""Test fixtures: a real imgpro server (uvicorn on a real socket) per database.

`stack` is parametrised over SQLite (embedded default) and PostgreSQL + Redis, so every API
test runs against both. PostgreSQL must be reachable: a test run never skips it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from imgpro.accounts import service as accounts
from imgpro.app import create_app
from imgpro.db import migrate
from imgpro.ids import new_id
from imgpro.keys import service as keys
from imgpro.ratelimit import RateLimits
from imgpro.runtime import Runtime
from imgpro.server import ServerConfig
from imgpro.settings import Settings
from tests.contract import Contract

T = TypeVar("T")

PG_URL = os.environ.get(
    "IMGPRO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("IMGPRO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def reset_postgres(url: str) -> None:
    """An empty public schema, so migrations run from scratch on every test session."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names if it does not exist: a stack of its own
    whose reset must not touch the main stack's schema."""
    base, _, name = url.rpartition("/")
    engine = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not found:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


def children_of(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`: their command lines, by pid."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(stat.parent.name)] = command.decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
    return found


def render_processes(pid: int) -> list[int]:
    """The render processes of the server running as (or in) process `pid`."""
    children = children_of(pid)
    return [child for child, command in children.items() if "imgpro.cdn.render_process" in command]


def flush_redis(url: str) -> None:
    """Empty the Redis db `url` names, closing the connection (a socket left for the garbage
    collector is a ResourceWarning, an error in this suite, raised in whichever test runs then)."""
    with redis.Redis.from_url(url) as client:
        client.flushdb()


def own_postgres_backends(suffix: str, redis_offset: int) -> dict[str, str]:
    """Settings for a second stack on PostgreSQL + Redis: a database and Redis db of its own,
    named after the suite's, so resetting it never touches the main stack (nor a parallel run
    with its own IMGPRO_TEST_POSTGRES_URL / IMGPRO_TEST_REDIS_URL)."""
    url = f"{PG_URL}_{suffix}"
    asyncio.run(ensure_database(url))
    redis_base, _, redis_db = REDIS_URL.rpartition("/")
    return {"database_url": url, "redis_url": f"{redis_base}/{(int(redis_db) - redis_offset) % 16}"}


@dataclass
class Person:
    id: str
    email: str


@dataclass
class Stack:
    """A running imgpro and shortcuts to arrange state through its services."""

    name: str
    settings: Settings
    base_url: str
    _clients: list[httpx.Client] = field(default_factory=list)
    _contract: Contract | None = None
    pid: int | None = None  # the server process, when `served` started one

    @property
    def contract(self) -> Contract:
        """The server's own /openapi.json, which every API response must match."""
        if self._contract is None:
            document = httpx.get(f"{self.settings.api_url}/openapi.json", timeout=30).json()
            self._contract = Contract(document)
        return self._contract

    def run(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run `work` against this stack's database and blobs from the test's thread."""

        async def main() -> T:
            runtime = Runtime.build(self.settings)
            try:
                return await work(runtime)
            finally:
                await runtime.close()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(main())
        # a loop already runs in this thread (Playwright's sync API): use a thread of our own
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, main()).result()

    def user(self, plan: str = "free") -> Person:
        email = f"u{new_id()}@example.com"

        async def work(rt: Runtime) -> Person:
            async with rt.sessions() as db:
                user = await accounts.register_user(db, email, plan)
                return Person(user.id, user.email)

        return self.run(work)

    def key(self, person: Person | None = None, abilities: str = "read,write") -> str:
        person = person or self.user()

        async def work(rt: Runtime) -> str:
            async with rt.sessions() as db:
                user = await accounts.get_user(db, person.id)
                assert user is not None
                workspace = await accounts.personal_workspace(db, user.id)
                issued = await keys.create_key(
                    db, user, workspace, keys.parse_abilities(abilities), "test"
                )
                await db.commit()
                return issued.key

        return self.run(work)

    def client(self, key: str | None = None, **headers: str) -> httpx.Client:
        all_headers = dict(headers)
        if key:
            all_headers["Authorization"] = f"Bearer {key}"
        # a distinct client address per client keeps anonymous rate limits apart
        all_headers.setdefault("X-Forwarded-For", f"198.51.100.{len(self._clients) % 250 + 1}")
        client = httpx.Client(
            base_url=self.base_url,
            headers=all_headers,
            timeout=60,
            event_hooks={"response": [self.contract.check]},
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


class ServerThread(threading.Thread):
    def __init__(self, app: Any, settings: Settings, port: int) -> None:
        super().__init__(daemon=True)
        # the server configuration `imgpro serve` uses (header limits, no uvicorn proxy headers)
        config = ServerConfig(
            app,
            settings,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
        )
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        self.server.run()

    def start_and_wait(self) -> None:
        self.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.is_alive():
                raise RuntimeError("imgpro test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(10)


def start_stack(name: str, tmp: Path, **overrides: Any) -> tuple[Stack, ServerThread]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        env="test",
        data_dir=tmp / name,
        web_url=base,
        api_url=base,
        cdn_url=f"{base}/src",
        trusted_proxies=["127.0.0.1"],
        import_allow_networks=["127.0.0.2/32"],
        secret_key="test-secret-" + name,
        **overrides,
    )
    if settings.database_url.startswith("postgresql"):
        asyncio.run(reset_postgres(settings.database_url))
    if settings.redis_url:
        flush_redis(settings.redis_url)
    migrate.upgrade(settings.database_url)
    server = ServerThread(create_app(settings), settings, port)
    server.start_and_wait()
    return Stack(name, settings, base), server


@pytest.fixture(scope="session")
def moto() -> Iterator[Any]:
    """moto's S3 server (a real HTTP endpoint) for the tests that store blobs in S3."""
    from tests.backends import MotoS3

    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def serve_environ(variables: dict[str, Any]) -> dict[str, str]:
    """This process's environment without its IMGPRO_* variables, plus `variables` as IMGPRO_*
    (by lower-case setting name; lists as JSON): what an `imgpro serve` subprocess gets."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMGPRO_")}
    environ.update(
        {
            f"IMGPRO_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in variables.items()
        }
    )
    return environ


@contextlib.contextmanager
def served(tmp: Path, workers: int, **env: Any) -> Iterator[Stack]:
    """`imgpro serve --workers N` as a subprocess, as an operator runs it (migrations applied
    by serve itself); `env` sets IMGPRO_* variables by lower-case name (lists as JSON)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    variables = {
        "env": "test",
        "data_dir": str(tmp),
        "web_url": base,
        "api_url": base,
        "cdn_url": f"{base}/src",
        "secret_key": "test-secret-served",
        **env,
    }
    environ = serve_environ(variables)
    settings = Settings(**variables)  # type: ignore[arg-type]
    if settings.database_url.startswith("postgresql"):
        asyncio.run(ensure_database(settings.database_url))
        asyncio.run(reset_postgres(settings.database_url))
    if settings.redis_url:
        flush_redis(settings.redis_url)
    command = [str(Path(sys.executable).with_name("imgpro")), "serve", "--port", str(port)]
    process = subprocess.Popen([*command, "--workers", str(workers)], env=environ, cwd=tmp)
    running = Stack(f"served-{workers}", settings, base, pid=process.pid)
    try:
        deadline = time.time() + 180  # N workers importing libvips and onnxruntime on a busy box
        while True:
            try:
                if httpx.get(f"{base}/v1/usage", timeout=2).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline or process.poll() is not None:
                raise RuntimeError("imgpro serve did not start")
            time.sleep(0.1)
        yield running
    finally:
        running.close()
        process.terminate()
        process.wait(30)


@pytest.fixture(autouse=True)
def own_rate_limit_buckets(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test counts in rate-limit buckets of its own. The servers outlive a test (`stack`
    serves the whole session), so without this one test's hits would count against a later
    test's at the same address, user or app, and the order tests run in could change what they
    see (tests/test_ratelimit.py). Servers in processes of their own (`served`, scale-out
    nodes) are out of its reach: each belongs to its fixture and starts with empty buckets."""
    RateLimits.namespace = f"test:{request.node.nodeid}"
    yield
    RateLimits.namespace = ""


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        overrides = {"database_url": PG_URL, "redis_url": REDIS_URL}
    running, server = start_stack(request.param, tmp_path_factory.mktemp("stacks"), **overrides)
    try:
        yield running
    finally:
        running.close()
        server.stop()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.recipients: list[list[str]] = []  # each message's envelope (RCPT TO) addresses
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        import email

        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def code_for(self, address: str, timeout: float = 10) -> str:
        """The 6-digit code of the newest mail to `address` (waiting for it to arrive)."""
        import re

        deadline = time.time() + timeout
        while time.time() < deadline:
            for message in reversed(self.messages):
                if message["To"] == address:
                    match = re.search(r"\b(\d{6})\b", str(message["Subject"]))
                    assert match
                    return match.group(1)
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address}")


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="session")
def smtp_stack(smtp_sink: SmtpSink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A SQLite stack that sends its mail over SMTP to `smtp_sink`."""
    running, server = start_stack(
        "smtp",
        tmp_path_factory.mktemp("smtp-stack"),
        mail_url=f"smtp://127.0.0.1:{smtp_sink.port}",
        mail_from="img.pro <no-reply@img.example>",
    )
    try:
        yield running
    finally:
        running.close()
        server.stop()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run `imgpro ...` in-process on a fresh SQLite data dir; returns its output."""
    from typer.testing import CliRunner

    from imgpro.cli import app as cli_app

    monkeypatch.setenv("IMGPRO_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli_app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("migrate")
    return run
