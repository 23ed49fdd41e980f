"""``burnish run --ray`` on a simulated multi-node cluster, and its overhead against local
workers.

    python3 benches/ray_cluster.py [--files 100] [--skip-nodes] [--skip-overhead]

**Multi-node**: ``ray start --head`` (no CPUs: it only coordinates) and two worker nodes,
each ``ray start --address ... --num-cpus 1 --block`` as its own process on loopback with
its own resources; ``burnish run RECIPE IN -o OUT --ray --ray-address HEAD`` (the CLI, a separate driver)
over ``--files`` images; once a third of the outputs exist, the second node's raylet is
SIGKILLed (the node is lost with its actors and the files they held). Checked: every
output complete (sidecar present, bytes equal to a local ``burnish run`` of the same
files), no partial file left, the driver's exit code 0.

**Overhead**: the same files with ``burnish run --jobs 2`` and with ``--ray --ray-actors 2``
(a local cluster started by the command: its start-up is counted), each a fresh process,
in the same run; then ``--ray-actors 1`` and ``2`` on files per second.

The recipe: a removal (PatchMatch) and a grade on 320 x 240 images, about 0.3 s a file.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """[[steps]]
op = "remove"
boxes = ["100,60,90,70"]
[[steps]]
op = "adjust"
exposure = 0.3
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_inputs(folder: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    for number in range(count):
        rng = np.random.default_rng(number)
        y, x = np.mgrid[0:240, 0:320]
        image = np.stack([(x * 0.7 + y * 0.2) % 255, (y * 0.9) % 255,
                          np.full_like(x, 40 + number % 200)], -1).astype(np.float64)
        image += rng.normal(0, 12, image.shape)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            folder / f"img{number:04d}.png")


def burnish(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "burnish.cli.app", *args, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def timed(*args: str) -> float:
    started = time.perf_counter()
    process = burnish(*args)
    _, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"burnish {' '.join(args)} failed: {err.decode()[-1000:]}")
    return time.perf_counter() - started


def complete(out: Path) -> int:
    return len(list(out.glob("*.burnish.json")))


def raylet_pids(node_manager_port: int) -> list[int]:
    import psutil

    flag = f"--node_manager_port={node_manager_port}"
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if "raylet" in " ".join(p.info["cmdline"] or ())[:200]
            and flag in (p.info["cmdline"] or ())]


def wait_for_cpus(address: str, cpus: int, env: dict, timeout: float = 120) -> None:
    """Until the cluster at ``address`` has ``cpus`` CPUs (both worker nodes joined)."""
    probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
             "print(ray.cluster_resources().get('CPU', 0))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run([sys.executable, "-c", probe, address], capture_output=True,
                               text=True, env=env)
        if found.returncode == 0 and float(found.stdout.split()[-1]) >= cpus:
            return
        time.sleep(2)
    raise SystemExit(f"the worker nodes did not join {address} within {timeout:.0f} s")


def multinode(work: Path, count: int) -> dict:
    head_port = free_port()
    address = f"127.0.0.1:{head_port}"
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    # A loopback simulation: Ray's token authentication (on by default for `ray start`)
    # is turned off for the nodes and the driver alike.
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
    subprocess.run(["ray", "start", "--head", "--port", str(head_port), "--num-cpus", "0",
                    "--include-dashboard", "false", *common], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    nodes, ports = [], []
    try:
        for number, name in enumerate(("node_a", "node_b"), 1):
            ports.append(free_port())
            nodes.append(subprocess.Popen(
                ["ray", "start", "--address", address, "--num-cpus", "1", "--block",
                 "--resources", json.dumps({name: 1}), "--node-manager-port",
                 str(ports[-1]), *common], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env))
            wait_for_cpus(address, number, env)  # one at a time: together they stall
        out = work / "cluster-out"
        started = time.perf_counter()
        driver = burnish("run", str(work / "recipe.toml"), str(work / "in"), "-o", str(out),
                         "--ray", "--ray-address", address, "--ray-actors", "2", env=env)
        killed_at = None
        while driver.poll() is None:
            if killed_at is None and complete(out) >= count // 3:
                victims = raylet_pids(ports[1])
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                killed_at = (complete(out), len(victims))
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        err = driver.stderr.read().decode()
    finally:
        for node in nodes:
            node.terminate()
        subprocess.run(["ray", "stop", "--force"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return {"exit": driver.returncode, "error": err[-500:], "seconds": seconds,
            "killed_at": None if killed_at is None else (killed_at[1], killed_at[0]),
            "out": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--skip-nodes", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    try:
        import psutil  # noqa: F401
        import ray  # noqa: F401
    except ImportError:
        print("skipped: needs ray[data] and psutil (pip install 'burnish[ray]' psutil)")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        make_inputs(work / "in", args.files)
        (work / "recipe.toml").write_text(RECIPE)
        local = timed("run", str(work / "recipe.toml"), str(work / "in"), "-o",
                      str(work / "local"), "--jobs", "2")
        print(f"{args.files} files, {RECIPE.count('[[steps]]')} steps each")
        if not args.skip_nodes:
            result = multinode(work, args.files)
            out = result["out"]
            names = sorted(p.name for p in (work / "local").glob("*.png"))
            same = [filecmp.cmp(work / "local" / n, out / n, shallow=False)
                    for n in names if (out / n).is_file()]
            partial = [p.name for p in out.iterdir() if ".partial-" in p.name]
            print(f"multi-node: exit {result['exit']}, {complete(out)} / {args.files} "
                  f"complete, {sum(same)} equal to the local run's bytes, {len(partial)} "
                  f"partial files; node_b's raylet killed (processes, outputs done then: "
                  f"{result['killed_at']}); "
                  f"{result['seconds']:.1f} s")
            if result["exit"]:
                print(result["error"])
        if not args.skip_overhead:
            ray_two = timed("run", str(work / "recipe.toml"), str(work / "in"), "-o",
                            str(work / "ray2"), "--ray", "--ray-actors", "2")
            ray_one = timed("run", str(work / "recipe.toml"), str(work / "in"), "-o",
                            str(work / "ray1"), "--ray", "--ray-actors", "1")
            print()
            print("| run | seconds | files per second | against --jobs 2 |")
            print("| --- | --- | --- | --- |")
            for name, seconds in (("burnish run --jobs 2", local),
                                  ("--ray --ray-actors 2", ray_two),
                                  ("--ray --ray-actors 1", ray_one)):
                print(f"| {name} | {seconds:.1f} | {args.files / seconds:.2f} | "
                      f"{seconds / local:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
