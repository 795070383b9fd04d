"""Every error class of the SDK, each provoked on a real server, and the retry rule: 429, 503 and
no answer are retried up to max_retries honouring Retry-After; nothing else is."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from imgpro.apps import service as apps
from imgpro.runtime import Runtime
from imgpro_sdk import errors
from tests.billing.helpers import personal_workspace_id, set_plan, set_usage
from tests.conftest import Stack, free_port, start_stack
from tests.factories import identity as idf
from tests.factories import images as make
from tests.sdk.conftest import SdkFactory, app_client

PNG = make.png(24, 16)


def connected(sdk: SdkFactory, stack: Stack) -> tuple[idf.RegisteredApp, object]:
    app = idf.register_app(stack)
    user_id = idf.connected_user(stack, app)
    return app, app_client(sdk, stack, app).for_user(user_id)


def envelope_of(error: errors.ImgProError) -> tuple[int | None, str | None, str | None]:
    return error.status, error.type, error.code


def test_authentication_error(sdk: SdkFactory, stack: Stack) -> None:
    client = sdk(secret="img_sk_live_" + "0" * 32, app_id="zzzzzzzz", api_url=stack.base_url)
    with pytest.raises(errors.AuthenticationError) as caught:
        client.for_user("zzzzzzzz").images.list()
    assert envelope_of(caught.value) == (401, "authentication_error", "unauthorized")
    assert caught.value.request_id
    with pytest.raises(errors.AuthenticationError):
        client.exchange("whatever")


def test_user_forbidden_for_a_user_who_is_not_connected(sdk: SdkFactory, stack: Stack) -> None:
    app = idf.register_app(stack)
    stranger = stack.user()
    with pytest.raises(errors.UserForbidden) as caught:
        app_client(sdk, stack, app).for_user(stranger.id).images.upload(PNG, filename="a.png")
    assert isinstance(caught.value, errors.PermissionDenied)
    assert envelope_of(caught.value) == (403, "permission_error", "user_forbidden")


def test_app_suspended(sdk: SdkFactory, stack: Stack) -> None:
    app, user = connected(sdk, stack)

    async def suspend(rt: Runtime) -> None:
        async with rt.sessions() as db:
            found = await apps.get_app(db, app.id)
            assert found is not None
            await apps.set_status(db, found, "suspended")

    stack.run(suspend)
    with pytest.raises(errors.AppSuspended) as caught:
        user.usage()  # type: ignore[attr-defined]
    assert envelope_of(caught.value)[2] == "app_suspended"


def test_permission_denied_for_a_read_only_key(sdk: SdkFactory, stack: Stack) -> None:
    reader = sdk(api_key=stack.key(abilities="read"), api_url=stack.base_url)
    with pytest.raises(errors.PermissionDenied) as caught:
        reader.images.upload(PNG, filename="a.png")
    assert type(caught.value) is errors.PermissionDenied
    assert envelope_of(caught.value) == (403, "permission_error", "forbidden")


def test_quota_exceeded_carries_usage_and_the_upgrade_link(sdk: SdkFactory, stack: Stack) -> None:
    person = stack.user()
    client = sdk(api_key=stack.key(person), api_url=stack.base_url)
    set_usage(stack, personal_workspace_id(stack, person), uploads=100)
    with pytest.raises(errors.QuotaExceeded) as caught:
        client.images.upload(PNG, filename="a.png")
    error = caught.value
    assert envelope_of(error) == (403, "quota_error", "quota_exceeded")
    assert error.usage and error.usage["uploads_used"] == 100
    assert error.upgrade_url and error.upgrade_url.startswith(stack.settings.web_url + "/upgrade")
    assert client.usage().totals.images_stored == 0


def test_not_found(sdk: SdkFactory, stack: Stack) -> None:
    _app, user = connected(sdk, stack)
    with pytest.raises(errors.NotFound) as caught:
        user.images.get("zzzzzzzz")  # type: ignore[attr-defined]
    assert envelope_of(caught.value) == (404, "invalid_request_error", "not_found")


def test_validation_error_names_the_field(sdk: SdkFactory, stack: Stack) -> None:
    _app, user = connected(sdk, stack)
    image = user.images.upload(PNG, filename="a.png")  # type: ignore[attr-defined]
    with pytest.raises(errors.ValidationError) as caught:
        user.images.update(image.id, caption="x" * 2001)  # type: ignore[attr-defined]
    assert caught.value.code == "validation_error" and "caption" in caught.value.details
    with pytest.raises(errors.ValidationError) as target:
        user.billing.checkout("pro", "monthly", return_url="/relative")  # type: ignore[attr-defined]
    assert target.value.code == "invalid_target_url"


def test_invalid_code_for_a_bad_code_and_a_wrong_verifier(sdk: SdkFactory, stack: Stack) -> None:
    app = idf.register_app(stack)
    client = app_client(sdk, stack, app)
    with pytest.raises(errors.InvalidCode) as caught:
        client.exchange("not-a-code")
    assert isinstance(caught.value, errors.ValidationError) and caught.value.status == 422
    verifier, challenge = idf.pkce_pair()
    _browser, callback = idf.run_connect(
        stack, app, idf.new_email(), code_challenge=challenge, code_challenge_method="S256"
    )
    with pytest.raises(errors.InvalidCode):
        client.exchange(callback["code"], code_verifier=verifier + "x")


def test_idempotency_keys_make_retries_safe_and_refuse_a_different_request(
    sdk: SdkFactory, stack: Stack
) -> None:
    _app, user = connected(sdk, stack)
    first = user.images.upload(PNG, filename="a.png", idempotency_key="k-1")  # type: ignore[attr-defined]
    again = user.images.upload(PNG, filename="a.png", idempotency_key="k-1")  # type: ignore[attr-defined]
    assert again.id == first.id
    with pytest.raises(errors.IdempotencyConflict) as caught:
        user.images.upload(make.png(25, 16), filename="a.png", idempotency_key="k-1")  # type: ignore[attr-defined]
    assert isinstance(caught.value, errors.Conflict)
    assert envelope_of(caught.value) == (409, "idempotency_error", "idempotency_key_conflict")
    assert user.usage().totals.images_stored == 1  # type: ignore[attr-defined]


def test_already_subscribed_points_at_manage_url(sdk: SdkFactory, stack: Stack) -> None:
    person = stack.user()
    client = sdk(api_key=stack.key(person), api_url=stack.base_url)
    set_plan(stack, personal_workspace_id(stack, person), "pro")
    with pytest.raises(errors.AlreadySubscribed) as caught:
        client.billing.checkout("scale", "monthly", return_url="https://app.example/done")
    assert caught.value.status == 409
    assert caught.value.manage_url == client.billing.status().manage_url


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Three requests a minute per credential."""
    running, server = start_stack(
        "limited", tmp_path_factory.mktemp("limited"), credential_requests_per_minute=3
    )
    yield running
    running.close()
    server.stop()


def test_rate_limited_is_retried_after_retry_after_then_raised(
    sdk: SdkFactory, limited_stack: Stack
) -> None:
    client = sdk(api_key=limited_stack.key(), api_url=limited_stack.base_url, max_retries=2)
    for _ in range(3):
        client.usage()
    assert sdk.waits == []  # type: ignore[attr-defined]
    with pytest.raises(errors.RateLimited) as caught:
        client.usage()
    error = caught.value
    assert error.status == 429 and error.retry_after and 0 < error.retry_after <= 60
    assert error.action["retry_after"] == error.retry_after
    # two retries, each after the wait the server asked for
    assert len(sdk.waits) == 2 and all(0 < wait <= 60 for wait in sdk.waits)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def stripe_down_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stripe provider pointed at a port where nothing listens."""
    running, server = start_stack(
        "stripe-down",
        tmp_path_factory.mktemp("stripe-down"),
        billing_provider="stripe",
        stripe_secret_key="sk_test_unreachable",
        stripe_api_base=f"http://127.0.0.1:{free_port()}",
    )
    yield running
    running.close()
    server.stop()


def test_service_unavailable_is_retried_then_raised(
    sdk: SdkFactory, stripe_down_stack: Stack
) -> None:
    client = sdk(api_key=stripe_down_stack.key(), api_url=stripe_down_stack.base_url)
    with pytest.raises(errors.ServiceUnavailable) as caught:
        client.billing.checkout("pro", "monthly", return_url="https://app.example/done")
    assert caught.value.status == 503 and caught.value.retry_after == 5
    assert sdk.waits == [5, 5]  # type: ignore[attr-defined]


def test_no_answer_is_an_api_connection_error_after_retries(sdk: SdkFactory) -> None:
    client = sdk(api_key="img_live_x", api_url=f"http://127.0.0.1:{free_port()}", max_retries=3)
    with pytest.raises(errors.APIConnectionError):
        client.usage()
    assert sdk.waits == [0.5, 1.0, 2.0]  # type: ignore[attr-defined]


def test_other_errors_are_not_retried(sdk: SdkFactory, stack: Stack) -> None:
    client = sdk(secret="img_sk_live_" + "0" * 32, app_id="x", api_url=stack.base_url)
    with pytest.raises(errors.AuthenticationError):
        client.usage()
    assert sdk.waits == []  # type: ignore[attr-defined]


def recording_http(kind: str, seen: list[httpx.Request]) -> httpx.Client | httpx.AsyncClient:
    if kind == "sync":
        return httpx.Client(event_hooks={"request": [seen.append]})

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    return httpx.AsyncClient(event_hooks={"request": [record]})


def test_each_upload_has_its_own_idempotency_key_kept_across_retries(
    sdk: SdkFactory, limited_stack: Stack
) -> None:
    seen: list[httpx.Request] = []
    http = recording_http(sdk.kind, seen)  # type: ignore[attr-defined]
    client = sdk(api_key=limited_stack.key(), api_url=limited_stack.base_url, http_client=http)
    for seed in range(3):
        client.images.upload(make.png(10 + seed, 10), filename="a.png")
    with pytest.raises(errors.RateLimited):
        client.images.upload(make.png(20, 10), filename="b.png")
    keys = [request.headers["idempotency-key"] for request in seen]
    assert len(keys) == 6 and len(set(keys[:3])) == 3  # three uploads, three keys
    assert len(set(keys[3:])) == 1 and keys[3] not in keys[:3]  # one upload tried three times
    client.close()
    assert not http.is_closed  # the caller's client stays the caller's
    if isinstance(http, httpx.Client):
        http.close()
    else:
        sdk.run(http.aclose())  # type: ignore[attr-defined]
