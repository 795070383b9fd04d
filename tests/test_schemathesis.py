"""schemathesis against a live imgpro, with every check (`--checks all`): once with an API key,
once as an app (machine secret + X-Img-User). Examples are bounded so both runs take minutes.

The stack is a SQLite one of its own with generous rate limits: the runs send hundreds of
requests a minute, and a 429 would hide what the check is about."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack, start_stack
from tests.factories.identity import connected_user, register_app

MAX_EXAMPLES = 15
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running, server = start_stack(
        "schemathesis",
        tmp_path_factory.mktemp("schemathesis"),
        credential_requests_per_minute=1_000_000,
        anonymous_uploads_per_hour=1_000_000,
        anonymous_uploads_per_day=1_000_000,
    )
    try:
        yield running
    finally:
        running.close()
        server.stop()


def schemathesis(stack: Stack, report: Path, *headers: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{stack.settings.api_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261129",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ]
    for header in headers:
        command += ["-H", header]
    # run in the report folder: schemathesis keeps a cache in its working directory
    return subprocess.run(
        command, capture_output=True, text=True, timeout=900, check=False, cwd=report
    )


def failures(run: subprocess.CompletedProcess[str]) -> str:
    """schemathesis' report from its FAILURES section on (the server's log lines are noise)."""
    start = run.stdout.find("FAILURES")
    return run.stdout[start if start >= 0 else -5000 :][:20000] + run.stderr[-2000:]


def test_schemathesis_with_an_api_key(fuzzed_stack: Stack, tmp_path: Path) -> None:
    key = fuzzed_stack.key()  # a free workspace, so checkout can start
    # X-Img-User is documented on every operation an app may call, and a personal key that
    # names a user gets 422 by design (no schema can say "not with this credential"): this run
    # sends it empty, which names nobody, so no generated value stands in for it
    run = schemathesis(fuzzed_stack, tmp_path, f"Authorization: Bearer {key}", "X-Img-User: ")
    assert run.returncode == 0, failures(run)


def test_schemathesis_as_an_app(fuzzed_stack: Stack, tmp_path: Path) -> None:
    app = register_app(fuzzed_stack)
    user_id = connected_user(fuzzed_stack, app)
    run = schemathesis(
        fuzzed_stack, tmp_path, f"Authorization: Bearer {app.secret}", f"X-Img-User: {user_id}"
    )
    assert run.returncode == 0, failures(run)
