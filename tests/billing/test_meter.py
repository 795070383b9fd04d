"""The meter's conditional charge alone (no early check) holds the limit under concurrency."""

from __future__ import annotations

import asyncio

from imgpro.accounts import service as accounts
from imgpro.billing import meter
from imgpro.errors import ApiError
from imgpro.runtime import Runtime
from tests.billing.helpers import personal_workspace_id, set_usage
from tests.conftest import Stack


def test_twenty_concurrent_charges_at_the_edge_stop_exactly_at_the_limit(stack: Stack) -> None:
    person = stack.user()
    workspace_id = personal_workspace_id(stack, person)
    set_usage(stack, workspace_id, uploads=93)

    async def work(rt: Runtime) -> tuple[int, int, meter.Usage]:
        async def charge() -> bool:
            async with rt.sessions() as db:
                workspace = await accounts.get_workspace(db, workspace_id)
                assert workspace is not None
                try:
                    await meter.charge_upload(db, rt.settings, workspace, 1000)
                except ApiError as error:
                    assert error.code == "quota_exceeded"
                    await db.rollback()
                    return False
                await asyncio.sleep(0.01)  # hold the transaction open a moment, like an insert
                await db.commit()
                return True

        results = await asyncio.gather(*(charge() for _ in range(20)))
        async with rt.sessions() as db:
            workspace = await accounts.get_workspace(db, workspace_id)
            assert workspace is not None
            return (
                results.count(True),
                results.count(False),
                await meter.usage(db, rt.settings, workspace),
            )

    charged, refused, after = stack.run(work)
    assert (charged, refused) == (7, 13)
    assert (after.uploads, after.storage_bytes) == (100, 7000)


def test_a_rolled_back_upload_takes_its_charge_with_it(stack: Stack) -> None:
    person = stack.user()
    workspace_id = personal_workspace_id(stack, person)

    async def work(rt: Runtime) -> meter.Usage:
        async with rt.sessions() as db:
            workspace = await accounts.get_workspace(db, workspace_id)
            assert workspace is not None
            await meter.charge_upload(db, rt.settings, workspace, 5000)
            await db.rollback()
            workspace = await accounts.get_workspace(db, workspace_id)
            assert workspace is not None
            return await meter.usage(db, rt.settings, workspace)

    after = stack.run(work)
    assert (after.uploads, after.storage_bytes) == (0, 0)
