"""CDN benchmark: what users meet, against thumbor, bare pyvips and nginx, in one run.

1. Cold renders: sources of 1, 3, 6, 12 and 24 MP (JPEG, PNG, WebP, HEIC) to 320/640/1280 px
   WebP, AVIF and JPEG, each cell run by three peers in alternating batches (so whatever else
   the machine runs weighs on all alike):
     bare    `thumbnail_buffer` + save in this process (libvips' own shrink-on-load choices),
             never enlarging (as imgpro's default fit; thumbor is told `no_upscale()`);
     imgpro  `imgpro serve` (one worker and its render processes), every request a new variant
             (`w=640&h=<distinct>` is a 640 px output with its own cache key);
     thumbor 7 (file loader, no storage, no result storage, `unsafe` URLs), one process;
     alone   imgpro's `render` in this process, where no working copy serves (up to 6 MP):
             what a server that cost nothing would spend, beside what the served miss cost,
             which is split into the server process's part and its render processes'.
   The headline is CPU seconds per request of each server's process tree (this process for
   bare): unlike req/s it hardly moves with the machine's other load. req/s is printed beside.
   Each peer's requests per cell are sized from a first request (about 0.5 s of CPU, 2 to 32
   requests: ±3 % on a cheap cell, read in 10 ms clock ticks); that first output
   of imgpro and of thumbor is also scored: its bytes, and its SSIM against the source's own
   pixels resized to its size.
   HEIC is converted at upload (to JPEG), so imgpro's HEIC rows render that conversion, and so
   does bare (`stored`); thumbor decodes the HEIC itself. A per source size × output summary
   of the ratios follows, then a table of the goals (issue 16) with met / not met.
2. Uploads: CPU of each source's upload, of the first variant (which starts the working copy)
   and of the next (from the copy); then, in this process (CPU read to the microsecond), the
   copy and a variant from the original and from the copy: after how many variants it pays back.
3. Cached hits: one stored variant under wrk, against nginx serving the same bytes (each server
   on a core of its own, wrk on another).
4. Cutout: imgpro's `cutout=1` at 1024 px against the same steps bare (resize, u2netp, PNG).
5. Memory: imgpro's process tree (the server and its render processes) every 100 of
   `--renders` mixed renders (sizes, formats, animated GIF), first without cutout, then with
   cutout in the mix: its resident pages counted once (the goal), its RSS summed over the
   processes (which counts a shared library once per process), its PSS, and the server's RSS.

thumbor is pip-installed into its own venv (`$THUMBOR_VENV`, default /tmp/imgpro-bench-thumbor,
with pillow-heif); nginx and wrk come from apt (`apt-get install nginx-light wrk`). A peer that
is missing is skipped with a message.

Usage: python bench/transform.py [--quick] [--requests N] [--hits-seconds S] [--renders N]
       [--no-thumbor] [--only renders,uploads,hits,cutout,memory] [--sizes 1,3,6,12,24]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import functools
import io
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyvips

from imgpro.media import working_copy
from imgpro.media.render import make_working_copy, render, working_copy_of_pixels
from imgpro.media.transform import TransformSpec, parse

CONCURRENCY = 2  # clients: one per core, as many as imgpro's render processes
SIZES = {1: (1224, 816), 3: (2048, 1536), 6: (3000, 2000), 12: (4000, 3000), 24: (6000, 4000)}
SOURCE_FORMATS = ("jpg", "png", "webp", "heic")
WIDTHS = (320, 640, 1280)
OUTPUTS = ("webp", "avif", "jpg")
QUALITY = {"webp": 80, "avif": 55, "jpg": 80}  # imgpro's defaults; thumbor and bare are told
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %f, "p50": %f, "p95": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Tally:
    """Requests, wall seconds, CPU seconds and latencies of one peer on one cell."""

    requests: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    output_bytes: int = 0  # one sample output of the cell: its size ...
    ssim: float = 0.0  # ... and its SSIM against the source pixels resized (`reference`)
    server_cpu: float = 0.0  # of `cpu`, the server's own process (imgpro: not its renderers)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.server_cpu += other.server_cpu
        self.latencies += other.latencies

    @property
    def cpu_ms(self) -> float:
        return self.cpu / max(1, self.requests) * 1000

    @property
    def server_ms(self) -> float:
        return self.server_cpu / max(1, self.requests) * 1000

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0


# -- sources ------------------------------------------------------------------------------------


def photo(width: int = 4000, height: int = 3000, seed: int = 3) -> pyvips.Image:
    """Photo-like pixels: smooth shading, texture and grain, so decoding and shrink-on-load
    cost what a camera file costs."""
    base = pyvips.Image.gaussnoise(width // 16 + 1, height // 16 + 1, sigma=40, mean=128, seed=seed)
    shading = base.resize(16, kernel="cubic").extract_area(0, 0, width, height)
    xy = pyvips.Image.xyz(width, height)
    red = shading + xy[0] * (100 / width)
    green = shading * 0.8 + xy[1] * (100 / height)
    blue = 255 - shading * 0.7
    grain = pyvips.Image.gaussnoise(width, height, sigma=9, mean=0, seed=seed + 1)
    colour = red.bandjoin([green, blue]) + grain
    return colour.cast("uchar").copy(interpretation="srgb").copy_memory()


def encode(image: pyvips.Image, fmt: str) -> bytes:
    """A source file as a camera or an editor writes it."""
    if fmt == "jpg":
        return image.jpegsave_buffer(Q=90)
    if fmt == "png":
        return image.pngsave_buffer(compression=6)
    if fmt == "webp":
        return image.webpsave_buffer(Q=90)
    from PIL import Image
    from pillow_heif import register_heif_opener

    register_heif_opener()
    picture = Image.fromarray(image.numpy())
    for quality in (90, 80, 70):
        out = io.BytesIO()
        picture.save(out, format="HEIF", quality=quality)
        try:  # a grainy 24 MP frame at q=90 is more than libde265 will decode
            Image.open(io.BytesIO(out.getvalue())).load()
        except ValueError:
            print(f"  {image.width}×{image.height} HEIC at q={quality} does not decode: lower")
            continue
        break
    return out.getvalue()


def animation(frames: int = 24) -> bytes:
    pages = [
        pyvips.Image.black(240, 160, bands=3) + [i * 10, 90, 255 - i * 10] for i in range(frames)
    ]
    strip = pyvips.Image.arrayjoin(pages, across=1).cast("uchar").copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", 160)
    return strip.gifsave_buffer()


# -- processes ----------------------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE")


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


def rollup_kb(pid: int) -> dict[str, int] | None:
    """`pid`'s /proc/PID/smaps_rollup (Rss, Pss, ...) in kB; None once it has ended."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return None
    return {line.split(":")[0]: int(line.split()[1]) for line in lines}


def resident_pages(pid: int) -> set[int] | None:
    """The physical pages (frame numbers) `pid` has resident, from /proc/PID/pagemap: None
    where the kernel hides frame numbers (they read 0 without CAP_SYS_ADMIN)."""
    present, frame = 1 << 63, (1 << 55) - 1
    pages: set[int] = set()
    try:
        with (
            open(f"/proc/{pid}/maps") as maps,
            open(f"/proc/{pid}/pagemap", "rb", buffering=0) as pagemap,
        ):
            for line in maps:
                low, high = (int(bound, 16) for bound in line.split()[0].split("-"))
                if "[vsyscall]" in line:
                    continue
                pagemap.seek(low // PAGE * 8)
                entries = array.array("Q", pagemap.read((high - low) // PAGE * 8))
                pages.update(entry & frame for entry in entries if entry & present)
    except OSError:
        return set()  # the process ended meanwhile
    return None if pages and not any(pages) else pages


def tree_memory_mb(pid: int) -> tuple[float, float | None, float, float]:
    """(RSS summed over `pid`'s tree, its resident pages counted once, PSS summed over it, RSS
    of `pid` alone) in MB. A sum of RSS counts the pages the processes share (libvips, Python,
    numpy) once per process; the pages counted once are what the tree holds of the machine's
    memory (None where the kernel hides them); PSS splits each shared page among every process
    that maps it, this bench's own included."""
    rss = pss = alone = 0
    union: set[int] | None = set()
    for member in process_tree(pid):
        fields = rollup_kb(member)
        if fields is None:
            continue
        rss, pss = rss + fields["Rss"], pss + fields["Pss"]
        if member == pid:
            alone = fields["Rss"]
        pages = resident_pages(member)
        union = None if union is None or pages is None else union | pages
    once = None if union is None else len(union) * PAGE / 2**20
    return rss / 1024, once, pss / 1024, alone / 1024


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` and its descendants onto `cpus` (threads started later inherit it)."""
    for process in process_tree(pid):
        try:
            threads = [int(task.name) for task in Path(f"/proc/{process}/task").iterdir()]
        except OSError:
            continue
        for thread in threads:
            with contextlib.suppress(OSError):  # gone since
                os.sched_setaffinity(thread, cpus)


def process_cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` alone (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its live descendants."""
    return sum(process_cpu_of(member) for member in process_tree(pid))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_up(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.time() + 90
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
    """Stop a server started by `launch`, its children included (its own process group)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


class Server:
    def __init__(self, name: str, process: subprocess.Popen, base: str) -> None:
        self.name, self.process, self.base = name, process, base

    @property
    def cpu(self) -> float:
        return tree_cpu(self.process.pid)


def start_imgpro(
    workdir: Path, name: str = "imgpro", command: Callable[[int], list[str]] | None = None
) -> Server:
    """`imgpro serve` (or `command(port)`: another server of the same app) on a free port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "IMGPRO_DATA_DIR": str(workdir / name),
        "IMGPRO_WEB_URL": base,
        "IMGPRO_API_URL": base,
        "IMGPRO_CDN_URL": f"{base}/src",
        "IMGPRO_ANONYMOUS_UPLOADS_PER_HOUR": "1000",
        "IMGPRO_RENDERS_PER_MINUTE": "1000000",  # every request of the cold rows is a render
        "IMGPRO_MAX_UPLOAD_BYTES": str(200 * 1024 * 1024),
        # the bench uploads anonymously
        "IMGPRO_MAX_ANONYMOUS_UPLOAD_BYTES": str(200 * 1024 * 1024),
    }
    serve = [str(Path(sys.executable).parent / "imgpro"), "serve", "--port", str(port)]
    process = launch(command(port) if command else serve, workdir / f"{name}.log", env)
    wait_until_up(base + "/healthz", process, "imgpro")
    return Server("imgpro", process, base)


def thumbor_binary() -> Path | None:
    venv = Path(os.environ.get("THUMBOR_VENV", "/tmp/imgpro-bench-thumbor"))
    binary = venv / "bin" / "thumbor"
    if binary.exists():
        return binary
    print(f"installing thumbor into {venv} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", "thumbor>=7,<8", "pillow-heif"]
        subprocess.run(pip, check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as error:
        print(f"thumbor could not be installed ({error}); its rows are skipped")
        return None
    return binary if binary.exists() else None


#: Run by thumbor's Python: per line `[file, width, format, count]` on stdin, the CPU ms of
#: Pillow's save alone (thumbor's options: quality, optimize + progressive JPEG) on the pixels
#: thumbor's engine makes (draft, then a Lanczos resize to `width`, never enlarging).
PILLOW_ENCODER = """
import io, json, sys, time
from PIL import Image
import pillow_heif
pillow_heif.register_heif_opener()
OPTIONS = {"jpg": {"optimize": True, "progressive": True}, "webp": {}, "avif": {}}
for line in sys.stdin:
    path, width, fmt, count, quality = json.loads(line)
    image = Image.open(path)
    image.draft("RGB", (width, width * image.height // image.width))
    image = image.convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    options = dict(quality=quality, **OPTIONS[fmt])
    kind = "jpeg" if fmt == "jpg" else fmt
    image.save(io.BytesIO(), kind, **options)  # untimed: a format's first save loads its plugin
    started = time.process_time()
    for _ in range(count):
        image.save(io.BytesIO(), kind, **options)
    print((time.process_time() - started) / count * 1000, flush=True)
"""


class PillowEncoder:
    """Pillow's encoders (thumbor's) timed alone, in thumbor's venv: the part of thumbor's CPU
    per request that any server pays for the same output with the same encoder build."""

    def __init__(self, binary: Path) -> None:
        python = binary.parent / "python"
        self.process = subprocess.Popen(
            [str(python), "-c", PILLOW_ENCODER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def cpu_ms(self, path: Path, width: int, fmt: str, count: int) -> float:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps([str(path), width, fmt, count, QUALITY[fmt]]) + "\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        self.process.kill()


def start_thumbor(binary: Path, workdir: Path, root: Path) -> Server:
    port = free_port()
    conf = workdir / "thumbor.conf"
    conf.write_text(
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = '{root}'\n"
        "STORAGE = 'thumbor.storages.no_storage'\n"
        "RESULT_STORAGE = None\n"
        "ALLOW_UNSAFE_URL = True\n"
        "MAX_AGE = 0\n"
        "MAX_PIXELS = 100000000\n"
    )
    command = [str(binary), "-p", str(port), "-i", "127.0.0.1", "-c", str(conf), "-l", "error"]
    process = launch(command, workdir / "thumbor.log")
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/healthcheck", process, "thumbor")
    return Server("thumbor", process, base)


def start_nginx(workdir: Path, root: Path) -> Server | None:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        print("nginx not installed (apt-get install nginx-light): its row is skipped")
        return None
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"worker_processes 1; daemon off; pid {workdir}/nginx.pid; error_log {workdir}/nginx.err;\n"
        "events { worker_connections 1024; }\n"
        "http { include /etc/nginx/mime.types; sendfile on; tcp_nopush on;\n"
        "  keepalive_requests 100000;\n"
        f"  access_log {workdir}/nginx.access combined buffer=64k;\n"
        f"  client_body_temp_path {workdir};\n"
        f"  proxy_temp_path {workdir}; fastcgi_temp_path {workdir}; uwsgi_temp_path {workdir};\n"
        f"  scgi_temp_path {workdir};\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root};\n"
        '    add_header Cache-Control "public, max-age=31536000, immutable"; } }\n'
    )
    process = launch(
        [binary, "-c", str(conf), "-e", str(workdir / "nginx.err")], workdir / "nginx.log"
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/", process, "nginx")
    return Server("nginx", process, base)


# -- load ---------------------------------------------------------------------------------------


async def fetch_all(urls: list[str], concurrency: int = CONCURRENCY) -> Tally:
    """GET every URL with `concurrency` clients; every answer must be a 200."""
    pending = iter(urls)
    latencies: list[float] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        for url in pending:
            started = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=180, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Tally(len(latencies), seconds, 0.0, latencies)


def over_http(server: Server, urls: list[str]) -> Tally:
    cpu, own = server.cpu, process_cpu_of(server.process.pid)
    tally = asyncio.run(fetch_all(urls))
    tally.cpu = server.cpu - cpu
    tally.server_cpu = process_cpu_of(server.process.pid) - own
    return tally


def in_process(work: Callable[[], object], count: int) -> Tally:
    def one(_: int) -> float:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        cpu = process_cpu()
        started = time.perf_counter()
        latencies = list(pool.map(one, range(count)))
        seconds = time.perf_counter() - started
        cpu = process_cpu() - cpu
    return Tally(count, seconds, cpu, latencies)


def wrk(url: str, seconds: int, connections: int, workdir: Path, cpu: int | None = None) -> Tally:
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    if report["errors"]:
        raise RuntimeError(f"wrk saw {report['errors']} errors:\n{output}")
    return Tally(report["requests"], report["seconds"], 0.0, [report["p50"] / 1000])


def distinct(serial: Iterable[int]) -> int:
    """A height that changes the cache key but not a scale-down output (every source here is
    landscape, so the width decides), within the 8192 px a side that imgpro accepts."""
    return 2000 + next(iter(serial)) % 6000


# -- 1. cold renders ----------------------------------------------------------------------------


def save(image: pyvips.Image, fmt: str) -> bytes:
    """What a bare pyvips user writes: imgpro's encoder settings, nothing else."""
    keep = pyvips.enums.ForeignKeep.NONE
    if fmt == "webp":
        return image.webpsave_buffer(Q=QUALITY[fmt], keep=keep)
    if fmt == "avif":
        return image.heifsave_buffer(Q=QUALITY[fmt], compression="av1", effort=3, keep=keep)
    return image.jpegsave_buffer(Q=QUALITY[fmt], optimize_coding=True, keep=keep)


@dataclass
class Source:
    mp: int
    format: str
    data: bytes
    file: str  # its name under the thumbor/nginx root
    url: str = ""  # imgpro's CDN URL once uploaded
    stored: bytes = b""  # what imgpro stored, and renders (HEIC: the JPEG made at upload)
    upload_cpu: float = 0.0
    first_variant_cpu: float = 0.0  # with the working copy it starts, if any
    next_variant_cpu: float = 0.0  # from the working copy, if any
    # in this process, imgpro's own code, median of `REPEATS`: the working copy, and one 640 px
    # WebP from the original and from the copy, and what the copy saves that variant (the median
    # of the two timed in pairs)
    copy_cpu: float = 0.0
    from_original_cpu: float = 0.0
    from_copy_cpu: float = 0.0
    saved_cpu: float = 0.0


def cells(quick: bool, sizes: tuple[int, ...] = tuple(SIZES)) -> list[tuple[int, str, int, str]]:
    """(MP, source format, width, output format) to measure, of sources of `sizes` MP."""
    if not quick:
        return [
            (mp, src, width, out)
            for mp in sizes
            for src in SOURCE_FORMATS
            for width in WIDTHS
            for out in OUTPUTS
        ]
    chosen = [(mp, "jpg", 640, "webp") for mp in SIZES]
    chosen += [(6, src, 640, "webp") for src in ("png", "webp", "heic")]
    chosen += [(6, "jpg", 640, "avif"), (6, "jpg", 640, "jpg"), (6, "jpg", 320, "webp")]
    chosen += [(6, "jpg", 1280, "webp"), (1, "jpg", 320, "jpg")]
    return [cell for cell in chosen if cell[0] in sizes]


#: CPU seconds each peer spends on a cell at least (split over the rounds): the process tree's
#: CPU is read in clock ticks (10 ms), so a 10-20 ms cell needs ~0.5 s for ±3 % (0.2 s gave
#: cheap cells ±10 % from run to run).
CELL_CPU_SECONDS = 0.5
#: Requests per peer per cell at least and at most: an expensive cell gets the fewest.
CELL_REQUESTS = (2, 32)
#: Encodes per cell of each encoder timed alone (the floor beside the ratios).
ENCODES = 3
#: Repeats of each in-process measure of the uploads section (the working copy's payback). Three
#: put the 12 MP HEIC's payback at 5.1 and 10.3 variants in two runs minutes apart: it divides by
#: the difference of two medians (~20 ms out of ~90).
REPEATS = 9


def requests_for(probe_cpu: float, per_peer: int) -> int:
    """Requests per peer for a cell whose probe request cost `probe_cpu` seconds: `per_peer`
    when given, else enough for CELL_CPU_SECONDS, an even number (one per client a batch)."""
    if per_peer:
        return per_peer
    low, high = CELL_REQUESTS
    wanted = CELL_CPU_SECONDS / max(probe_cpu, 0.001)
    return max(low, min(high, 2 * round(wanted / 2)))


def luma(image: pyvips.Image) -> pyvips.Image:
    image = image.colourspace("srgb")
    return (image[0] * 0.299 + image[1] * 0.587 + image[2] * 0.114).copy_memory()


_references: dict[tuple[int, int, int, int], pyvips.Image] = {}


def ssim(output: bytes, pixels: pyvips.Image) -> float:
    """Mean SSIM (Gaussian window, σ 1.5) of an output's luma against the source's own pixels
    resized to the output's size by libvips (Lanczos 3)."""
    image = pyvips.Image.new_from_buffer(output, "")
    size = (pixels.width, pixels.height, image.width, image.height)
    if size not in _references:
        _references[size] = luma(
            pyvips.Image.thumbnail_image(pixels, image.width, height=image.height, size="force")
        )
    a, b = luma(image), _references[size]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image: pyvips.Image) -> pyvips.Image:
        return image.gaussblur(1.5, precision="float")

    mean_a, mean_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mean_a * mean_a, blur(b * b) - mean_b * mean_b
    covariance = blur(a * b) - mean_a * mean_b
    numerator = (mean_a * mean_b * 2 + c1) * (covariance * 2 + c2)
    denominator = (mean_a * mean_a + mean_b * mean_b + c1) * (var_a + var_b + c2)
    return float((numerator / denominator).avg())


def render_rows(
    sources: dict[tuple[int, str], Source],
    pixels: dict[int, pyvips.Image],
    imgpro: Server,
    thumbor: Server | None,
    chosen: list[tuple[int, str, int, str]],
    per_peer: int,
    pillow: PillowEncoder | None,
    root: Path,
    rounds: int = 2,
) -> list[tuple[tuple[int, str, int, str], dict[str, Tally]]]:
    results = []
    serial = iter(range(10**9))
    for cell in chosen:
        mp, src, width, out = cell
        source = sources[(mp, src)]

        def bare(stored: bytes = source.stored, width: int = width, out: str = out) -> None:
            save(pyvips.Image.thumbnail_buffer(stored, width, size="down"), out)

        thumbor_url = (
            f"/unsafe/{width}x0/filters:format({'jpeg' if out == 'jpg' else out})"
            f":quality({QUALITY[out]}):no_upscale()/{source.file}"
        )
        fmt, spec = stored_format(source), parse(f"w={width}&format={out}")

        def alone(data: bytes = source.stored, fmt: str = fmt, spec: TransformSpec = spec) -> None:
            render(data, fmt, spec)

        peers: dict[str, Callable[[int], Tally]] = {
            "bare": lambda n, bare=bare: in_process(bare, n),
            "imgpro": lambda n, source=source, width=width, out=out: over_http(
                imgpro,
                [f"{source.url}?w={width}&h={distinct(serial)}&format={out}" for _ in range(n)],
            ),
        }
        # a request each, not counted, sizes each peer's share of the cell (a peer that costs
        # 10× on a cell, thumbor decoding HEIC, gets fewer requests, not 10× the wall time)
        # and is the output whose bytes and SSIM the cell reports
        probes = {
            "bare": (in_process(bare, 1).cpu, b""),
            "imgpro": probe(imgpro, f"{source.url}?w={width}&format={out}"),
        }
        if not source.copy_cpu:  # set by `upload` for a source with a working copy
            # imgpro's render alone: what a server that cost nothing would spend (not where a
            # working copy serves: the server renders from it, this from the original)
            peers["alone"] = lambda n, alone=alone: in_process(alone, n)
            probes["alone"] = (in_process(alone, 1).cpu, b"")
        if thumbor is not None and (answer := probe(thumbor, thumbor.base + thumbor_url)):
            probes["thumbor"] = answer
            peers["thumbor"] = lambda n, url=thumbor_url: over_http(
                thumbor, [thumbor.base + url] * n
            )
        batches = {
            name: max(1, requests_for(probes[name][0], per_peer) // rounds) for name in peers
        }
        totals = {name: Tally() for name in peers}
        for _ in range(rounds):
            for name, run in peers.items():
                totals[name].add(run(batches[name]))
        for name, (_, body) in probes.items():
            if body:
                totals[name].output_bytes, totals[name].ssim = len(body), ssim(body, pixels[mp])
        # the encoders alone on the output's pixels: libvips' (imgpro's and bare's) and, when
        # thumbor runs, Pillow's (thumbor's); no server can go below its encoder's share
        output = pyvips.Image.thumbnail_buffer(source.stored, width, size="down").copy_memory()
        encodes = ENCODES  # timed in process (no clock ticks): a few are enough
        totals["encode"] = in_process(lambda o=output, f=out: save(o, f), encodes)
        if pillow is not None and "thumbor" in totals:
            ms = pillow.cpu_ms(root / source.file, width, out, encodes)
            totals["pillow"] = Tally(requests=1, cpu=ms / 1000)
        results.append((cell, totals))
        print(cell_line(cell, totals), flush=True)
    return results


def probe(server: Server, url: str) -> tuple[float, bytes] | None:
    """One request's CPU and body; None (and why) when the server cannot answer it."""
    cpu = server.cpu
    response = httpx.get(url, timeout=180)
    if response.status_code != 200:
        if server.name == "imgpro":
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        print(f"  {server.name} cannot serve {url}: {response.status_code}; skipped")
        return None
    return server.cpu - cpu, response.content


def cell_line(cell: tuple[int, str, int, str], totals: dict[str, Tally]) -> str:
    mp, src, width, out = cell
    parts = [f"{mp:>2} MP {src:<4} → {width:>4} {out:<4}"]
    for name in ("bare", "imgpro", "thumbor"):
        tally = totals.get(name)
        parts.append(
            f"{name} {tally.cpu_ms:6.1f} ms {tally.rps:5.1f}/s" if tally else f"{name} {'—':>17}"
        )
    if "alone" in totals:
        served = totals["imgpro"]
        parts.append(
            f"render alone {totals['alone'].cpu_ms:6.1f} ms (served: server {served.server_ms:4.1f}"
            f" ms, render processes {served.cpu_ms - served.server_ms:6.1f} ms)"
        )
    imgpro, bare, thumbor = totals["imgpro"], totals["bare"], totals.get("thumbor")
    parts.append(f"imgpro/bare {imgpro.cpu_ms / bare.cpu_ms:4.2f}")
    parts.append(f"encode {totals['encode'].cpu_ms:5.1f} ms")
    if thumbor:
        parts.append(
            f"imgpro/thumbor {imgpro.cpu_ms / thumbor.cpu_ms:4.2f}"
            f" (req/s {imgpro.rps / thumbor.rps:4.2f}×)"
        )
        if "pillow" in totals:
            pillow = totals["pillow"].cpu_ms
            parts.append(f"Pillow encode {pillow:5.1f} ms = {pillow / thumbor.cpu_ms:4.2f} thumbor")
        parts.append(
            f"bytes {imgpro.output_bytes / 1000:.0f}/{thumbor.output_bytes / 1000:.0f} KB"
            f" SSIM {imgpro.ssim:.4f}/{thumbor.ssim:.4f}"
        )
    return "  ".join(parts)


GOALS: list[tuple[str, str, str, bool]] = []  # (goal, target, measured, met), printed last

THUMBOR_GOAL = 0.67  # imgpro's CPU per render at most this share of thumbor's
BARE_GOAL = 1.1  # and at most this much more than bare pyvips on the same source and output


def goal(name: str, target: str, measured: str, met: bool) -> None:
    GOALS.append((name, target, measured, met))


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(value) for value in values) / len(values))


def spread(values: list[float]) -> str:
    """Geometric mean (min–max) of ratios, or a dash."""
    if not values:
        return "—"
    return f"{geomean(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def ratios(rows: list[dict[str, Tally]], peer: str) -> list[float]:
    return [t["imgpro"].cpu_ms / t[peer].cpu_ms for t in rows if peer in t and t[peer].cpu_ms]


def render_summary(results: list[tuple[tuple[int, str, int, str], dict[str, Tally]]]) -> None:
    """Per source size × output format (over source formats and widths): median CPU per
    request of each peer, imgpro's ratios to thumbor and bare; then the render goals."""
    print(
        "\nper source size × output, over source formats and widths: median CPU ms per request;"
        "\nimgpro ÷ thumbor and imgpro ÷ bare as geometric mean (min–max) of the cells' ratios,"
        "\nand, against thumbor's, imgpro's req/s and output bytes (geometric means) and the"
        "\nmean SSIM of each one's outputs (imgpro/thumbor) against the source pixels resized"
    )
    print(
        f"  {'source → output':<16} {'bare':>6} {'imgpro':>7} {'thumbor':>8}"
        f"  {'imgpro/thumbor':<19} {'imgpro/bare':<19} {'req/s':>6} {'bytes':>6}  SSIM"
    )
    sizes: dict[int, list[dict[str, Tally]]] = {}
    for (mp, *_), totals in results:
        sizes.setdefault(mp, []).append(totals)
    for mp in sorted(sizes):
        for out in (*OUTPUTS, "all"):
            rows = [t for (m, _, _, o), t in results if m == mp and out in (o, "all")]
            if not rows:
                continue
            medians = [
                statistics.median(t[peer].cpu_ms for t in rows)
                if all(peer in t for t in rows)
                else float("nan")
                for peer in ("bare", "imgpro", "thumbor")
            ]
            with_thumbor = [t for t in rows if "thumbor" in t]
            speed = [t["imgpro"].rps / t["thumbor"].rps for t in with_thumbor]
            size = [t["imgpro"].output_bytes / t["thumbor"].output_bytes for t in with_thumbor]
            quality = [(t["imgpro"].ssim, t["thumbor"].ssim) for t in with_thumbor]
            print(
                f"  {mp:>2} MP → {out:<7} {medians[0]:6.0f} {medians[1]:7.0f} {medians[2]:8.0f}"
                f"  {spread(ratios(rows, 'thumbor')):<19} {spread(ratios(rows, 'bare')):<19}"
                + (
                    f" {geomean(speed):5.2f}× {geomean(size):5.2f}×"
                    f"  {statistics.mean(a for a, _ in quality):.4f}"
                    f"/{statistics.mean(b for _, b in quality):.4f}"
                    if with_thumbor
                    else ""
                )
            )
    floors = encoder_floors(sizes)
    alone = {
        mp: geomean([t["alone"].cpu_ms / t["thumbor"].cpu_ms for t in rows])
        for mp, rows in sizes.items()
        if all("alone" in t and "thumbor" in t for t in rows)
    }
    if alone:
        print(
            "\nimgpro's render alone (in this process: no HTTP, server or render process) ÷"
            " thumbor's CPU per request (geometric mean):\n   "
            + ", ".join(f"{mp} MP {value:.2f}" for mp, value in alone.items())
        )
        print("a served miss beyond the render alone, median ms over the cells:")
        for mp, rows in sizes.items():
            served = [(t["imgpro"], t["alone"]) for t in rows if "alone" in t]
            if served:
                server = statistics.median(imgpro.server_ms for imgpro, _ in served)
                renders = statistics.median(
                    imgpro.cpu_ms - imgpro.server_ms - alone.cpu_ms for imgpro, alone in served
                )
                print(
                    f"   {mp} MP: the server {server:.1f}, the render processes over alone"
                    f" {renders:+.1f}"
                )
    for peer, target in (("thumbor", THUMBOR_GOAL), ("bare", BARE_GOAL)):
        per_size = {
            mp: geomean(ratios(rows, peer)) for mp, rows in sizes.items() if ratios(rows, peer)
        }
        if not per_size:
            continue
        floor = f"; thumbor's encoder alone {floors}" if peer == "thumbor" and floors else ""
        goal(
            f"CPU per render ÷ {peer}, each source size (geometric mean)",
            f"≤ {target}",
            ", ".join(f"{mp} MP {value:.2f}" for mp, value in per_size.items()) + floor,
            all(value <= target for value in per_size.values()),
        )
        cells = [(t["imgpro"].cpu_ms / t[peer].cpu_ms, cell) for cell, t in results if peer in t]
        worst, (mp, src, width, out) = max(cells)
        over = sum(value > target for value, _ in cells)
        goal(
            f"CPU per render ÷ {peer}, every cell",
            f"≤ {target}",
            f"{over} of {len(cells)} over; worst {worst:.2f} ({mp} MP {src} → {width} {out})",
            over == 0,
        )


def encoder_floors(sizes: dict[int, list[dict[str, Tally]]]) -> str:
    """Per source size, the geometric mean over its cells of the encoders' CPU alone ÷
    thumbor's CPU per request: Pillow's (thumbor's own encode, which any server making the same
    output with the same encoder pays) and libvips' (imgpro's). Printed, and returned as the
    Pillow floor per size for the goal table."""
    print("\nencoders alone on the output pixels ÷ thumbor's CPU per request (geometric mean):")
    per_size = []
    for mp, rows in sorted(sizes.items()):
        timed = [t for t in rows if "pillow" in t and "thumbor" in t]
        if not timed:
            continue
        pillow = geomean([t["pillow"].cpu_ms / t["thumbor"].cpu_ms for t in timed])
        libvips = geomean([t["encode"].cpu_ms / t["thumbor"].cpu_ms for t in timed])
        print(f"  {mp:>2} MP  Pillow's {pillow:.2f}  libvips' {libvips:.2f}")
        per_size.append(f"{mp} MP {pillow:.2f}")
    return ", ".join(per_size)


def payback(source: Source) -> float:
    """Variants after which a lazy working copy has paid for itself (inf: never)."""
    saved = source.saved_cpu
    return source.copy_cpu / saved if saved > 0 else math.inf


def upload_goal(sources: Iterable[Source]) -> None:
    copied = [source for source in sources if source.copy_cpu]
    if copied:
        goal(
            "working copies pay back within 5 variants",
            "≤ 5 (a HEIC's copy in its upload)",
            ", ".join(f"{s.mp} MP {s.format} {payback(s):.1f}" for s in copied),
            all(payback(source) <= 5 for source in copied),
        )


def goal_table() -> None:
    if not GOALS:
        return
    print("\ngoals:")
    print(f"  {'goal':<52} {'target':<24} {'met':<8} measured")
    for name, target, measured, met in GOALS:
        print(f"  {name:<52} {target:<24} {'met' if met else 'not met':<8} {measured}")


# -- 2. uploads ---------------------------------------------------------------------------------


def upload(server: Server, source: Source) -> None:
    cpu = server.cpu
    name = f"source.{source.format}"
    response = httpx.post(
        f"{server.base}/v1/images", files={"file": (name, source.data)}, timeout=300
    )
    response.raise_for_status()
    source.upload_cpu = server.cpu - cpu
    source.url = response.json()["url"]
    source.stored = httpx.get(source.url, timeout=300).content
    for attribute, width in (("first_variant_cpu", 640), ("next_variant_cpu", 641)):
        cpu = server.cpu
        assert httpx.get(f"{source.url}?w={width}&format=webp", timeout=300).status_code == 200
        settled(server)  # and the working copy the first may have started in the background
        setattr(source, attribute, server.cpu - cpu)
    header = pyvips.Image.new_from_buffer(source.stored, "")
    fmt = stored_format(source)
    if working_copy.wanted(fmt, header.width, header.height, 1):
        # the payback in this process: a server's single request is read in 10 ms clock ticks
        if source.format == "heic":
            # made at upload, from the pixels ingest decoded: timed on the stored JPEG's, in memory
            decoded = pyvips.Image.new_from_buffer(source.stored, "").copy_memory()
            make_copy = functools.partial(working_copy_of_pixels, decoded, fmt)
        else:
            make_copy = functools.partial(make_working_copy, source.stored, fmt)
        copy = make_copy()
        variant = parse("w=640&format=webp")
        original_size = (header.width, header.height)
        source.copy_cpu = median_cpu(make_copy)
        source.from_original_cpu, source.from_copy_cpu, source.saved_cpu = paired_cpu(
            lambda: render(source.stored, fmt, variant),
            lambda: render(copy.data, fmt, variant, original_size=original_size),
        )


def median_cpu(work: Callable[[], object]) -> float:
    """CPU seconds of `work` in this process: the median of `REPEATS`, after one untimed run."""
    work()
    times = []
    for _ in range(REPEATS):
        cpu = process_cpu()
        work()
        times.append(process_cpu() - cpu)
    return statistics.median(times)


def paired_cpu(
    first: Callable[[], object], second: Callable[[], object]
) -> tuple[float, float, float]:
    """CPU seconds of `first` and of `second` in this process (medians of `REPEATS`, timed
    alternately after one untimed run each) and the median of their differences pair by pair: a
    saving of ~20 ms taken as the difference of two medians timed one series after the other
    moved with the machine's drift between them (a 12 MP HEIC's payback 4.7 to 13 variants)."""
    first()
    second()
    pairs = []
    for _ in range(REPEATS):
        cpu = process_cpu()
        first()
        middle = process_cpu()
        second()
        pairs.append((middle - cpu, process_cpu() - middle))
    firsts, seconds = zip(*pairs, strict=True)
    differences = [a - b for a, b in pairs]
    return statistics.median(firsts), statistics.median(seconds), statistics.median(differences)


def stored_format(source: Source) -> str:
    return "jpg" if source.format == "heic" else source.format


def upload_lines(sources: Iterable[Source]) -> None:
    """Upload CPU, the working copy (made by the first variant; a HEIC's by its upload), and the
    variants made from the original and from the copy."""
    print(
        "\nuploads (CPU of the server's tree): the upload (a HEIC's makes its working copy); the"
        "\nfirst 640 px WebP (from the original, plus the working copy it starts); the next (from"
        f"\nthe copy). Then, in this process (imgpro's code, median of {REPEATS}): the copy (for a"
        "\nHEIC, from the pixels its upload decoded), a 640 px WebP from the original and from the"
        "\ncopy, and after how many variants the copy has paid for itself"
    )
    for source in sources:
        size = f"{source.mp} MP {source.format} ({len(source.data) / 1e6:.1f} MB)"
        line = (
            f"  {size:<24} upload {source.upload_cpu * 1000:5.0f} ms"
            f"  first variant {source.first_variant_cpu * 1000:5.0f} ms"
            f"  next {source.next_variant_cpu * 1000:4.0f} ms"
        )
        if source.copy_cpu:
            made = "in the upload" if source.format == "heic" else "by the first variant"
            line += (
                f"\n  {'':<24} copy {source.copy_cpu * 1000:4.0f} ms ({made}); 640 px WebP from the"
                f" original {source.from_original_cpu * 1000:4.0f} ms, from the copy"
                f" {source.from_copy_cpu * 1000:4.0f} ms (saves {source.saved_cpu * 1000:.0f} ms,"
                f" timed in pairs): pays back after"
                f" {payback(source):.1f} variants"
            )
        print(line)


def settled(server: Server) -> None:
    """Wait (at most 30 s) until the server's tree stops using CPU."""
    deadline, last = time.monotonic() + 30, server.cpu
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (now := server.cpu) - last < 0.02:
            return
        last = now


def warm_up(server: Server) -> None:
    """Start every render process (an interpreter and libvips: ~1 s CPU each, once) before
    anything is measured."""
    image = Source(0, "jpg", encode(photo(400, 300), "jpg"), "warm.jpg")
    upload(server, image)
    urls = [f"{image.url}?w={100 + i}&format=webp" for i in range(8)]
    asyncio.run(fetch_all(urls, concurrency=4))
    settled(server)


# -- 3. cached hits -----------------------------------------------------------------------------


def hit_rows(imgpro: Server, source: Source, seconds: int, workdir: Path) -> dict[str, Tally]:
    if shutil.which("wrk") is None:
        print("wrk not installed (apt-get install wrk): hits are skipped")
        return {}
    hit = f"{source.url}?w=640&format=webp"
    body = httpx.get(hit, timeout=60).content
    root = workdir / "static"
    root.mkdir(exist_ok=True)
    (root / "hit.webp").write_bytes(body)
    nginx = start_nginx(workdir, root)
    peers = {"imgpro": (imgpro, hit)}
    if nginx is not None:
        peers["nginx"] = (nginx, nginx.base + "/hit.webp")
    totals = {name: Tally() for name in peers}
    # each server on a core of its own and wrk on another: left to the scheduler, a server
    # shared or swapped cores with wrk in some runs, which put a hit at 0.11-0.13 ms of CPU
    # instead of 0.08-0.10 (and nginx's req/s 5-10 % lower)
    cores = os.sched_getaffinity(0)
    server_cpu, wrk_cpu = (max(cores), min(cores)) if len(cores) > 1 else (None, None)
    try:
        for _ in range(2):  # alternating halves
            for name, (server, url) in peers.items():
                if server_cpu is not None:
                    pin_tree(server.process.pid, {server_cpu})
                cpu = server.cpu
                tally = wrk(url, max(1, seconds // 2), 16, workdir, wrk_cpu)
                tally.cpu = server.cpu - cpu
                pin_tree(server.process.pid, cores)
                totals[name].add(tally)
    finally:
        if nginx is not None:
            stop(nginx.process)
    pinning = (
        f", server on CPU {server_cpu}, wrk on CPU {wrk_cpu}" if server_cpu is not None else ""
    )
    print(f"cached hit of {len(body) / 1000:.0f} KB, wrk -t1 -c16{pinning}:")
    for name, tally in totals.items():
        print(f"  {name:<7} {tally.rps:8.0f} req/s  CPU {tally.cpu_ms:6.3f} ms/hit")
    if "nginx" in totals:
        imgpro, nginx = totals["imgpro"], totals["nginx"]
        ratio = imgpro.rps / nginx.rps
        print(
            f"  imgpro/nginx: req/s {ratio:4.2f}×, CPU per hit {imgpro.cpu_ms / nginx.cpu_ms:4.1f}×"
        )
        goal(
            "cached hits ÷ nginx, req/s on one worker",
            "≥ 0.25×",
            f"{ratio:.2f}× ({len(body) / 1000:.0f} KB hit, {imgpro.cpu_ms:.3f} ms CPU)",
            ratio >= 0.25,
        )
    return totals


# -- 4. cutout ----------------------------------------------------------------------------------


#: Rounds of cutouts per peer. Two rounds of five put 1.02 and 1.11 on runs a few minutes apart:
#: one inference is ~0.4 s of CPU on two threads, and the machine's other load moves it.
CUTOUT_ROUNDS = 4


def cutout_rows(imgpro: Server, source: Source, count: int) -> dict[str, Tally]:
    from imgpro.media import cutout

    def bare() -> None:
        image = pyvips.Image.thumbnail_buffer(source.data, 1024).copy_memory()
        small = image.resize(320 / image.width, vscale=320 / image.height).numpy()
        alpha = pyvips.Image.new_from_array(cutout.mask(small))
        alpha = alpha.resize(image.width / 320, vscale=image.height / 320)
        image.bandjoin(alpha).pngsave_buffer()

    serial = iter(range(10**9))
    peers: dict[str, Callable[[int], Tally]] = {
        "bare": lambda n: in_process(bare, n),
        "imgpro": lambda n: over_http(
            imgpro,
            [f"{source.url}?w=1024&h={distinct(serial)}&cutout=1&format=png" for _ in range(n)],
        ),
    }
    for run in peers.values():
        run(2)
    totals = {name: Tally() for name in peers}
    for _ in range(CUTOUT_ROUNDS):  # alternating: both peers meet the machine's other load
        for name, run in peers.items():
            totals[name].add(run(max(1, count // CUTOUT_ROUNDS)))
    model, ours = totals["bare"].cpu_ms, totals["imgpro"].cpu_ms
    print(
        f"cutout 1024 px PNG: bare {model:.0f} ms, imgpro {ours:.0f} ms "
        f"CPU per request ({ours / model:.2f}×)"
    )
    goal(
        "cutout ÷ bare model inference, CPU",
        "≤ 1.1×",
        f"{ours / model:.2f}× ({ours:.0f} against {model:.0f} ms)",
        ours / model <= 1.1,
    )
    return totals


# -- 5. memory ----------------------------------------------------------------------------------


def mixed_queries(first: int, count: int, cutout: bool) -> Iterable[tuple[int, str]]:
    """(source index, query) pairs, the `first`th to the `first + count`th: every query distinct
    (so every one a render), a spread of what a CDN sees. The output sizes cycle (widths every
    1,800 renders) instead of growing with `i`, so that the series measures memory under a
    steady load."""
    fits = ["scale-down", "contain", "cover", "crop", "pad"]
    formats = ["webp", "jpg", "png", "avif", "webp", "jpg"]
    for i in range(first, first + count):
        height = 150 + i % 1850  # with the width's cycle of 1800: distinct up to i = 66,600
        query = f"w={200 + i % 1800}&h={height}&fit={fits[i % 5]}&format={formats[i % 6]}"
        if i % 7 == 0:
            query += "&blur=3"
        if i % 11 == 0:
            query += "&rotate=90&flip=h"
        if i % 13 == 0:
            query += "&contrast=1.2&saturation=1.3"
        if i % 17 == 0:
            query += "&gravity=auto"
        if cutout and i % 50 == 0:
            query = f"w={256 + i % 700}&h={height}&cutout=1&format=png"
        source = i % 4
        if source == 3:
            query = f"w={20 + i % 200}&h={height}&format={'gif' if i % 2 else 'webp'}"
        yield source, query


def process_lines(pid: int) -> list[str]:
    """RSS and PSS of each process of `pid`'s tree, named by its command (`python -m X`: X)."""
    lines = []
    for member in process_tree(pid):
        fields = rollup_kb(member)
        if fields is None:
            continue
        try:
            command = Path(f"/proc/{member}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in command if word]
        name = words[words.index("-m") + 1] if "-m" in words[:-1] else " ".join(words)[-60:]
        what = "server" if member == pid else name
        lines.append(
            f"{what:<40} RSS {fields['Rss'] / 1024:4.0f} MB  PSS {fields['Pss'] / 1024:4.0f}"
        )
    return lines


def memory_series(
    imgpro: Server, urls: list[str], first: int, renders: int, cutout: bool
) -> tuple[list[tuple[float, float | None, float, float]], float]:
    """`tree_memory_mb` before and after every 100 renders, and CPU ms per render."""
    mixed = mixed_queries(first, renders, cutout)
    queries = [f"{urls[source]}?{query}" for source, query in mixed]
    series = [tree_memory_mb(imgpro.process.pid)]
    cpu = imgpro.cpu
    for start in range(0, renders, 100):
        asyncio.run(fetch_all(queries[start : start + 100]))
        series.append(tree_memory_mb(imgpro.process.pid))
    return series, (imgpro.cpu - cpu) / renders * 1000


def last_third_growth(values: list[float]) -> tuple[float, float]:
    """How much `values` grow in their last third, in %: the mean of its samples against the
    mean of the third before it (each sample lands anywhere in the render processes' trim
    slack, ±12 MB each, so a line through five to eleven samples, or two samples alone, mostly
    measures where the last ones landed), and its last sample against its first."""
    third = len(values) // 3
    before, last = values[-2 * third : -third], values[-third:]
    ends = (last[-1] - last[0]) / last[0] * 100
    return (statistics.fmean(last) / statistics.fmean(before) - 1) * 100, ends


def memory_lines(name: str, renders: int, limit: int, imgpro: Server, urls: list[str]) -> None:
    cutout = name == "with cutout"  # the second series: queries after the first one's
    series, cpu_ms = memory_series(imgpro, urls, renders if cutout else 0, renders, cutout)
    print(f"{name}, {renders} renders, {cpu_ms:.0f} ms CPU a render:")
    names = ("tree RSS", "tree, pages once", "tree PSS", "server RSS")
    columns = {
        what: [value for sample in series if (value := sample[index]) is not None]
        for index, what in enumerate(names)
    }
    judged = "tree, pages once" if columns["tree, pages once"] else "tree RSS"
    for what, values in columns.items():
        if not values:
            continue
        trend, ends = last_third_growth(values)
        peak = max(values)
        print(
            f"  {what:<16} peak {peak:4.0f} MB, last third {trend:+5.1f} % "
            f"(first and last sample {ends:+5.1f} %)"
        )
        print("    " + " ".join(f"{value:.0f}" for value in values))
        if what in (judged, "server RSS"):
            goal(f"{what} {name}", f"≤ {limit} MB", f"peak {peak:.0f} MB", peak <= limit)
            goal(f"{what} {name}, last third", "< 5 %", f"{trend:+.1f} %", trend < 5)
    print("  per process at the end:")
    for line in process_lines(imgpro.process.pid):
        print("    " + line)


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a dozen cells and short sections")
    parser.add_argument(
        "--requests", type=int, default=0, help="cold renders per peer per cell (default: sized)"
    )
    parser.add_argument("--hits-seconds", type=int, default=10)
    parser.add_argument("--renders", type=int, default=0, help="mixed renders per memory series")
    parser.add_argument("--no-thumbor", action="store_true")
    parser.add_argument("--only", default="renders,uploads,hits,cutout,memory")
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="source sizes in MP, e.g. 1,3"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    per_peer = args.requests  # 0: sized per cell (requests_for)
    started = time.monotonic()
    renders = args.renders or (500 if args.quick else 3000)

    pyvips.cache_set_max(0)  # as in imgpro: no operation cache
    pyvips.concurrency_set(1)  # as in imgpro's render processes: one libvips thread each
    workdir = Path(tempfile.mkdtemp(prefix="imgpro-bench-"))
    root = workdir / "sources"
    root.mkdir()
    chosen = cells(args.quick, tuple(int(mp) for mp in args.sizes.split(",")))
    # the cells' sources only for the sections that use them (they take minutes to make)
    per_cell = {(mp, src) for mp, src, _, _ in chosen} if only & {"renders", "uploads"} else set()
    needed = sorted(per_cell | {(12, "jpg"), (1, "jpg"), (3, "png")})
    print(f"{os.cpu_count()} CPUs; {workdir}; load average {os.getloadavg()[0]:.1f}", flush=True)
    pixels: dict[int, pyvips.Image] = {}
    sources: dict[tuple[int, str], Source] = {}
    made = Path(tempfile.gettempdir()) / "imgpro-bench-sources"  # the same bytes every run
    made.mkdir(exist_ok=True)
    for mp, src in needed:
        if mp not in pixels:
            pixels[mp] = photo(*SIZES[mp], seed=mp)
        name = f"{mp}mp.{src}"
        if not (made / name).exists():
            part = made / f"{name}.{os.getpid()}.part"  # two runs at once each write their own
            part.write_bytes(encode(pixels[mp], src))
            part.replace(made / name)
        data = (made / name).read_bytes()
        (root / name).write_bytes(data)
        sources[(mp, src)] = Source(mp, src, data, name)

    binary = None if args.no_thumbor or "renders" not in only else thumbor_binary()
    servers: list[Server] = []
    try:
        imgpro = start_imgpro(workdir)
        servers.append(imgpro)
        warm_up(imgpro)
        for source in sources.values():
            upload(imgpro, source)
        if "uploads" in only:
            upload_lines(sources.values())
            upload_goal(sources.values())
        thumbor = None
        if binary is not None:
            thumbor = start_thumbor(binary, workdir, root)
            servers.append(thumbor)
        if "renders" in only:
            count = per_peer or f"{CELL_REQUESTS[0]}–{CELL_REQUESTS[1]}"
            print(f"\ncold renders, {count} per peer per cell, CPU per request and req/s:")
            pillow = PillowEncoder(binary) if binary is not None and thumbor else None
            try:
                rows = render_rows(sources, pixels, imgpro, thumbor, chosen, per_peer, pillow, root)
            finally:
                if pillow is not None:
                    pillow.close()
            render_summary(rows)
        if "hits" in only:
            print(f"\nload average {os.getloadavg()[0]:.1f}")
            hit_rows(imgpro, sources[(12, "jpg")], args.hits_seconds, workdir)
        if "cutout" in only:
            print(f"\nload average {os.getloadavg()[0]:.1f}")
            cutout_rows(imgpro, sources[(1, "jpg")], 4 if args.quick else 24)
        if "memory" in only:  # a fresh server: one worker's memory from its start
            stop(imgpro.process)
            servers.remove(imgpro)
            imgpro = start_imgpro(workdir, "imgpro-memory")
            servers.append(imgpro)
            warm_up(imgpro)
            mixed = [sources[(12, "jpg")], sources[(1, "jpg")], sources[(3, "png")]]
            mixed.append(Source(0, "gif", animation(), "a.gif"))
            for source in mixed:
                upload(imgpro, source)
            urls = [source.url for source in mixed]
            print(f"\nload average {os.getloadavg()[0]:.1f}; imgpro's memory every 100 renders:")
            memory_lines("without cutout", renders, 200, imgpro, urls)
            memory_lines("with cutout", renders, 350, imgpro, urls)
    finally:
        for server in servers:
            stop(server.process)
    goal_table()
    print(
        f"\nload average after: {os.getloadavg()[0]:.1f};"
        f" {(time.monotonic() - started) / 60:.1f} minutes"
    )


if __name__ == "__main__":
    main()
