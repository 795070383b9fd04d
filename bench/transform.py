"""CDN transform benchmark: one 12 MP JPEG to a 640 px WebP, four ways, side by side.

    (a) bare libvips: `thumbnail_buffer` + `webpsave_buffer` in this process, on threads;
    (b) imgpro cold renders over HTTP (every request a new variant: `w=640&h=<distinct>` keeps
        the output a 640 px WebP while giving each request its own cache key); imgpro renders
        them from the 2560 px working copy it stored at upload (`imgpro.media.working_copy`);
    (c) imgpro cached hits over HTTP (one stored variant, `wrk` when installed);
    (d) thumbor 7 cold renders (file loader, no storage, no result storage, `unsafe` URLs).

Then 1,000 mixed renders (formats, fits, tone, blur, rotate, animation, a few cutouts) and the
server's RSS before, halfway and after. imgpro runs as `imgpro serve --workers 2`; thumbor with
`--processes 2`. thumbor is pip-installed into its own venv (`$THUMBOR_VENV`, default
`/tmp/imgpro-bench-thumbor`); when that fails (d) is skipped with a message.

Usage: python bench/transform.py [--cold 80] [--hits-seconds 10] [--mixed 1000] [--no-thumbor]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyvips

CONCURRENCY = 4  # clients for the render rows: two workers with two render threads each
WORKERS = 2
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %f, "p50": %f, "p95": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Row:
    name: str
    requests: int
    seconds: float
    p50: float  # ms
    p95: float
    cpu: float = 0.0  # CPU seconds the server (or this process, for the bare row) spent

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @classmethod
    def of(cls, name: str, latencies: list[float], seconds: float) -> Row:
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return cls(name, len(ordered), seconds, statistics.median(ordered) * 1000, p95 * 1000)

    @property
    def cpu_ms(self) -> float:
        """CPU per request: unlike req/s, not skewed by whatever else the machine runs."""
        return self.cpu / self.requests * 1000

    def merged(self, other: Row) -> Row:
        """Two batches of the same row as one (p50/p95 recomputed by the caller)."""
        return Row(self.name, self.requests + other.requests, self.seconds + other.seconds,
                   0, 0, self.cpu + other.cpu)  # fmt: skip

    def line(self) -> str:
        return (
            f"{self.name:<34} {self.rps:>8.1f} req/s  p50 {self.p50:>7.1f} ms"
            f"  p95 {self.p95:>7.1f} ms  CPU {self.cpu_ms:>7.2f} ms/req  ({self.requests} req)"
        )


# -- sources ------------------------------------------------------------------------------------


def photo(width: int = 4000, height: int = 3000, seed: int = 3) -> bytes:
    """A photo-like JPEG (q 90): smooth shading, texture and grain, so decoding and
    shrink-on-load cost what a camera file costs (12 MP at the default size)."""
    base = pyvips.Image.gaussnoise(width // 16 + 1, height // 16 + 1, sigma=40, mean=128, seed=seed)
    shading = base.resize(16, kernel="cubic").extract_area(0, 0, width, height)
    xy = pyvips.Image.xyz(width, height)
    red = shading + xy[0] * (100 / width)
    green = shading * 0.8 + xy[1] * (100 / height)
    blue = 255 - shading * 0.7
    grain = pyvips.Image.gaussnoise(width, height, sigma=9, mean=0, seed=seed + 1)
    colour = red.bandjoin([green, blue]) + grain
    return colour.cast("uchar").copy(interpretation="srgb").jpegsave_buffer(Q=90)


def animation(frames: int = 24) -> bytes:
    pages = [
        pyvips.Image.black(240, 160, bands=3) + [i * 10, 90, 255 - i * 10] for i in range(frames)
    ]
    strip = pyvips.Image.arrayjoin(pages, across=1).cast("uchar").copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", 160)
    return strip.gifsave_buffer()


# -- load ---------------------------------------------------------------------------------------


async def fetch_all(
    urls: list[str], concurrency: int, name: str, sink: list[float] | None = None
) -> Row:
    """GET every URL with `concurrency` clients; every answer must be a 200."""
    pending = iter(urls)
    latencies: list[float] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        for url in pending:
            started = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    if sink is not None:
        sink.extend(latencies)
    return Row.of(name, latencies, seconds)


def bare_libvips(data: bytes, count: int, concurrency: int) -> Row:
    def one(_: int) -> float:
        started = time.perf_counter()
        image = pyvips.Image.thumbnail_buffer(data, 640)
        image.webpsave_buffer(Q=80, keep=pyvips.enums.ForeignKeep.NONE)
        return time.perf_counter() - started

    pyvips.cache_set_max(0)  # as in imgpro: no operation cache
    one(0)
    with ThreadPoolExecutor(concurrency) as pool:
        cpu = process_cpu()
        started = time.perf_counter()
        latencies = list(pool.map(one, range(count)))
        seconds = time.perf_counter() - started
        cpu = process_cpu() - cpu
    row = Row.of("(a) bare libvips, in process", latencies, seconds)
    row.cpu = cpu
    return row


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wrk(url: str, seconds: int, connections: int, workdir: Path) -> Row:
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    if report["errors"]:
        raise RuntimeError(f"wrk saw {report['errors']} errors:\n{output}")
    return Row("(c) imgpro cached hits (wrk)", report["requests"], report["seconds"],
               report["p50"], report["p95"])  # fmt: skip


# -- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started by `launch`, its forked workers included (its own process group)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def launch(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, in MB."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its live descendants."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def start_imgpro(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "IMGPRO_DATA_DIR": str(workdir / "imgpro"),
        "IMGPRO_WEB_URL": base,
        "IMGPRO_API_URL": base,
        "IMGPRO_CDN_URL": f"{base}/src",
        "IMGPRO_ANONYMOUS_UPLOADS_PER_HOUR": "1000",
        "IMGPRO_RENDERS_PER_MINUTE": "1000000",  # every request of the cold rows is a render
    }
    command = [str(Path(sys.executable).parent / "imgpro"), "serve", "--port", str(port)]
    command += ["--workers", str(WORKERS)]
    process = launch(command, workdir / "imgpro.log", env)
    wait_until_up(base + "/openapi.json", process, "imgpro")
    return process, base


def upload(base: str, data: bytes, name: str) -> str:
    response = httpx.post(f"{base}/v1/images", files={"file": (name, data)}, timeout=120)
    response.raise_for_status()
    return response.json()["url"]


def thumbor_binary() -> Path | None:
    venv = Path(os.environ.get("THUMBOR_VENV", "/tmp/imgpro-bench-thumbor"))
    binary = venv / "bin" / "thumbor"
    if binary.exists():
        return binary
    print(f"installing thumbor into {venv} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", "thumbor>=7,<8"]
        subprocess.run(pip, check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as error:
        print(f"thumbor could not be installed ({error}); row (d) is skipped")
        return None
    return binary if binary.exists() else None


def start_thumbor(binary: Path, workdir: Path, source: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    conf = workdir / "thumbor.conf"
    conf.write_text(
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = '{source.parent}'\n"
        "STORAGE = 'thumbor.storages.no_storage'\n"
        "RESULT_STORAGE = None\n"
        "ALLOW_UNSAFE_URL = True\n"
        "QUALITY = 80\n"
        "MAX_AGE = 0\n"
    )
    command = [str(binary), "-p", str(port), "-i", "127.0.0.1", "-c", str(conf), "-l", "error"]
    command += ["--processes", str(WORKERS)]
    process = launch(command, workdir / "thumbor.log")
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/healthcheck", process, "thumbor")
    return process, base


# -- the mixed workload -------------------------------------------------------------------------


def mixed_queries(count: int) -> Iterable[tuple[int, str]]:
    """(source index, query) pairs: every query distinct, a spread of what a CDN sees."""
    fits = ["scale-down", "contain", "cover", "crop", "pad"]
    formats = ["webp", "jpg", "png", "avif", "webp", "jpg"]
    for i in range(count):
        query = f"w={200 + i}&fit={fits[i % 5]}&format={formats[i % 6]}"
        if fits[i % 5] != "scale-down":
            query += f"&h={150 + i % 97}"
        if i % 7 == 0:
            query += "&blur=3"
        if i % 11 == 0:
            query += "&rotate=90&flip=h"
        if i % 13 == 0:
            query += "&contrast=1.2&saturation=1.3"
        if i % 17 == 0:
            query += "&gravity=auto"
        if i % 50 == 0:
            query = f"w={256 + i}&cutout=1&format=png"
        source = 0 if i % 5 == 0 else 1 + i % 3  # a fifth are the 12 MP photo
        if source == 3:
            query = f"w={20 + i}&format={'gif' if i % 2 else 'webp'}"
        yield source, query


async def mixed(urls: list[str], count: int, process: subprocess.Popen) -> list[float]:
    queries = [f"{urls[source]}?{query}" for source, query in mixed_queries(count)]
    rss = [tree_rss_mb(process.pid)]
    for half in (queries[: count // 2], queries[count // 2 :]):
        await fetch_all(half, CONCURRENCY, "mixed")
        rss.append(tree_rss_mb(process.pid))
    return rss


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=80, help="cold renders per row")
    parser.add_argument("--hits-seconds", type=int, default=10)
    parser.add_argument("--mixed", type=int, default=1000, help="mixed renders for the RSS")
    parser.add_argument("--no-thumbor", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="imgpro-bench-"))
    data = photo()
    source = workdir / "photos" / "photo.jpg"
    source.parent.mkdir()
    source.write_bytes(data)
    print(f"source: 4000×3000 JPEG, {len(data) / 1e6:.1f} MB; {os.cpu_count()} CPUs; {workdir}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")

    rows: dict[str, Row] = {"a": bare_libvips(data, args.cold, CONCURRENCY)}
    print(rows["a"].line(), flush=True)

    binary = None if args.no_thumbor else thumbor_binary()
    servers: list[subprocess.Popen] = []
    try:
        imgpro, base = start_imgpro(workdir)
        servers.append(imgpro)
        url = upload(base, data, "photo.jpg")
        cold = [f"{url}?w=640&h={5000 + i}&format=webp" for i in range(args.cold + 4)]
        peers = {"b": (imgpro, cold, "(b) imgpro cold renders, HTTP")}
        if binary is not None:
            thumbor, thumbor_base = start_thumbor(binary, workdir, source)
            servers.append(thumbor)
            thumbor_url = f"{thumbor_base}/unsafe/640x0/filters:format(webp)/photo.jpg"
            peers["d"] = (thumbor, [thumbor_url] * (args.cold + 4), "(d) thumbor 7 cold renders")
        rows.update(cold_rounds(peers, rounds=4))
        for key in peers:
            print(rows[key].line(), flush=True)

        hit = f"{url}?w=640&format=webp"
        assert httpx.get(hit, timeout=60).status_code == 200
        cpu = tree_cpu(imgpro.pid)
        if subprocess.run(["which", "wrk"], capture_output=True).returncode == 0:
            rows["c"] = wrk(hit, args.hits_seconds, 8, workdir)
        else:
            print("wrk not installed (apt-get install wrk): hits measured with httpx instead")
            rows["c"] = asyncio.run(fetch_all([hit] * 3000, 16, "(c) imgpro cached hits (httpx)"))
        rows["c"].cpu = tree_cpu(imgpro.pid) - cpu
        print(rows["c"].line(), flush=True)

        sources = [url, upload(base, photo(1600, 1200, seed=5), "b.jpg")]
        sources.append(upload(base, pyvips.Image.new_from_buffer(photo(1200, 900, seed=9), "")
                              .bandjoin(128).pngsave_buffer(), "c.png"))  # fmt: skip
        sources.append(upload(base, animation(), "d.gif"))
        started = time.perf_counter()
        rss = asyncio.run(mixed(sources, args.mixed, imgpro))
        mixed_seconds = time.perf_counter() - started
    finally:
        for server in servers:
            stop(server)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    report(rows, rss, args.mixed, mixed_seconds)


def cold_rounds(
    peers: dict[str, tuple[subprocess.Popen, list[str], str]], rounds: int
) -> dict[str, Row]:
    """Cold renders of every peer in alternating batches, so that whatever else the machine
    runs meanwhile weighs on all of them alike. The first few URLs of each warm up."""
    latencies: dict[str, list[float]] = {key: [] for key in peers}
    totals: dict[str, Row] = {}
    for _server, urls, _name in peers.values():
        asyncio.run(fetch_all(urls[:4], CONCURRENCY, "warm-up"))
    for index in range(rounds):
        for key, (server, urls, name) in peers.items():
            batch = urls[4:][index::rounds]
            cpu = tree_cpu(server.pid)
            row = asyncio.run(fetch_all(batch, CONCURRENCY, name, latencies[key]))
            row.cpu = tree_cpu(server.pid) - cpu
            totals[key] = totals[key].merged(row) if key in totals else row
    for key, total in totals.items():
        ordered = Row.of(total.name, latencies[key], total.seconds)
        ordered.cpu = total.cpu
        totals[key] = ordered
    return totals


def report(rows: dict[str, Row], rss: list[float], mixed_count: int, mixed_seconds: float) -> None:
    print("\n" + "\n".join(rows[key].line() for key in sorted(rows)))
    bare, cold, hits = rows["a"], rows["b"], rows["c"]
    print(
        f"\ncold render cost vs bare libvips: {bare.rps / cold.rps:.2f}× by throughput, "
        f"{cold.cpu_ms / bare.cpu_ms:.2f}× by CPU per render  (target ≤ 1.3×)"
    )
    if "d" in rows:
        thumbor = rows["d"]
        print(
            f"cold throughput vs thumbor:       {cold.rps / thumbor.rps:.2f}× by throughput, "
            f"{thumbor.cpu_ms / cold.cpu_ms:.2f}× by CPU per render  (target ≥ 1.5×)"
        )
    capacity = os.cpu_count() or 1
    print(
        f"cached hits: {hits.rps:.0f} req/s at p50 {hits.p50:.1f} ms, p95 {hits.p95:.1f} ms; "
        f"{hits.cpu_ms:.2f} ms server CPU each = {capacity * 1000 / hits.cpu_ms:.0f} req/s on "
        f"{capacity} idle cores  (target ≥ 1500 at p50 ≤ 5 ms)"
    )
    print(
        f"server RSS ({WORKERS} workers + supervisor): {rss[0]:.0f} MB before, "
        f"{rss[1]:.0f} MB after {mixed_count // 2}, {rss[2]:.0f} MB after {mixed_count} mixed "
        f"renders ({mixed_count / mixed_seconds:.1f} renders/s)"
    )


if __name__ == "__main__":
    main()
