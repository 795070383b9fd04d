"""The operator's command line: --help everywhere, --json prints one object, mistakes explain
themselves and exit 1."""

from __future__ import annotations

import json

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from imgpro.cli import app


def all_command_paths(group, prefix=()):  # type: ignore[no-untyped-def]
    yield prefix
    for name, command in getattr(group, "commands", {}).items():
        yield from all_command_paths(command, (*prefix, name))


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for path in all_command_paths(get_command(app)):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_user_and_key_lifecycle_in_json(cli) -> None:  # type: ignore[no-untyped-def]
    user = json.loads(cli("admin", "user", "create", "Ops@Example.com", "--plan", "pro", "--json"))
    assert user["email"] == "ops@example.com" and user["plan"] == "pro" and len(user["id"]) == 8
    key = json.loads(
        cli("admin", "key", "create", "--user", "ops@example.com", "--abilities", "read", "--json")
    )
    assert key["key"].startswith("img_live_") and key["abilities"] == ["read"]
    changed = json.loads(cli("admin", "user", "set-plan", "ops@example.com", "scale", "--json"))
    assert changed["plan"] == "scale"
    assert json.loads(cli("admin", "user", "disable", "ops@example.com", "--json"))["status"] == (
        "disabled"
    )
    assert json.loads(cli("admin", "user", "enable", "ops@example.com", "--json"))["status"] == (
        "active"
    )
    assert json.loads(cli("admin", "user", "delete", "ops@example.com", "--json"))["deleted"]


@pytest.mark.parametrize(
    "args, code",
    [
        (("admin", "user", "set-plan", "nobody@example.com", "pro"), "not_found"),
        (("admin", "user", "create", "not-an-email"), "validation_error"),
        (("admin", "user", "create", "x@example.com", "--plan", "gold"), "validation_error"),
        (("admin", "key", "create", "--user", "nobody@example.com"), "not_found"),
    ],
)
def test_mistakes_exit_1_with_one_json_error(cli, args: tuple[str, ...], code: str) -> None:  # type: ignore[no-untyped-def]
    output = cli(*args, "--json", code=1)
    assert json.loads(output)["error"]["code"] == code


def test_a_duplicate_user_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    cli("admin", "user", "create", "twice@example.com")
    output = cli("admin", "user", "create", "twice@example.com", code=1)
    assert "already exists" in output


def test_bad_abilities_are_refused(cli) -> None:  # type: ignore[no-untyped-def]
    cli("admin", "user", "create", "k@example.com")
    output = cli(
        "admin", "key", "create", "--user", "k@example.com", "--abilities", "admin", code=1
    )
    assert "read" in output


def test_sweep_reports_what_it_deleted(cli) -> None:  # type: ignore[no-untyped-def]
    assert json.loads(cli("admin", "sweep", "--json")) == {"deleted": 0, "webhook_messages": 0}


def test_user_list_and_app_list_show_what_exists(cli) -> None:  # type: ignore[no-untyped-def]
    assert json.loads(cli("admin", "user", "list", "--json")) == {"users": []}
    assert json.loads(cli("admin", "app", "list", "--json")) == {"apps": []}
    cli("admin", "user", "create", "owner@example.com", "--plan", "pro")
    cli("admin", "user", "create", "plain@example.com")
    made = json.loads(
        cli(
            "admin", "app", "create", "--owner", "owner@example.com", "--name", "Pixel Notes",
            "--redirect-uri", "https://pixel.example/cb", "--json",
        )
    )  # fmt: skip
    cli("admin", "app", "verify", made["id"])
    users = json.loads(cli("admin", "user", "list", "--json"))["users"]
    assert [(u["email"], u["plan"], u["status"]) for u in users] == [
        ("owner@example.com", "pro", "active"),
        ("plain@example.com", "free", "active"),
    ]
    (listed,) = json.loads(cli("admin", "app", "list", "--json"))["apps"]
    assert listed == {
        "id": made["id"],
        "name": "Pixel Notes",
        "redirect_uris": ["https://pixel.example/cb"],
        "verified": True,
        "status": "active",
        "owner": "owner@example.com",
        "connected_users": 0,
    }
    assert "Pixel Notes" in cli("admin", "app", "list")
    assert "plain@example.com" in cli("admin", "user", "list")


def test_settings_prints_every_variable_with_its_meaning(cli) -> None:  # type: ignore[no-untyped-def]
    output = cli("settings")
    # descriptions hold brackets such as s3://BUCKET[/PREFIX]: printed as text, never as markup
    assert "IMGPRO_STORAGE_URL" in output and "IMGPRO_SECRET_KEY" in output
