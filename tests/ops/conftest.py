"""Running `imgpro` operator commands against a given environment, in process."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from imgpro.cli import app as cli_app


def imgpro(*args: str, env: dict[str, str], code: int = 0) -> Any:
    """`imgpro ARGS --json` with IMGPRO_* `env`; its one JSON object."""
    result = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.output)
