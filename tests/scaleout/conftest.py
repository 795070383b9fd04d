"""Backends of the scale-out tests, owned by them so they can be stopped: moto's S3 server, a
redis-server, and PostgreSQL (a database of their own) reached through a proxy that can be cut."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from tests.backends import MotoS3, RedisServer, TcpProxy, running
from tests.conftest import PG_URL, ensure_database, reset_postgres


@dataclass
class Backends:
    s3: MotoS3
    redis: RedisServer
    postgres: TcpProxy
    database_url: str  # through the proxy
    direct_database_url: str


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    direct = PG_URL + "_scaleout"
    asyncio.run(ensure_database(direct))
    asyncio.run(reset_postgres(direct))
    parts = urlsplit(direct)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    through = direct.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}")
    s3, redis = MotoS3(), RedisServer(tmp_path_factory.mktemp("redis"))
    with running(s3, redis, proxy):
        yield Backends(s3, redis, proxy, through, direct)


def assert_unavailable(response: httpx.Response) -> None:
    """503 service_unavailable with Retry-After: the caller is told to come back, never 500."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["error"]["code"] == "service_unavailable"
