"""Mixed load on the scale-out stack: one node, then two, on PostgreSQL + S3 (moto's server) +
Redis. 70 % CDN hits (variants the nodes already cached), 20 % API reads (one image, a page of
the list), 10 % uploads (small JPEGs). Requests alternate between the nodes (client side: no
nginx, whose cache would answer the CDN hits itself).

    .venv/bin/python bench/load.py [--seconds 20] [--clients 16]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/imgpro_bench]

Prints, per configuration: requests/s, p50/p95/p99 (all and per kind), errors (must be 0), and
CPU per request: the nodes' own (with their render processes), and everything measured (nodes,
moto, Redis, this load generator). PostgreSQL is the machine's shared server, so its CPU is left
out. Everything runs on this one machine: read the CPU per request as well as the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pyvips
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from transform import wait_until_up

BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")
MIX = {"cdn": 70, "api": 20, "upload": 10}
EXPECTED = {"cdn": 200, "api": 200, "upload": 201}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants, plus its reaped children's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    own = sum(int(value) for value in fields[11:15]) / TICKS  # utime stime cutime cstime
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def photo(width: int, height: int, seed: int) -> bytes:
    noise = pyvips.Image.gaussnoise(width, height, sigma=30, mean=128 + seed % 50)
    gradient = pyvips.Image.xyz(width, height)[0].linear(255 / width, 0)
    return (
        (noise.bandjoin([gradient, noise.flip("horizontal")])).cast("uchar").jpegsave_buffer(Q=85)
    )


async def reset_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    engine = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        if not await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ):
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


class Stack:
    """moto, Redis and N nodes, as subprocesses of this script."""

    def __init__(self, nodes: int, database_url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        moto_port, redis_port = free_port(), free_port()
        self.moto = self._spawn([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)])
        wait_until_up(f"http://127.0.0.1:{moto_port}/", self.moto, "moto")
        import boto3

        endpoint = f"http://127.0.0.1:{moto_port}"
        os.environ.update(CREDENTIALS)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket="bench"
        )
        redis = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.redis = self._spawn([redis, "--port", str(redis_port), "--save", ""])
        asyncio.run(reset_database(database_url))
        self.env = {
            **os.environ,
            **CREDENTIALS,
            "IMGPRO_ENV": "test",
            "IMGPRO_DATABASE_URL": database_url,
            "IMGPRO_STORAGE_URL": f"s3://bench?endpoint_url={endpoint}&region=us-east-1",
            "IMGPRO_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "IMGPRO_SECRET_KEY": "bench-secret-bench-secret-bench-secret",
            "IMGPRO_CREDENTIAL_REQUESTS_PER_MINUTE": "100000000",
            "IMGPRO_DATA_DIR": str(workdir / "admin"),
        }
        subprocess.run([str(BIN / "imgpro"), "migrate"], env=self.env, check=True)
        self.nodes: list[tuple[str, subprocess.Popen[bytes]]] = []
        for index in range(nodes):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = {
                **self.env,
                "IMGPRO_DATA_DIR": str(workdir / f"node{index}"),
                "IMGPRO_WEB_URL": base,
                "IMGPRO_API_URL": base,
                "IMGPRO_CDN_URL": f"{base}/src",
            }
            node = self._spawn([str(BIN / "imgpro"), "serve", "--port", str(port)], env)
            wait_until_up(f"{base}/openapi.json", node, f"node {index}")
            self.nodes.append((base, node))

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> Any:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.processes.append(process)
        return process

    def admin(self, *args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "imgpro"), "admin", *args, "--json"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return dict(json.loads(done.stdout))

    def cpu(self) -> tuple[float, float]:
        nodes = sum(cpu_seconds(process.pid) for _, process in self.nodes)
        backends = cpu_seconds(self.moto.pid) + cpu_seconds(self.redis.pid)
        return nodes, nodes + backends + cpu_seconds(os.getpid())

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            process.wait(30)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def load(stack: Stack, seconds: float, clients: int) -> dict[str, Any]:
    stack.admin("user", "create", "bench@example.com", "--plan", "max")
    key = stack.admin("key", "create", "--user", "bench@example.com")["key"]
    bases = [base for base, _ in stack.nodes]
    headers = {"Authorization": f"Bearer {key}"}
    small = photo(256, 192, 1)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as http:
        ids, cdn_paths = [], []
        for seed in range(20):  # the images and variants the CDN hits ask for
            answer = await http.post(
                f"{bases[seed % len(bases)]}/v1/images",
                files={"file": (f"{seed}.jpg", photo(640, 480, seed))},
                headers=headers,
            )
            answer.raise_for_status()
            image = answer.json()
            ids.append(image["id"])
            path = image["url"].split("/src", 1)[1]
            for width in (100, 200, 320):
                cdn_paths.append(f"/src{path}?w={width}")
        for base in bases:  # every node renders or fetches each once: later ones are hits
            for path in cdn_paths:
                (await http.get(base + path)).raise_for_status()

        samples: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        turn = 0
        kinds = random.Random(7).choices(list(MIX), weights=list(MIX.values()), k=1_000_000)
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal turn
            while time.monotonic() < deadline:
                kind, base = kinds[turn], bases[turn % len(bases)]
                turn += 1
                started = time.perf_counter()
                if kind == "cdn":
                    request = http.get(base + random.choice(cdn_paths))
                elif kind == "api":
                    path = f"/v1/images/{random.choice(ids)}" if turn % 2 else "/v1/images"
                    request = http.get(base + path, headers=headers)
                else:
                    request = http.post(
                        f"{base}/v1/images", files={"file": ("u.jpg", small)}, headers=headers
                    )
                try:
                    status = (await request).status_code
                except httpx.HTTPError:
                    status = 0
                samples[kind].append(time.perf_counter() - started)
                if status != EXPECTED[kind]:
                    errors[kind] += 1

        cpu_before = stack.cpu()
        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.monotonic() - started
        cpu_after = stack.cpu()

    every = [value for values in samples.values() for value in values]
    total = len(every)
    return {
        "nodes": len(bases),
        "requests": total,
        "requests_per_second": round(total / elapsed, 1),
        "p50_ms": round(percentile(every, 0.50), 1),
        "p95_ms": round(percentile(every, 0.95), 1),
        "p99_ms": round(percentile(every, 0.99), 1),
        "by_kind": {
            kind: {
                "count": len(values),
                "p50_ms": round(percentile(values, 0.50), 1),
                "p95_ms": round(percentile(values, 0.95), 1),
                "p99_ms": round(percentile(values, 0.99), 1),
                "mean_ms": round(statistics.fmean(values) * 1000, 1),
            }
            for kind, values in sorted(samples.items())
        },
        "node_cpu_ms_per_request": round((cpu_after[0] - cpu_before[0]) / total * 1000, 2),
        "all_cpu_ms_per_request": round((cpu_after[1] - cpu_before[1]) / total * 1000, 2),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "load_average": os.getloadavg()[0],  # the box is shared: read the figures against it
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/imgpro_bench"
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    results = []
    for count in args.nodes:
        with tempfile.TemporaryDirectory() as workdir:
            stack = Stack(count, args.database_url, Path(workdir))
            try:
                results.append(asyncio.run(load(stack, args.seconds, args.clients)))
            finally:
                stack.close()
        print(json.dumps(results[-1]), flush=True)
    if len(results) == 2:
        one, two = results
        throughput = two["requests_per_second"] / one["requests_per_second"]
        cpu = two["node_cpu_ms_per_request"] / one["node_cpu_ms_per_request"]
        print(f"two nodes / one node: throughput x{throughput:.2f}, node CPU/request x{cpu:.2f}")


if __name__ == "__main__":
    main()
