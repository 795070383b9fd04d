"""`make demo` as a newcomer runs it: one command provisions an owner and the app, starts imgpro
and Photo App, and prints the address; that address shows the sign-in button."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_provisions_starts_both_and_prints_the_url(tmp_path: Path) -> None:
    app_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGPRO_")}
    env.update(
        DEMO_IMGPRO_PORT=str(free_port()),
        DEMO_APP_PORT=str(app_port),
        DEMO_DATA_DIR=str(tmp_path / "demo"),
    )
    with subprocess.Popen(
        [sys.executable, "examples/photo_app/demo.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as demo:
        try:
            assert demo.stdout is not None
            deadline = time.time() + 180
            printed = ""
            while "Ctrl-C" not in printed and time.time() < deadline and demo.poll() is None:
                printed += demo.stdout.readline()
            assert f"Photo App:  http://localhost:{app_port}" in printed, printed
            home = httpx.get(f"http://localhost:{app_port}/")
            assert home.status_code == 200 and "Continue with img.pro" in home.text
            assert (tmp_path / "demo" / "photo_app.json").exists()
        finally:
            demo.send_signal(signal.SIGINT)
            assert demo.wait(60) == 0
