"""Verify webhooks from imgpro (the Standard Webhooks scheme).

imgpro signs ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256 keyed by the
base64-decoded part of the ``whsec_...`` secret and sends ``webhook-signature: v1,<base64>``
(several space-separated signatures while a secret is being rotated). Verify the raw body
bytes exactly as received, before parsing them: re-serialised JSON would not match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from .errors import WebhookVerificationError
from .models import WebhookEvent

TOLERANCE_SECONDS = 5 * 60


def _key(secret: str) -> bytes:
    encoded = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret is not whsec_ followed by base64") from None


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> WebhookEvent:
    """The event, once its signature and timestamp check out; else WebhookVerificationError.

    A timestamp more than `tolerance` seconds away from now is refused: a captured request
    cannot be replayed later.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError(
            "Missing webhook-id, webhook-timestamp or webhook-signature header.",
            code="missing_headers",
        )
    try:
        sent_at = int(stamp)
    except ValueError:
        raise WebhookVerificationError(
            "webhook-timestamp is not a number.", code="bad_timestamp"
        ) from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise WebhookVerificationError(
            "webhook-timestamp is too far from now.", code="bad_timestamp"
        )
    signed = msg_id.encode("utf-8") + b"." + stamp.encode("utf-8") + b"." + raw
    expected = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        # compare in constant time: the signature is derived from the secret
        if version == "v1" and hmac.compare_digest(signature.encode("utf-8"), expected):
            break
    else:
        raise WebhookVerificationError("No signature matches.", code="bad_signature")
    try:
        event = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("The body is not JSON.", code="bad_body") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("The body is not a JSON object.", code="bad_body")
    return WebhookEvent({"id": msg_id, **event})
