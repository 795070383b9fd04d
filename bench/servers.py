"""ASGI servers under imgpro: uvicorn + httptools (what `imgpro serve` runs) against granian,
on cached hits (wrk -c16 on one stored 640 px WebP variant, as bench/transform.py) and on cold
renders (6 MP JPEG -> 640 px WebP, every request a new variant), one worker each, the servers
alternating round by round over the same data directory. The headline is CPU per request of
each server's process tree; req/s beside it.

granian is not a dependency of imgpro: `pip install granian` to measure it (skipped otherwise).
imgpro serves through uvicorn because its request limits (a 431 `headers_too_large` envelope
past IMGPRO_MAX_HEADER_BYTES, see imgpro.server) are uvicorn protocol code.

Usage: python bench/servers.py [--rounds N] [--hits-seconds S] [--renders N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from transform import (
    SIZES,
    Source,
    Tally,
    distinct,
    encode,
    over_http,
    photo,
    start_imgpro,
    stop,
    warm_up,
    wrk,
)


def granian(port: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "granian"),
        *("--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", "1", "--no-access-log", "--log-level", "warning"),
        "imgpro.app:create_app",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hits-seconds", type=int, default=8)
    parser.add_argument("--renders", type=int, default=30)
    args = parser.parse_args()
    servers = {"uvicorn": None, "granian": granian}
    if not (Path(sys.executable).parent / "granian").exists():
        print("granian not installed (pip install granian): only uvicorn is measured")
        del servers["granian"]
    if shutil.which("wrk") is None:
        sys.exit("wrk not installed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="imgpro-servers-"))
    print(f"{os.cpu_count()} CPUs; {workdir}; load average {os.getloadavg()[0]:.1f}", flush=True)
    source = Source(6, "jpg", encode(photo(*SIZES[6], seed=6), "jpg"), "6mp.jpg")
    path = ""  # the stored image's path under the CDN, once uploaded
    serial = itertools.count()
    totals = {name: (Tally(), Tally()) for name in servers}
    for _ in range(args.rounds):
        for name, command in servers.items():
            server = start_imgpro(workdir, "imgpro", command)  # one data directory for both
            try:
                warm_up(server)
                if not path:
                    files = {"file": ("source.jpg", source.data)}
                    response = httpx.post(f"{server.base}/v1/images", files=files, timeout=300)
                    response.raise_for_status()
                    path = response.json()["url"].split("/src/", 1)[1]
                hit = f"{server.base}/src/{path}?w=640&format=webp"
                assert httpx.get(hit, timeout=300).status_code == 200  # stored, sidecar cached
                cpu = server.cpu
                hits = wrk(hit, args.hits_seconds, 16, workdir)
                hits.cpu = server.cpu - cpu
                renders = over_http(
                    server,
                    [
                        f"{server.base}/src/{path}?w=640&h={distinct(serial)}&format=webp"
                        for _ in range(args.renders)
                    ],
                )
            finally:
                stop(server.process)
            print(
                f"  {name:<8} hits {hits.rps:6.0f} req/s {hits.cpu_ms:6.3f} ms CPU"
                f"   renders {renders.rps:5.1f} req/s {renders.cpu_ms:5.1f} ms CPU",
                flush=True,
            )
            totals[name][0].add(hits)
            totals[name][1].add(renders)
    print("all rounds:")
    for name, (hits, renders) in totals.items():
        print(
            f"  {name:<8} hits {hits.rps:6.0f} req/s {hits.cpu_ms:6.3f} ms CPU"
            f"   renders {renders.rps:5.1f} req/s {renders.cpu_ms:5.1f} ms CPU"
        )
    if len(totals) == 2:
        (uh, ur), (gh, gr) = totals["uvicorn"], totals["granian"]
        print(
            f"  granian/uvicorn CPU per request: hits {gh.cpu_ms / uh.cpu_ms:4.2f}, "
            f"renders {gr.cpu_ms / ur.cpu_ms:4.2f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
