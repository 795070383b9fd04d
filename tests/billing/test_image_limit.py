"""Image-count plans (decisions.md §10): a plan may limit stored images; the limit is enforced
exactly (the same conditional charge as the other limits), shown in `GET /v1/usage` as
`limits.images.limit` with `limits_enforced`, and freed by deletes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgpro.accounts import service as accounts
from imgpro.billing import meter
from imgpro.errors import ApiError
from imgpro.runtime import Runtime
from tests.billing.helpers import personal_workspace_id, set_usage, usage
from tests.billing.test_pages import signed_in
from tests.billing.test_quota import assert_quota_error, race, upload
from tests.conftest import Stack, own_postgres_backends, start_stack

IMAGE_PLANS = """
[[plans]]
id = "free"
name = "Free"
monthly_uploads = 1000
storage_bytes = 1000000000
images = 5

[[plans]]
id = "pro"
name = "Pro"
monthly_uploads = 10000
storage_bytes = 10000000000
images = 50
prices.monthly = { amount_cents = 500, currency = "usd" }

[[plans]]
id = "unlimited"
name = "Unlimited"
monthly_uploads = 100000
storage_bytes = 100000000000
prices.monthly = { amount_cents = 1500, currency = "usd" }
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def image_plans(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack whose operator sells plans by the number of images stored."""
    tmp = tmp_path_factory.mktemp("image-plans")
    plans = tmp / "plans.toml"
    plans.write_text(IMAGE_PLANS)
    overrides: dict[str, str] = {}
    if request.param == "postgresql":
        overrides = own_postgres_backends("images", redis_offset=3)
    running, server = start_stack(
        f"images-{request.param}", tmp, plans_file=Path(plans), **overrides
    )
    try:
        yield running
    finally:
        running.close()
        server.stop()


def test_usage_shows_the_image_limit_and_that_limits_apply(image_plans: Stack) -> None:
    client = image_plans.client(image_plans.key())
    shown = usage(client)
    assert shown["limits"]["images"] == {"used": 0, "limit": 5}
    assert shown["limits_enforced"] is True
    status = client.get("/v1/billing/status").json()
    assert [plan["limits"]["images"] for plan in status["available_plans"]] == [50, None]


def test_the_image_limit_refuses_the_next_upload_and_a_delete_makes_room(
    image_plans: Stack,
) -> None:
    client = image_plans.client(image_plans.key())
    stored = [upload(client, seed).json()["id"] for seed in range(5)]
    assert usage(client)["limits"]["images"] == {"used": 5, "limit": 5}

    error = assert_quota_error(upload(client, 9), image_plans)
    assert "5 images" in error["message"]
    assert (error["usage"]["images_used"], error["usage"]["images_limit"]) == (5, 5)
    assert error["action"]["label"] == "Upgrade to Pro ($5/mo) for 50 images"
    assert usage(client)["totals"]["images_stored"] == 5

    assert client.delete(f"/v1/images/{stored[0]}").status_code == 200
    assert usage(client)["limits"]["images"] == {"used": 4, "limit": 5}
    assert upload(client, 10).status_code == 201


def test_concurrent_uploads_at_the_image_limit_stop_exactly_at_it(image_plans: Stack) -> None:
    person = image_plans.user()
    key = image_plans.key(person)
    set_usage(image_plans, personal_workspace_id(image_plans, person), images=2)
    responses, _ = race(image_plans, key)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 3 + [403] * 17
    assert usage(image_plans.client(key))["limits"]["images"] == {"used": 5, "limit": 5}


def test_concurrent_charges_at_the_image_limit_hold_it_exactly(image_plans: Stack) -> None:
    """The conditional charge alone (no early check), many at once, holds the limit."""
    workspace_id = personal_workspace_id(image_plans, image_plans.user())
    set_usage(image_plans, workspace_id, images=1)

    async def work(rt: Runtime) -> list[bool]:
        async def charge() -> bool:
            async with rt.sessions() as db:
                workspace = await accounts.get_workspace(db, workspace_id)
                assert workspace is not None
                try:
                    await meter.charge_upload(db, rt.settings, workspace, 10)
                except ApiError:
                    return False
                await asyncio.sleep(0.01)
                await db.commit()
                return True

        return list(await asyncio.gather(*(charge() for _ in range(20))))

    assert image_plans.run(work).count(True) == 4


def test_the_billing_page_shows_the_image_limit(image_plans: Stack) -> None:
    person = image_plans.user()
    set_usage(image_plans, personal_workspace_id(image_plans, person), images=5)
    page = signed_in(image_plans, person).get("/billing").text
    assert "Images stored" in page and "5 of 5" in page
    assert "at its plan&#39;s limit" in page or "at its plan's limit" in page
    assert "50 images" in page  # the Pro option says what it lifts
