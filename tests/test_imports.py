"""What a server process holds in memory: an SDK only where its feature is configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILD_APP = """
import sys
from imgpro.app import create_app
from imgpro.settings import Settings

create_app(Settings(env="test", data_dir=sys.argv[1], secret_key="s" * 32))
print(" ".join(sorted(name for name in ("stripe",) if name in sys.modules)))
"""


def loaded(tmp_path: Path) -> str:
    """The optional SDKs a freshly built app (local billing) has imported, in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", BUILD_APP, str(tmp_path)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_server_without_stripe_does_not_load_the_stripe_sdk(tmp_path: Path) -> None:
    assert loaded(tmp_path) == ""  # the Stripe SDK alone is 8 MB of every server process
