"""Compare async S3 clients for the blob store: aiobotocore and obstore, against one moto server.

Each client runs in its own process (so its peak RSS is its own): stream a large file up, stream
it down, then many small GETs at a time (the CDN's cache-miss shape). Run:

    .venv/bin/python bench/s3_clients.py [--mib 64] [--small 400]

moto keeps objects in memory in Python, so absolute speeds are moto's; the comparison is what
counts, and memory is the client process's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUCKET = "bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def rss_mib() -> float:
    """Peak resident memory of this process (VmHWM: ru_maxrss would include the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def run_obstore(endpoint: str, big: Path, small: int) -> dict[str, float]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        BUCKET,
        endpoint=endpoint,
        region="us-east-1",
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )
    base = rss_mib()
    started = time.perf_counter()
    await obstore.put_async(store, "big", big, chunk_size=8 * 1024 * 1024, max_concurrency=2)
    up = time.perf_counter() - started
    started = time.perf_counter()
    response = await obstore.get_async(store, "big")
    async for _chunk in response.stream(min_chunk_size=256 * 1024):
        pass
    down = time.perf_counter() - started
    await obstore.put_async(store, "small", os.urandom(20_000))

    async def one() -> None:
        await (await obstore.get_async(store, "small")).bytes_async()

    started = time.perf_counter()
    for _ in range(small // 16):
        await asyncio.gather(*(one() for _ in range(16)))
    gets = small / (time.perf_counter() - started)
    return {
        "up_s": up,
        "down_s": down,
        "small_gets_per_s": gets,
        "rss_base_mib": base,
        "rss_growth_mib": rss_mib() - base,
    }


async def run_aiobotocore(endpoint: str, big: Path, small: int) -> dict[str, float]:
    from aiobotocore.session import get_session

    session = get_session()
    async with session.create_client("s3", endpoint_url=endpoint, region_name="us-east-1") as s3:
        base = rss_mib()
        started = time.perf_counter()
        part_size = 8 * 1024 * 1024
        upload = await s3.create_multipart_upload(Bucket=BUCKET, Key="big")
        parts = []
        with open(big, "rb") as handle:
            number = 1
            while chunk := handle.read(part_size):
                done = await s3.upload_part(
                    Bucket=BUCKET,
                    Key="big",
                    UploadId=upload["UploadId"],
                    PartNumber=number,
                    Body=chunk,
                )
                parts.append({"ETag": done["ETag"], "PartNumber": number})
                number += 1
        await s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="big",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )
        up = time.perf_counter() - started
        started = time.perf_counter()
        response = await s3.get_object(Bucket=BUCKET, Key="big")
        async with response["Body"] as body:
            async for _chunk in body.iter_chunks(256 * 1024):
                pass
        down = time.perf_counter() - started
        await s3.put_object(Bucket=BUCKET, Key="small", Body=os.urandom(20_000))

        async def one() -> None:
            response = await s3.get_object(Bucket=BUCKET, Key="small")
            async with response["Body"] as body:
                await body.read()

        started = time.perf_counter()
        for _ in range(small // 16):
            await asyncio.gather(*(one() for _ in range(16)))
        gets = small / (time.perf_counter() - started)
        return {
            "up_s": up,
            "down_s": down,
            "small_gets_per_s": gets,
            "rss_base_mib": base,
            "rss_growth_mib": rss_mib() - base,
        }


def child(client: str, endpoint: str, big: Path, small: int) -> None:
    runner = run_obstore if client == "obstore" else run_aiobotocore
    result = asyncio.run(runner(endpoint, big, small))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = cpu.ru_utime + cpu.ru_stime
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]), args.small)
        return
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    with tempfile.NamedTemporaryFile() as big:
        big.write(os.urandom(args.mib * 1024 * 1024))
        big.flush()
        for client in ("aiobotocore", "obstore"):
            out = subprocess.run(
                [sys.executable, __file__, "--small", str(args.small), "--child"]
                + [client, endpoint, big.name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            print(client, {name: round(value, 2) for name, value in figures.items()})
    server.stop()


if __name__ == "__main__":
    main()
