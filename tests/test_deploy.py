"""deploy/ works as written: the environment file is valid settings, and every command the
systemd units run is a real `imgpro` command (nginx's config runs in tests/scaleout)."""

from __future__ import annotations

import itertools
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgpro.cli import app as cli_app
from imgpro.settings import Settings

DEPLOY = Path(__file__).parents[1] / "deploy"


def variables(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.lstrip("#").strip()
        name, equals, value = line.partition("=")
        if equals and name.isupper() and " " not in name:
            found[name] = value
    return found


def test_every_variable_in_the_env_file_is_a_setting_and_parses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    documented = variables(DEPLOY / "imgpro.env")
    known = {f"IMGPRO_{name.upper()}" for name in Settings.model_fields}
    imgpro_names = {name for name in documented if name.startswith("IMGPRO_")}
    assert imgpro_names <= known, imgpro_names - known
    assert {"IMGPRO_STORAGE_URL", "IMGPRO_REDIS_URL", "IMGPRO_CACHE_BYTES"} <= imgpro_names

    for name, value in documented.items():
        if value:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("IMGPRO_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.storage_url.startswith("s3://")
    assert settings.trusted_proxies == ["127.0.0.1"]
    assert settings.production_problems() == []


@pytest.mark.parametrize("unit", sorted(DEPLOY.glob("systemd/*.service")), ids=lambda p: p.name)
def test_every_command_a_unit_runs_exists(unit: Path) -> None:
    commands = [
        shlex.split(line.partition("=")[2])
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    assert commands
    for command in commands:
        assert command[0] == "/opt/imgpro/venv/bin/imgpro"
        words = list(itertools.takewhile(lambda word: not word.startswith("-"), command[1:]))
        result = CliRunner().invoke(cli_app, [*words, "--help"])
        assert result.exit_code == 0, (command, result.output)
        for option in (word.split("=")[0] for word in command[1:] if word.startswith("--")):
            assert option in result.output, (command, option)
