"""Load on ``burnish serve`` over loopback: latency, throughput, soak and overload.

    python3 benches/serve_load.py latency      # 256x256 x4 at concurrency 1 vs in-process and the CLI
    python3 benches/serve_load.py throughput   # concurrency 1, 4, 16; batching on and off; the peer
    python3 benches/serve_load.py soak [--requests 5000]
    python3 benches/serve_load.py overload     # 4x the measured capacity, open loop

Each server is a fresh ``burnish serve`` process on a free loopback port; the load is an
httpx/asyncio client that sends a fixed number of requests (or for a fixed time) and stops
by itself. The input is a 256x256 crop of a shared photo (``BURNISH_PHOTOS``, default
/work/shared/data/photos; skipped when absent). The peer for throughput is the IOPaint
pattern: a minimal FastAPI app whose synchronous handler decodes, runs the same model per
request (``burnish.upscale``) and encodes (skipped when FastAPI is not installed).
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

PHOTOS = Path(os.environ.get("BURNISH_PHOTOS", "/work/shared/data/photos"))
PHOTO = "Garden.jpg"
BURNISH = [sys.executable, "-c", "from burnish.cli.app import main; main()"]
PEER_APP = '''
import io, sys
import numpy as np
from fastapi import FastAPI, Request, Response
from PIL import Image
import burnish
from burnish.models.registry import open_model

app = FastAPI()
runner = open_model(device="cpu")

@app.post("/v1/upscale")
def upscale(body: bytes = __import__("fastapi").Body(...)):
    pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    out = burnish.upscale(pixels, model=runner)
    buffer = io.BytesIO()
    Image.fromarray(out).save(buffer, format="PNG")
    return Response(buffer.getvalue(), media_type="image/png")
'''


SUFFIX = {"png": "png", "jpeg": "jpg", "webp": "webp"}


def crop(size: int, seed: int = 0) -> bytes:
    """A ``size`` x ``size`` PNG crop of the photo (seeded position)."""
    from PIL import Image

    image = Image.open(PHOTOS / PHOTO).convert("RGB")
    rng = np.random.default_rng(seed)
    left = int(rng.integers(0, image.width - size))
    top = int(rng.integers(0, image.height - size))
    buffer = io.BytesIO()
    image.crop((left, top, left + size, top + size)).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def burnish_server(*options: str, recipes: Path | None = None):
    """A ``burnish serve`` process, ready; yields (url, process)."""
    import httpx

    port = free_port()
    command = [*BURNISH, "serve", "--port", str(port), *options]
    if recipes is not None:
        command += ["--recipes", str(recipes)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server stopped: {process.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def peer_server():
    """The minimal synchronous FastAPI app under uvicorn, or None without FastAPI."""
    import httpx

    try:
        import fastapi  # noqa: F401
    except ImportError:
        yield None
        return
    folder = tempfile.mkdtemp()
    (Path(folder) / "peer_app.py").write_text(PEER_APP)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "peer_app:app", "--port",
                                str(port), "--log-level", "warning"], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/docs", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the peer did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def closed_loop(url: str, bodies: list[tuple[str, dict, bytes]], concurrency: int,
                      timeout: float = 300) -> tuple[list[float], dict[int, int], float]:
    """Send each (path, params, body) once from ``concurrency`` clients; returns the
    latencies of 200 answers, the count of each status, and the wall time."""
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pending = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        async def worker():
            while pending:
                path, params, body = pending.pop()
                started = time.perf_counter()
                answer = await client.post(path, params=params, content=body)
                seconds = time.perf_counter() - started
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code == 200:
                    latencies.append(seconds)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ---- latency -------------------------------------------------------------------------------

def latency(args) -> None:
    body = crop(256)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.png"
        source.write_bytes(body)
        in_process = _in_process_seconds(source, Path(folder), args.requests, args.format)
        cli = _cli_seconds(source, Path(folder), max(3, args.requests // 10), args.format)
    with burnish_server("--max-batch", "4", "--max-wait-ms", "2") as (url, _):
        requests = [("/v1/upscale", {"format": args.format}, body)] * args.requests
        asyncio.run(closed_loop(url, requests[:5], 1))  # warm the connection and caches
        served, statuses, _ = asyncio.run(closed_loop(url, requests, 1))
    print(f"256x256 x4 (compact-x4, PNG in, {args.format} out), {args.requests} requests, "
          f"{os.cpu_count()} cores")
    print("| how | p50 (ms) | p99 (ms) |")
    print("| --- | --- | --- |")
    for name, values in (("burnish serve, concurrency 1", served),
                         ("in-process: decode, upscale, encode (upscale_file)", in_process[0]),
                         ("in-process: the model call alone (burnish.upscale on the array)",
                          in_process[1]),
                         ("burnish upscale, one process per request", cli)):
        print(f"| {name} | {percentile(values, 50) * 1000:.1f} | "
              f"{percentile(values, 99) * 1000:.1f} |")
    p50 = percentile(served, 50)
    print(f"\nserve p50 / in-process file p50: {p50 / percentile(in_process[0], 50):.2f}x; "
          f"/ model call alone: {p50 / percentile(in_process[1], 50):.2f}x; "
          f"CLI p50 / serve p50: {percentile(cli, 50) / p50:.1f}x; statuses {statuses}")


def _in_process_seconds(source: Path, folder: Path, count: int, fmt: str):
    from PIL import Image

    import burnish
    from burnish.engine.upscaling import upscale_file
    from burnish.models.registry import open_model

    runner = open_model(device="cpu")
    pixels = np.asarray(Image.open(source).convert("RGB"))
    files, calls = [], []
    for i in range(count + 3):
        target = folder / f"out{i}.{SUFFIX[fmt]}"
        started = time.perf_counter()
        upscale_file(source, target, runner=runner, scale=4)
        files.append(time.perf_counter() - started)
        target.unlink()
        started = time.perf_counter()
        burnish.upscale(pixels, model=runner)
        calls.append(time.perf_counter() - started)
    runner.close()
    return files[3:], calls[3:]


def _cli_seconds(source: Path, folder: Path, count: int, fmt: str) -> list[float]:
    seconds = []
    for i in range(count):
        target = folder / f"cli{i}.{SUFFIX[fmt]}"
        started = time.perf_counter()
        subprocess.run([*BURNISH, "upscale", str(source), "-o", str(target), "--quiet"],
                       check=True)
        seconds.append(time.perf_counter() - started)
    return seconds


# ---- throughput ----------------------------------------------------------------------------

def throughput(args) -> None:
    body = crop(256)
    requests = [("/v1/upscale", {}, body)] * args.requests
    rows = []
    for label, options in (("burnish serve, batching on (max-batch 8, 5 ms)",
                            ("--max-batch", "8", "--max-wait-ms", "5", "--workers", "16",
                             "--max-queue", "64")),
                           ("burnish serve, batching off (max-batch 1)",
                            ("--max-batch", "1", "--workers", "16", "--max-queue", "64"))):
        with burnish_server(*options) as (url, _):
            asyncio.run(closed_loop(url, requests[:4], 2))
            for concurrency in (1, 4, 16):
                rows.append((label, concurrency,
                             *asyncio.run(closed_loop(url, requests, concurrency))))
    with peer_server() as url:
        if url is None:
            print("peer skipped: FastAPI is not installed")
        else:
            asyncio.run(closed_loop(url, requests[:4], 2))
            for concurrency in (1, 4, 16):
                rows.append(("minimal sync FastAPI handler, model per request (peer)",
                             concurrency, *asyncio.run(closed_loop(url, requests, concurrency))))
    print(f"256x256 x4 (compact-x4), {args.requests} requests per row, {os.cpu_count()} cores")
    print("| server | concurrency | requests/s | p50 (ms) | p99 (ms) | statuses |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, concurrency, latencies, statuses, wall in rows:
        print(f"| {label} | {concurrency} | {len(latencies) / wall:.2f} | "
              f"{percentile(latencies, 50) * 1000:.0f} | {percentile(latencies, 99) * 1000:.0f}"
              f" | {statuses} |")


# ---- soak ----------------------------------------------------------------------------------

SOAK_RECIPE = """
[[steps]]
op = "upscale"
model = "lanczos"
scale = 2
[[steps]]
op = "adjust"
exposure = 0.1
saturation = 1.05
[[steps]]
op = "encode"
format = "jpeg"
quality = 90
"""


def soak(args) -> None:
    import psutil

    rng = np.random.default_rng(7)
    sizes = (64, 128, 256, 512, 1024)
    crops = {size: [crop(size, seed) for seed in range(3)] for size in sizes}
    requests = []
    for i in range(args.requests):
        size = int(rng.choice(sizes, p=(0.3, 0.3, 0.25, 0.1, 0.05)))
        body = crops[size][i % 3]
        kind = rng.choice(("upscale", "remove", "recipe"))
        if kind == "upscale":
            requests.append(("/v1/upscale", {}, body))
        elif kind == "remove":
            s = size // 4
            requests.append(("/v1/remove", {"box": f"{s},{s},{s},{s}", "method": "telea"},
                             body))
        else:
            requests.append(("/v1/recipes/soak", {}, body))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "soak.toml").write_text(SOAK_RECIPE)
        with burnish_server("--max-queue", "64", recipes=Path(folder)) as (url, process):
            memory = psutil.Process(process.pid)
            statuses, wall, series = {}, 0.0, []
            for start in range(0, len(requests), 500):  # RSS after every 500 requests
                _, counts, seconds = asyncio.run(closed_loop(url, requests[start: start + 500],
                                                             4))
                wall += seconds
                for status, count in counts.items():
                    statuses[status] = statuses.get(status, 0) + count
                series.append((min(start + 500, len(requests)), memory.memory_info().rss))
    print(f"soak: {len(requests)} mixed requests (upscale, remove, recipe; 64-1024 px), "
          f"concurrency 4, {wall:.0f} s")
    print(f"statuses {statuses}; 5xx: {sum(v for k, v in statuses.items() if k >= 500)}")
    print("RSS after requests: " + ", ".join(f"{n}: {rss / 2**20:.0f} MB" for n, rss in series))
    first, last = series[0][1], series[-1][1]
    print(f"after all / after the first {series[0][0]}: {(last / first - 1) * 100:+.1f}%")


# ---- overload ------------------------------------------------------------------------------

async def open_loop(url: str, body: bytes, rate: float, seconds: float):
    """Requests started at ``rate`` per second for ``seconds`` whatever the answers; returns
    (latencies of 200s, latencies of 429s, statuses)."""
    import httpx

    accepted, refused, statuses = [], [], {}
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def one():
            started = time.perf_counter()
            answer = await client.post("/v1/upscale", content=body)
            took = time.perf_counter() - started
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            (accepted if answer.status_code == 200 else refused).append(took)
        tasks = []
        started = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return accepted, refused, statuses


def overload(args) -> None:
    body = crop(256)
    requests = [("/v1/upscale", {}, body)] * 40
    with burnish_server("--max-queue", str(args.max_queue), "--workers",
                        str(args.workers)) as (url, _):
        asyncio.run(closed_loop(url, requests[:4], 2))
        unloaded, _, _ = asyncio.run(closed_loop(url, requests, 1))
        served, _, wall = asyncio.run(closed_loop(url, requests, 8))
        capacity = len(served) / wall
        accepted, refused, statuses = asyncio.run(open_loop(url, body, 4 * capacity,
                                                            args.seconds))
    print(f"--workers {args.workers} --max-queue {args.max_queue}: "
          f"capacity {capacity:.2f} requests/s (concurrency 8); offered {4 * capacity:.2f}/s "
          f"for {args.seconds:g} s; statuses {statuses}")
    print("| | p50 (ms) | p99 (ms) | max (ms) |")
    print("| --- | --- | --- | --- |")
    for name, values in (("unloaded (concurrency 1)", unloaded), ("accepted under 4x", accepted),
                         ("refused (429) under 4x", refused)):
        print(f"| {name} | {percentile(values, 50) * 1000:.0f} | "
              f"{percentile(values, 99) * 1000:.0f} | {max(values, default=float('nan')) * 1000:.0f} |")
    print(f"accepted p99 / unloaded p99: "
          f"{percentile(accepted, 99) / percentile(unloaded, 99):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("latency", "throughput", "soak", "overload"))
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--format", choices=tuple(SUFFIX), default="png",
                        help="the answer's format, for latency")
    parser.add_argument("--workers", type=int, default=2, help="the server's, for overload")
    parser.add_argument("--max-queue", type=int, default=2, help="the server's, for overload")
    args = parser.parse_args()
    if not (PHOTOS / PHOTO).is_file():
        print(f"skipped: {PHOTOS / PHOTO} is missing")
        return
    defaults = {"latency": 50, "throughput": 48, "soak": 5000, "overload": 0}
    args.requests = args.requests or defaults[args.mode]
    {"latency": latency, "throughput": throughput, "soak": soak, "overload": overload}[
        args.mode](args)


if __name__ == "__main__":
    main()
