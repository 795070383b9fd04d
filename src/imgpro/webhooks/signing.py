"""Standard Webhooks signing: values in, values out; no database, no HTTP.

The secret is `whsec_` + base64 of 32 random bytes; the key is those bytes. Each attempt is
signed anew over `{webhook-id}.{webhook-timestamp}.{body}` (the timestamp is the attempt's, so
receivers can refuse replays), with the same id and body on every attempt.
"""

from __future__ import annotations

import base64

from imgpro import tokens

SECRET_PREFIX = "whsec_"
MESSAGE_PREFIX = "msg_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(tokens.random_bytes(32)).decode()


def new_message_id() -> str:
    return MESSAGE_PREFIX + tokens.random_string(24, tokens.BASE62)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(tokens.keyed_mac(key, signed)).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "imgpro-webhooks/1",
    }
