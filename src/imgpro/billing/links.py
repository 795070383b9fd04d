"""Signed, time-limited upgrade links (the `url` of a quota error's upgrade action).

`WEB/upgrade?t=<token>`: the token names the workspace and the suggested plan and carries its
own expiry, all under an HMAC of the signing key, so a changed character or a late click is
refused. The link only focuses the billing page; changing a plan still needs the owner signed in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeSerializer

UPGRADE_LINK_TTL = 7 * 24 * 3600
_SALT = "imgpro.billing.upgrade"


class LinkRefused(Exception):
    """A tampered, malformed or expired link; `expired` says which."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


@dataclass(frozen=True)
class UpgradeTarget:
    workspace_id: str
    plan: str | None  # the suggested plan; None on the top tier


def _serializer(signing_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(signing_key, salt=_SALT)


def upgrade_url(
    web_url: str,
    signing_key: str,
    target: UpgradeTarget,
    *,
    now: float | None = None,
    ttl: int = UPGRADE_LINK_TTL,
) -> str:
    expires = int((time.time() if now is None else now) + ttl)
    token = _serializer(signing_key).dumps(
        {"w": target.workspace_id, "p": target.plan, "exp": expires}
    )
    return f"{web_url}/upgrade?{urlencode({'t': token})}"


def read_upgrade_token(signing_key: str, token: str, *, now: float | None = None) -> UpgradeTarget:
    try:
        data = _serializer(signing_key).loads(token)
    except BadSignature:
        raise LinkRefused(expired=False) from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("w"), str)
        or not isinstance(data.get("p"), str | None)
        or not isinstance(data.get("exp"), int)
    ):
        raise LinkRefused(expired=False)
    if data["exp"] < (time.time() if now is None else now):
        raise LinkRefused(expired=True)
    return UpgradeTarget(data["w"], data["p"])
