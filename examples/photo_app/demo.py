"""`make demo`: imgpro and Photo App side by side, ready to click through.

Provisions (once, in ./data-demo) an owner on the Pro plan and the app "Photo App" whose
redirect URI is Photo App's callback, starts both servers and prints the address to open.
Sign-in codes appear in the terminal and on imgpro's /dev/outbox page. Ctrl-C stops both.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

IMGPRO_PORT = int(os.environ.get("DEMO_IMGPRO_PORT", "8000"))
APP_PORT = int(os.environ.get("DEMO_APP_PORT", "3000"))
DATA = Path(os.environ.get("DEMO_DATA_DIR", "data-demo")).resolve()
OWNER = "owner@photo-app.example"
BIN = Path(sys.executable).parent


def imgpro_env() -> dict[str, str]:
    base = f"http://127.0.0.1:{IMGPRO_PORT}"
    return {
        **os.environ,
        "IMGPRO_DATA_DIR": str(DATA),
        "IMGPRO_WEB_URL": base,
        "IMGPRO_API_URL": base,
        "IMGPRO_CDN_URL": f"{base}/src",
    }


def admin(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [str(BIN / "imgpro"), "admin", *args, "--json"],
        env=imgpro_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"imgpro admin {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def provision() -> dict[str, object]:
    """The owner and the app, made on the first run and reused after (the secret is shown only
    once, so it is kept next to the demo's data)."""
    saved = DATA / "photo_app.json"
    callback = f"http://localhost:{APP_PORT}/callback"
    if saved.exists():
        app = json.loads(saved.read_text())
        if callback in app["redirect_uris"]:
            return app  # type: ignore[no-any-return]
    DATA.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "imgpro"), "migrate"], env=imgpro_env(), check=True)
    with contextlib.suppress(SystemExit):  # the owner exists from an earlier run
        admin("user", "create", OWNER, "--plan", "pro")
    app = admin(
        "app", "create", "--owner", OWNER, "--name", "Photo App", "--redirect-uri", callback
    )
    saved.write_text(json.dumps(app))
    return app


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} did not start (exit {process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within a minute")


def main() -> None:
    app = provision()
    imgpro_url = f"http://127.0.0.1:{IMGPRO_PORT}"
    app_url = f"http://localhost:{APP_PORT}"
    imgpro = subprocess.Popen(
        [str(BIN / "imgpro"), "serve", "--port", str(IMGPRO_PORT)], env=imgpro_env()
    )
    photo_env = {
        **os.environ,
        "IMGPRO_SECRET": str(app["secret"]),
        "IMGPRO_APP_ID": str(app["id"]),
        "IMGPRO_API_URL": imgpro_url,
        "IMGPRO_WEB_URL": imgpro_url,
        "PHOTO_APP_URL": app_url,
    }
    photo = subprocess.Popen(
        [
            str(BIN / "uvicorn"),
            "examples.photo_app.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(APP_PORT),
            "--log-level",
            "warning",
        ],
        env=photo_env,
    )
    try:
        wait_for(f"{imgpro_url}/healthz", imgpro)
        wait_for(f"{app_url}/", photo)
        print(
            f"\n  Photo App:  {app_url}   <- open this\n"
            f"  imgpro:     {imgpro_url}   (sign-in codes: {imgpro_url}/dev/outbox)\n"
            f"  owner:      {OWNER} (Pro plan; app id {app['id']})\n"
            "  Ctrl-C stops both.\n",
            flush=True,
        )
        while imgpro.poll() is None and photo.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in (photo, imgpro):
            process.terminate()
        for process in (photo, imgpro):
            process.wait(10)


if __name__ == "__main__":
    main()
