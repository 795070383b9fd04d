"""A brand-new workspace has no meter row yet: concurrent first uploads must all be charged.

The edge-of-limit race tests start from an existing meter. These start from nothing, where
every upload of the first burst finds no row to charge and races to create it; a correct upload
must never be refused there (it once got 403 quota_exceeded on PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from imgpro.accounts import service as accounts
from imgpro.billing import meter
from imgpro.errors import ApiError
from imgpro.runtime import Runtime
from tests.billing.helpers import personal_workspace_id, usage
from tests.conftest import Stack, own_postgres_backends, served
from tests.factories import images as make

ROUNDS = 25
BURST = 8


def test_concurrent_first_charges_of_fresh_workspaces_are_all_counted(stack: Stack) -> None:
    workspace_ids = [personal_workspace_id(stack, stack.user()) for _ in range(ROUNDS)]

    async def work(rt: Runtime) -> list[tuple[list[str], meter.Usage]]:
        async def charge(workspace_id: str) -> str:
            async with rt.sessions() as db:
                workspace = await accounts.get_workspace(db, workspace_id)
                assert workspace is not None
                try:
                    await meter.charge_upload(db, rt.settings, workspace, 100)
                except ApiError as error:
                    return error.code
                await asyncio.sleep(0.005)  # hold the transaction open, like the image insert
                await db.commit()
                return "charged"

        rounds = []
        for workspace_id in workspace_ids:
            outcomes = await asyncio.gather(*(charge(workspace_id) for _ in range(BURST)))
            async with rt.sessions() as db:
                workspace = await accounts.get_workspace(db, workspace_id)
                assert workspace is not None
                rounds.append((list(outcomes), await meter.usage(db, rt.settings, workspace)))
        return rounds

    for outcomes, after in stack.run(work):
        assert outcomes == ["charged"] * BURST
        assert (after.uploads, after.storage_bytes, after.images) == (BURST, BURST * 100, BURST)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`imgpro serve --workers 2` on PostgreSQL and Redis of its own."""
    backends = own_postgres_backends("served", redis_offset=2)
    with served(tmp_path_factory.mktemp("two-workers"), workers=2, **backends) as running:
        yield running


CLIENTS = 4


def _upload_concurrently(stack: Stack, key: str, per_client: int) -> list[int]:
    """`CLIENTS` clients, each uploading `per_client` tiny PNGs; the first uploads start
    together. Returns every status."""
    png = make.png(2, 2)
    start = threading.Barrier(CLIENTS)
    clients = [stack.client(key) for _ in range(CLIENTS)]

    def client_run(n: int) -> list[int]:
        start.wait()
        return [
            clients[n].post("/v1/images", files={"file": ("t.png", png)}).status_code
            for _ in range(per_client)
        ]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [status for run in pool.map(client_run, range(CLIENTS)) for status in run]


def test_fresh_workspaces_store_every_first_upload_on_two_workers(two_workers: Stack) -> None:
    for _ in range(8):
        key = two_workers.key(two_workers.user())
        statuses = _upload_concurrently(two_workers, key, per_client=3)
        assert statuses == [201] * CLIENTS * 3
        assert usage(two_workers.client(key))["totals"]["images_stored"] == CLIENTS * 3


def test_a_fresh_free_workspace_stores_exactly_its_100_uploads_on_two_workers(
    two_workers: Stack,
) -> None:
    key = two_workers.key(two_workers.user())
    statuses = _upload_concurrently(two_workers, key, per_client=25)
    assert statuses == [201] * 100
    client = two_workers.client(key)
    refused = client.post("/v1/images", files={"file": ("t.png", make.png(2, 2))})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert usage(client)["limits"]["monthly_uploads"] == {"used": 100, "limit": 100}
