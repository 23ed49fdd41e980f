"""``burnish serve``: a real server on a free loopback port, every route, bad requests,
backpressure, cancellation, readiness, and bytes equal to the CLI's."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from burnish.models.descriptor import ModelDescriptor
from burnish.models.runner import Runner
from burnish.serve.app import create_app
from burnish.serve.service import ServeConfig, Service
from burnish.serve.workspace_routes import routes as workspace_routes
from tests.conftest import random_image, run_cli

RECIPE = """
[[steps]]
op = "upscale"
model = "lanczos"
scale = 2
[[steps]]
op = "adjust"
exposure = 0.2
[[steps]]
op = "encode"
format = "png"
"""


class ServerThread:
    """A real uvicorn server in a thread, on a free loopback port, stopped on exit."""

    def __init__(self, service: Service):
        self.service = service
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(create_app(service), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def wait_ready(self, client: httpx.Client, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while client.get(f"{self.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.05)

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


@contextlib.contextmanager
def running(tmp_path=None, **options):
    with ServerThread(Service(ServeConfig(**options))) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        server.wait_ready(client)
        yield server, client


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def recipes(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recipes")
    (folder / "double.toml").write_text(RECIPE)
    return folder


@pytest.fixture(scope="module")
def served(recipes):
    with running(recipes=recipes, max_batch=4, max_wait_ms=2) as pair:
        yield pair


@pytest.fixture
def photo(rng, tmp_path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(random_image(rng, 37, 45, 3)))
    return path


def assert_still_serving(client: httpx.Client, photo: Path) -> None:
    assert client.get("/healthz").json() == {"alive": True}
    answer = client.post("/v1/upscale", params={"model": "lanczos", "scale": 2},
                         content=photo.read_bytes())
    assert answer.status_code == 200, answer.text


# ---- results equal the CLI's bytes ----------------------------------------------------------

def test_upscale_raw_body_equals_the_cli(served, photo, tmp_path, monkeypatch, capsys):
    _, client = served
    answer = client.post("/v1/upscale", content=photo.read_bytes(),
                         headers={"content-type": "image/png"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo, "-o", tmp_path / "cli.png",
                           "--quiet")
    assert code == 0, err
    assert answer.content == (tmp_path / "cli.png").read_bytes()


@pytest.mark.parametrize("fmt, suffix", [("jpeg", "jpg"), ("webp", "webp")])
def test_upscale_multipart_with_options_equals_the_cli(served, photo, tmp_path, monkeypatch,
                                                       capsys, fmt, suffix):
    _, client = served
    answer = client.post("/v1/upscale", files={"image": ("photo.png", photo.read_bytes())},
                         data={"model": "lanczos", "scale": "3", "format": fmt,
                               "quality": "80"})
    assert answer.status_code == 200, answer.text
    target = tmp_path / f"cli.{suffix}"
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo, "--model", "lanczos",
                           "--scale", 3, "--quality", 80, "-o", target, "--quiet")
    assert code == 0, err
    assert answer.content == target.read_bytes()


def test_remove_boxes_and_mask_equal_the_cli(served, rng, photo, tmp_path, monkeypatch, capsys):
    _, client = served
    answer = client.post("/v1/remove", params={"box": ["5,6,10,8", "25,20,6,6"],
                                               "method": "telea"},
                         content=photo.read_bytes())
    assert answer.status_code == 200, answer.text
    code, _, err = run_cli(monkeypatch, capsys, "remove", photo, "--box", "5,6,10,8", "--box",
                           "25,20,6,6", "--method", "telea", "-o", tmp_path / "boxes.png",
                           "--quiet")
    assert code == 0, err
    assert answer.content == (tmp_path / "boxes.png").read_bytes()

    mask = np.zeros((37, 45), np.uint8)
    mask[10:20, 12:30] = 255
    mask_path = tmp_path / "mask.png"
    mask_path.write_bytes(png_bytes(mask))
    answer = client.post("/v1/remove", files={"image": ("photo.png", photo.read_bytes()),
                                              "mask": ("mask.png", mask_path.read_bytes())},
                         data={"seed": "3"})
    assert answer.status_code == 200, answer.text
    code, _, err = run_cli(monkeypatch, capsys, "remove", photo, "--mask", mask_path, "--seed",
                           3, "-o", tmp_path / "masked.png", "--quiet")
    assert code == 0, err
    assert answer.content == (tmp_path / "masked.png").read_bytes()


def test_recipe_equals_burnish_run_and_carries_the_sidecar(served, recipes, photo, tmp_path,
                                                           monkeypatch, capsys):
    _, client = served
    answer = client.post("/v1/recipes/double",
                         files={"image": ("holiday.png", photo.read_bytes())})
    assert answer.status_code == 200, answer.text
    code, _, err = run_cli(monkeypatch, capsys, "run", recipes / "double.toml", photo, "-o",
                           tmp_path / "out", "--quiet")
    assert code == 0, err
    assert answer.content == (tmp_path / "out" / "photo.png").read_bytes()
    sidecar = json.loads(answer.headers["x-burnish-sidecar"])
    cli_sidecar = json.loads((tmp_path / "out" / "photo.png.burnish.json").read_text())
    assert sidecar["input"]["path"] == "holiday.png"
    assert sidecar["input"]["sha256"] == cli_sidecar["input"]["sha256"]
    assert sidecar["output"]["sha256"] == cli_sidecar["output"]["sha256"]
    assert [s["op"] for s in sidecar["steps"]] == ["upscale", "adjust"]


# ---- the other routes ----------------------------------------------------------------------

def test_listing_routes_health_metrics_and_openapi(served, photo):
    _, client = served
    models = client.get("/v1/models").json()["models"]
    names = [m["name"] for m in models]
    assert "compact-x4" in names and "lanczos" in names
    assert [m["name"] for m in models if m["default"]] == ["compact-x4"]
    recipes = client.get("/v1/recipes").json()["recipes"]
    assert [(r["name"], r["steps"]) for r in recipes] == [
        ("double", ["upscale", "adjust", "encode"])]
    assert client.get("/healthz").json() == {"alive": True}
    assert client.get("/readyz").json() == {"ready": True}
    assert client.post("/v1/upscale", content=photo.read_bytes()).status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    for name in ("burnish_request_seconds_bucket", "burnish_queue_depth",
                 "burnish_batch_tiles_bucket", "burnish_tiles_total",
                 "burnish_model_seconds_bucket", "process_resident_memory_bytes"):
        assert name in text, name
    tiles = re.search(r'^burnish_tiles_total\{model="compact-x4"\} (\S+)$', text, re.M)
    assert tiles and float(tiles.group(1)) >= 1
    assert re.search(r'burnish_request_seconds_count\{route="upscale",status="200"\} '
                     r'[1-9]', text)
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/v1/upscale", "/v1/remove", "/v1/recipes/{name}", "/v1/models",
                          "/v1/recipes", "/healthz", "/readyz", "/metrics", "/v1/jobs",
                          "/v1/jobs/{id}", "/v1/jobs/{id}/events", "/v1/jobs/{id}/result",
                          *(route.path for route in workspace_routes())}


# ---- bad requests: a 4xx one-line JSON error, and the server goes on -------------------------

def _truncated(photo: Path) -> bytes:
    return photo.read_bytes()[: len(photo.read_bytes()) // 2]


@pytest.mark.parametrize("case, status, words", [
    ("truncated", 422, "truncated"),
    ("not-an-image", 415, "not a PNG"),
    ("empty", 400, "empty"),
    ("bad-scale", 400, "scale must be an integer"),
    ("zero-scale", 400, "scale must be between"),
    ("bad-format", 400, "format must be one of"),
    ("unknown-model", 400, "not served here"),
    ("model-path", 400, "not served here"),
    ("scale-the-model-lacks", 400, "scale"),
    ("no-image-part", 400, "no 'image' file part"),
    ("unknown-recipe", 404, "no recipe named"),
    ("recipe-dots", 404, ""),
    ("recipe-bad-name", 400, "not a recipe name"),
    ("remove-nothing", 400, "say what to remove"),
    ("remove-bad-box", 400, "box"),
    ("remove-method-path", 400, "method must be one of"),
    ("unknown-route", 404, ""),
])
def test_bad_requests_get_a_json_4xx_and_the_server_keeps_serving(served, photo, case, status,
                                                                  words):
    _, client = served
    body = photo.read_bytes()
    requests = {
        "truncated": lambda: client.post("/v1/upscale", content=_truncated(photo)),
        "not-an-image": lambda: client.post("/v1/upscale", content=b"hello, world" * 10),
        "empty": lambda: client.post("/v1/upscale", content=b""),
        "bad-scale": lambda: client.post("/v1/upscale?scale=abc", content=body),
        "zero-scale": lambda: client.post("/v1/upscale?scale=0", content=body),
        "bad-format": lambda: client.post("/v1/upscale?format=bmp", content=body),
        "unknown-model": lambda: client.post("/v1/upscale?model=nope", content=body),
        "model-path": lambda: client.post("/v1/upscale", params={"model": "/etc/passwd"},
                                          content=body),
        "scale-the-model-lacks": lambda: client.post("/v1/upscale?scale=3", content=body),
        "no-image-part": lambda: client.post("/v1/upscale", files={"other": ("a", body)}),
        "unknown-recipe": lambda: client.post("/v1/recipes/nope", content=body),
        "recipe-dots": lambda: client.post("/v1/recipes/..%2F..%2Fetc%2Fpasswd", content=body),
        "recipe-bad-name": lambda: client.post("/v1/recipes/..double", content=body),
        "remove-nothing": lambda: client.post("/v1/remove", content=body),
        "remove-bad-box": lambda: client.post("/v1/remove?box=1,2,x", content=body),
        "remove-method-path": lambda: client.post("/v1/remove?box=1,1,4,4&method=/tmp/x.onnx",
                                                  content=body),
        "unknown-route": lambda: client.get("/v1/nothing"),
    }
    answer = requests[case]()
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert words in error and "\n" not in error and "Traceback" not in error
    assert "burnish-serve-" not in error  # no server paths in messages
    assert_still_serving(client, photo)


def test_upload_and_pixel_limits_are_413(rng, photo, tmp_path):
    big = png_bytes(random_image(rng, 300, 300, 3))
    with running(max_upload_bytes=len(big) - 1, max_pixels=200 * 200, warm=False) as (_, c):
        assert c.post("/v1/upscale", content=big).status_code == 413
        too_many = png_bytes(np.zeros((250, 250, 3), np.uint8))  # small file, many pixels
        answer = c.post("/v1/upscale", content=too_many)
        assert answer.status_code == 413 and "pixels" in answer.json()["error"]
        answer = c.post("/v1/upscale", files={"image": ("big.png", big)})
        assert answer.status_code == 413
        assert_still_serving(c, photo)


def test_token_is_required_and_compared(photo):
    with running(token="s3cret", warm=False) as (_, client):
        assert client.get("/healthz").status_code == 200  # probes stay open
        assert client.get("/readyz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            answer = client.get("/v1/models", headers=headers)
            assert answer.status_code == 401 and "token" in answer.json()["error"]
            assert client.get("/metrics", headers=headers).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/models", headers=good).status_code == 200
        answer = client.post("/v1/upscale?model=lanczos&scale=2", content=photo.read_bytes(),
                             headers=good)
        assert answer.status_code == 200


# ---- readiness, backpressure, cancellation, timeouts ---------------------------------------

class GatedRunner(Runner):
    """x2 nearest upscale that blocks in each call until its gate opens."""

    def __init__(self):
        self.descriptor = ModelDescriptor(name="gated", scale=2, halo=0)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def _infer_impl(self, batch):
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(timeout=60)
        return np.repeat(np.repeat(batch, 2, axis=2), 2, axis=3)


@contextlib.contextmanager
def gated_server(monkeypatch, **options):
    """A server whose model calls block until the test opens the gate."""
    gated = GatedRunner()
    service = Service(ServeConfig(warm=False, **options))
    batched = service._batched(gated)
    monkeypatch.setattr(service, "runner", lambda name, scale: batched)
    with ServerThread(service) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        server.wait_ready(c)
        try:
            yield service, gated, c
        finally:
            gated.gate.set()


def _post_in_thread(url: str, body: bytes, results: list, timeout: float = 60):
    def post():
        try:
            with httpx.Client(timeout=timeout) as client:
                results.append(client.post(f"{url}/v1/upscale?scale=2", content=body))
        except httpx.HTTPError as error:
            results.append(error)
    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_full_queue_answers_429_at_once_with_retry_after(monkeypatch, photo):
    with gated_server(monkeypatch, max_queue=2, workers=1) as (service, gated, client):
        url, results = str(client.base_url).rstrip("/"), []
        threads = [_post_in_thread(url, photo.read_bytes(), results) for _ in range(2)]
        assert gated.entered.wait(10)
        deadline = time.monotonic() + 10
        while service._admission.count < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.perf_counter()
        refused = client.post("/v1/upscale?scale=2", content=photo.read_bytes())
        took = time.perf_counter() - started
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "busy" in refused.json()["error"]
        assert took < 1.0
        gated.gate.set()
        for thread in threads:
            thread.join(timeout=30)
        assert [r.status_code for r in results] == [200, 200]
        assert client.get("/metrics").text.count("burnish_refused_total 1.0") == 1


def test_a_client_that_goes_away_frees_its_slot_and_its_tiles_are_dropped(monkeypatch, photo):
    with gated_server(monkeypatch, max_queue=2, workers=2) as (service, gated, client):
        url, results = str(client.base_url).rstrip("/"), []
        first = _post_in_thread(url, photo.read_bytes(), results)  # holds the model
        assert gated.entered.wait(10)
        quitter = _post_in_thread(url, photo.read_bytes(), results, timeout=0.5)
        quitter.join(timeout=10)
        assert any(isinstance(r, httpx.TimeoutException) for r in results)
        deadline = time.monotonic() + 10
        while service._admission.count > 1:  # the quitter's slot is given back
            assert time.monotonic() < deadline, "the slot of a gone client was not freed"
            time.sleep(0.02)
        gated.gate.set()
        first.join(timeout=30)
        assert gated.calls == 1  # the quitter's tile never reached the model
        assert client.post("/v1/upscale?scale=2", content=photo.read_bytes()).status_code == 200


def test_a_request_past_the_timeout_is_504_and_stops(monkeypatch, photo):
    with gated_server(monkeypatch, timeout=0.5) as (service, gated, client):
        answer = client.post("/v1/upscale?scale=2", content=photo.read_bytes())
        assert answer.status_code == 504 and "timed out" in answer.json()["error"]
        gated.gate.set()
        deadline = time.monotonic() + 10
        while service._admission.count:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_readyz_is_false_until_warm_up_ends(monkeypatch):
    release = threading.Event()
    service = Service(ServeConfig())
    monkeypatch.setattr(service, "_warm_model", lambda name: release.wait(30))
    with ServerThread(service) as server, httpx.Client(base_url=server.url) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["ready"] is False
        assert client.get("/healthz").status_code == 200
        release.set()
        server.wait_ready(client, seconds=10)
        assert client.get("/readyz").json() == {"ready": True}


# ---- the command ---------------------------------------------------------------------------

def test_burnish_serve_command_starts_answers_and_stops(tmp_path, photo):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from burnish.cli.app import main; main()", "serve", "--port",
         "0", "--max-batch", "2"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=env)
    try:
        url, lines = None, []
        deadline = time.monotonic() + 120
        while url is None:
            assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
            line = process.stderr.readline()
            lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 120
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert client.post("/v1/upscale", content=photo.read_bytes()).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
        process.stdout.close()


def test_serve_refuses_bad_options_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", "from burnish.cli.app import main; main()",
                           "serve", "--recipes", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "no such folder" in done.stderr


# ---- jobs ----------------------------------------------------------------------------------

def _events(client: httpx.Client, path: str) -> list[tuple[str, dict]]:
    """The job's event stream, read to its end: (event name, data) pairs."""
    events, name = [], None
    with client.stream("GET", path) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
    return events


def test_a_job_runs_reports_progress_and_streams_the_cli_bytes(served, rng, tmp_path,
                                                               monkeypatch, capsys):
    _, client = served
    photo = tmp_path / "big.png"
    photo.write_bytes(png_bytes(random_image(rng, 100, 130, 3)))
    answer = client.post("/v1/jobs", params={"kind": "upscale", "tile": 32},
                         content=photo.read_bytes())
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{job['id']}"
    events = _events(client, job["events"])
    assert events[-1][0] == "done" and events[-1][1]["status"] == "done"
    assert all(name == "progress" for name, _ in events[:-1])
    done = [data["progress"]["done"] for _, data in events]
    assert done == sorted(done) and events[-1][1]["progress"]["done"] == \
        events[-1][1]["progress"]["total"] > 1
    result = client.get(job["result"])
    assert result.status_code == 200
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo, "--tile", 32, "-o",
                           tmp_path / "cli.png", "--quiet")
    assert code == 0, err
    assert result.content == (tmp_path / "cli.png").read_bytes()
    assert client.get(job["result"]).content == result.content  # kept until it expires
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "done"
    assert client.delete(f"/v1/jobs/{job['id']}").json() == {"id": job["id"], "deleted": True}
    assert client.get(job["result"]).status_code == 404


def test_recipe_and_remove_jobs(served, photo):
    _, client = served
    for params in ({"kind": "recipe", "recipe": "double"},
                   {"kind": "remove", "box": "4,4,8,8", "method": "telea"}):
        job = client.post("/v1/jobs", params=params, content=photo.read_bytes()).json()
        assert _events(client, job["events"])[-1][0] == "done"
        result = client.get(job["result"])
        assert result.status_code == 200 and result.content.startswith(b"\x89PNG")
        if params["kind"] == "recipe":
            assert json.loads(result.headers["x-burnish-sidecar"])["input"]["path"] == "image"


def test_bad_jobs_are_refused_or_fail_in_one_line(served, photo):
    _, client = served
    assert client.post("/v1/jobs?kind=nope", content=photo.read_bytes()).status_code == 400
    assert client.post("/v1/jobs?kind=recipe&recipe=nope",
                       content=photo.read_bytes()).status_code == 404
    assert client.post("/v1/jobs", content=b"not an image at all").status_code == 415
    job = client.post("/v1/jobs", content=_truncated(photo)).json()
    events = _events(client, job["events"])
    assert events[-1][0] == "failed" and "truncated" in events[-1][1]["error"]
    failed = client.get(job["result"])
    assert failed.status_code == 422 and "truncated" in failed.json()["error"]
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.delete("/v1/jobs/nope").status_code == 404
    assert_still_serving(client, photo)


def test_deleting_a_running_job_cancels_it_and_drops_its_tiles(monkeypatch, photo):
    with gated_server(monkeypatch) as (service, gated, client):
        job = client.post("/v1/jobs?scale=2", content=photo.read_bytes()).json()
        assert gated.entered.wait(10)
        assert client.get(job["result"]).status_code == 409
        assert client.delete(f"/v1/jobs/{job['id']}").status_code == 200
        gated.gate.set()
        assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
        deadline = time.monotonic() + 10
        while any(service.jobs.folder.iterdir()):
            assert time.monotonic() < deadline, "the deleted job's files stayed"
            time.sleep(0.02)


def test_job_space_and_expiry(rng, photo):
    with running(jobs_space_bytes=3 * len(photo.read_bytes()) // 2, jobs_expiry=1.0,
                 warm=False) as (server, client):
        first = client.post("/v1/jobs?model=lanczos&scale=2", content=photo.read_bytes())
        assert first.status_code == 202
        assert _events(client, first.json()["events"])[-1][0] == "done"
        refused = client.post("/v1/jobs?model=lanczos&scale=2", content=photo.read_bytes())
        assert refused.status_code == 429 and "space" in refused.json()["error"]
        assert int(refused.headers["retry-after"]) >= 1
        time.sleep(1.2)  # the first result expires, and its space with it
        assert client.get(first.json()["result"]).status_code == 404
        again = client.post("/v1/jobs?model=lanczos&scale=2", content=photo.read_bytes())
        assert again.status_code == 202
