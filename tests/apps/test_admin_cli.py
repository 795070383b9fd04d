"""`imgpro admin app ...`: create (name and URI rules apply, paid plan does not), verify,
unverify, suspend, unsuspend, rotate-secret — in JSON, with clear errors."""

from __future__ import annotations

import json
from collections.abc import Callable


def test_app_lifecycle(cli: Callable[..., str]) -> None:
    cli("admin", "user", "create", "dev@example.com")
    created = json.loads(
        cli(
            "admin", "app", "create", "--owner", "dev@example.com", "--name", "Pixel Notes",
            "--redirect-uri", "https://pixel.example/cb", "--redirect-uri", "http://localhost:3000/cb",
            "--json",
        )
    )  # fmt: skip
    assert set(created) == {"id", "secret", "name", "redirect_uris"}
    assert created["secret"].startswith("img_sk_live_") and len(created["secret"]) == 44
    assert created["redirect_uris"] == ["https://pixel.example/cb", "http://localhost:3000/cb"]
    app_id = created["id"]
    assert json.loads(cli("admin", "app", "verify", app_id, "--json"))["verified"] is True
    assert json.loads(cli("admin", "app", "unverify", app_id, "--json"))["verified"] is False
    assert json.loads(cli("admin", "app", "suspend", app_id, "--json"))["status"] == "suspended"
    assert json.loads(cli("admin", "app", "unsuspend", app_id, "--json"))["status"] == "active"
    rotated = json.loads(cli("admin", "app", "rotate-secret", app_id, "--json"))
    assert rotated["id"] == app_id and rotated["secret"] != created["secret"]


def test_app_create_refusals(cli: Callable[..., str]) -> None:
    cli("admin", "user", "create", "dev@example.com")
    base = ("admin", "app", "create", "--owner", "dev@example.com", "--json")
    named = json.loads(
        cli(*base, "--name", "Best IMG.PRO", "--redirect-uri", "https://a.example/cb", code=1)
    )
    assert named["error"]["code"] == "validation_error" and "img.pro" in named["error"]["message"]
    plain_http = json.loads(
        cli(*base, "--name", "Fine", "--redirect-uri", "http://a.example/cb", code=1)
    )
    assert "https" in plain_http["error"]["message"]
    nobody = json.loads(
        cli(
            "admin", "app", "create", "--owner", "ghost@example.com", "--name", "X",
            "--redirect-uri", "https://a.example/cb", "--json", code=1,
        )
    )  # fmt: skip
    assert nobody["error"]["code"] == "not_found"
    missing = json.loads(cli("admin", "app", "verify", "zzzzzzzz", "--json", code=1))
    assert missing["error"]["code"] == "not_found"
