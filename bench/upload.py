"""Upload throughput: 1 MB JPEGs from 8 concurrent clients against `imgpro serve`, beside the
same server answering a trivial endpoint (/healthz: the framework's ceiling), in one run.

    .venv/bin/python bench/upload.py [--seconds 15] [--clients 8] [--workers 1]

Prints uploads/s, p50 and p95 for both, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyvips


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_megabyte_jpeg() -> bytes:
    """A photo-like 1 MB JPEG (noise over a gradient compresses like a real photo)."""
    side = 2300
    gradient = pyvips.Image.xyz(side, side)[0].linear(255 / side, 0).cast("uchar")
    noise = pyvips.Image.gaussnoise(side, side, sigma=40, mean=0)
    image = (gradient + noise).cast("uchar").bandjoin([gradient, gradient.flip("horizontal")])
    for quality in range(95, 40, -5):
        data = image.jpegsave_buffer(Q=quality)
        if len(data) <= 1_050_000:
            return bytes(data)
    return bytes(data)


async def hammer(
    url: str,
    clients: int,
    seconds: float,
    request: callable,  # type: ignore[valid-type]
) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await request(client)
                if response.status_code >= 400:
                    raise SystemExit(
                        f"benchmark request failed: {response.status_code} {response.text}"
                    )
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return latencies


def summary(name: str, latencies: list[float], seconds: float) -> float:
    rate = len(latencies) / seconds
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<22} {rate:8.1f} req/s   p50 {quantiles[49] * 1000:7.1f} ms   "
        f"p95 {quantiles[94] * 1000:7.1f} ms   ({len(latencies)} requests)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    imgpro = str(Path(sys.executable).parent / "imgpro")
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "IMGPRO_DATA_DIR": data_dir,
            "IMGPRO_WEB_URL": base,
            "IMGPRO_API_URL": base,
            "IMGPRO_CDN_URL": f"{base}/src",
        }

        def run(*command: str) -> str:
            done = subprocess.run(
                [imgpro, *command], env=env, check=True, capture_output=True, text=True
            )
            return done.stdout

        run("migrate")
        run("admin", "user", "create", "bench@example.com", "--plan", "max", "--json")
        key = json.loads(run("admin", "key", "create", "--user", "bench@example.com", "--json"))[
            "key"
        ]
        server = subprocess.Popen(
            [imgpro, "serve", "--port", str(port), "--workers", str(args.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            photo = one_megabyte_jpeg()
            print(
                f"imgpro serve --workers {args.workers}; {args.clients} clients; "
                f"{args.seconds:.0f} s each; JPEG of {len(photo) / 1e6:.2f} MB; "
                f"{os.cpu_count()} cores"
            )

            async def trivial(client: httpx.AsyncClient) -> httpx.Response:
                return await client.get("/healthz")

            # encode the multipart body once: the client shares the 2 cores with the server,
            # and httpx's per-request multipart encoding would make it the bottleneck
            boundary = "imgpro-bench-boundary"
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
                + photo
                + f"\r\n--{boundary}--\r\n".encode()
            )
            upload_headers = {
                "Authorization": f"Bearer {key}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            }

            async def upload(client: httpx.AsyncClient) -> httpx.Response:
                # the same bytes each time is honest: imgpro stores every upload, no dedup
                return await client.post("/v1/images", content=body, headers=upload_headers)

            ceiling = summary(
                "trivial (/healthz)",
                asyncio.run(hammer(base, args.clients, args.seconds, trivial)),
                args.seconds,
            )
            uploads = summary(
                "upload 1 MB JPEG",
                asyncio.run(hammer(base, args.clients, args.seconds, upload)),
                args.seconds,
            )
            print(
                f"ratio uploads / trivial: {uploads / ceiling:.3f} "
                f"({ceiling / uploads:.1f}x cheaper to answer the trivial endpoint)"
            )
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
