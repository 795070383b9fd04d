"""Fixed CPU per cache miss: the server process alone and its whole tree, per miss of a cheap
render (a 1 MP JPEG to 320 px JPEG, every request a new variant), sequential requests; and how
often the server's threads went to sleep a miss (voluntary context switches: each wakes an
idle core, which costs more than the few microseconds of Python around it).

Usage: python bench/miss.py [--misses N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import httpx
from transform import (
    Source,
    encode,
    photo,
    process_cpu_of,
    settled,
    start_imgpro,
    stop,
    tree_cpu,
    upload,
    warm_up,
)


def sleeps_of(pid: int) -> int:
    """Voluntary context switches so far of every thread of `pid`."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    total += int(line.split()[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misses", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="imgpro-miss-"))
    imgpro = start_imgpro(workdir)
    try:
        warm_up(imgpro)
        source = Source(1, "jpg", encode(photo(1224, 816, seed=1), "jpg"), "1mp.jpg")
        upload(imgpro, source)
        pid = imgpro.process.pid
        height = 1000
        with httpx.Client(timeout=60) as client:
            for round_ in range(args.rounds):
                settled(imgpro)
                server, tree, wall = process_cpu_of(pid), tree_cpu(pid), time.perf_counter()
                sleeps = sleeps_of(pid)
                for _ in range(args.misses):
                    height += 1
                    url = f"{source.url}?w=320&h={height}&format=jpg"
                    assert client.get(url).status_code == 200
                wall = time.perf_counter() - wall
                server = (process_cpu_of(pid) - server) / args.misses * 1000
                tree = (tree_cpu(pid) - tree) / args.misses * 1000
                sleeps = (sleeps_of(pid) - sleeps) / args.misses
                print(
                    f"round {round_ + 1}: {args.misses} misses, server {server:.2f} ms CPU, "
                    f"tree {tree:.2f} ms CPU, wall {wall / args.misses * 1000:.2f} ms, "
                    f"server sleeps {sleeps:.1f} per miss",
                    flush=True,
                )
    finally:
        stop(imgpro.process)


if __name__ == "__main__":
    main()
