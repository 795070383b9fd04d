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
