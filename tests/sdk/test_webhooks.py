"""webhooks.verify against signatures made by the `standardwebhooks` package (the reference
implementation of the scheme imgpro signs with)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from imgpro_sdk import errors, webhooks

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = json.dumps(
    {
        "type": "image.created",
        "timestamp": "2026-11-29T10:00:00Z",
        "data": {"user": {"id": "r4n8c1vt", "object": "user"}, "image": {"id": "k3x9p2qa"}},
    }
).encode()


def signed(body: bytes = BODY, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    moment = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    signature = Webhook(secret).sign("msg_2b7Lq", moment, body.decode())
    return {
        "webhook-id": "msg_2b7Lq",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def test_a_signed_event_verifies_and_reads_like_an_object() -> None:
    event = webhooks.verify(BODY, signed(), SECRET)
    assert (event.id, event.type) == ("msg_2b7Lq", "image.created")
    assert event.data.user.id == "r4n8c1vt" and event.data.image.id == "k3x9p2qa"
    headers = {name.upper(): value for name, value in signed().items()}
    assert webhooks.verify(BODY.decode(), headers, SECRET).type == "image.created"


def test_any_of_several_signatures_may_match_while_a_secret_rotates() -> None:
    headers = signed()
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]
    assert webhooks.verify(BODY, headers, SECRET).type == "image.created"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"image.created", b"image.deleted")),
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1", "v2")}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "soon"}, b),
    ],
)
def test_a_changed_message_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    headers, body = tamper(signed(), BODY)
    with pytest.raises(errors.WebhookVerificationError):
        webhooks.verify(body, headers, SECRET)


def test_another_secret_or_an_old_timestamp_is_refused() -> None:
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    with pytest.raises(errors.WebhookVerificationError):
        webhooks.verify(BODY, signed(), other)
    with pytest.raises(errors.WebhookVerificationError) as caught:
        webhooks.verify(BODY, signed(at=time.time() - 600), SECRET)
    assert caught.value.code == "bad_timestamp"
    # the same message verifies when the receiver's clock is at the sending time
    sent = time.time() - 600
    assert webhooks.verify(BODY, signed(at=sent), SECRET, now=sent).type == "image.created"


def test_a_signed_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(errors.WebhookVerificationError) as caught:
        webhooks.verify(b"[1, 2]", signed(b"[1, 2]"), SECRET)
    assert caught.value.code == "bad_body"
