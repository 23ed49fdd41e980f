"""Peak memory and time of whole commands, beside libvips on the same files.

    python3 benches/io_memory.py [jobs ...] [--photo NAME]

Each job runs in a fresh process under ``/usr/bin/time`` (peak resident set size, wall
time), on a photo from /work/shared/data/photos (``BURNISH_PHOTOS`` overrides; jobs whose
photo is missing are skipped with a line saying so). Jobs:

- ``x4-jpeg`` / ``x4-png``: ``burnish upscale`` x4 with the shipped model to JPEG and to
  PNG (the issue's goal: JPEG within 1.2x of PNG in memory);
- ``lanczos-png``: ``burnish upscale --model lanczos`` x4 to PNG, beside ``vips-lanczos``:
  libvips' own ``resize(4, kernel="lanczos3")`` of the same file to PNG (goal: memory and
  time within 1.5x of libvips). ``vips-lanczos`` saves with libvips' PNG defaults (no row
  filter: a file about 3x larger, written about 2x faster); ``vips-lanczos-same`` with the
  settings burnish writes PNG with (deflate level 6, adaptive row filters), the like-for-like
  peer.

The default photo is Elephants_5640x3172.jpg (17.9 MP). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PHOTOS = Path(os.environ.get("BURNISH_PHOTOS", "/work/shared/data/photos"))
BURNISH = [sys.executable, "-c", "from burnish.cli.app import main; main()"]
VIPS_LANCZOS = ("import sys, pyvips; pyvips.Image.new_from_file(sys.argv[1], access='sequential')"
                ".resize(4, kernel='lanczos3').write_to_file(sys.argv[2]{options})")
# burnish's PNG settings (burnish/engine/imageio/vips_write.py)
SAME_PNG_OPTIONS = ", compression=6, filter='all'"


def job_command(job: str, photo: Path, folder: Path) -> list[str]:
    if job == "x4-jpeg":
        return [*BURNISH, "upscale", str(photo), "-o", str(folder / "x4.jpg")]
    if job == "x4-png":
        return [*BURNISH, "upscale", str(photo), "-o", str(folder / "x4.png")]
    if job == "lanczos-png":
        return [*BURNISH, "upscale", str(photo), "--model", "lanczos", "-o",
                str(folder / "lanczos.png")]
    if job in ("vips-lanczos", "vips-lanczos-same"):
        options = SAME_PNG_OPTIONS if job == "vips-lanczos-same" else ""
        return [sys.executable, "-c", VIPS_LANCZOS.format(options=options), str(photo),
                str(folder / "vips.png")]
    raise SystemExit(f"unknown job {job!r}")


def measure(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one command in a fresh process."""
    result = subprocess.run(["/usr/bin/time", "-f", "%M %e", *command], capture_output=True,
                            text=True, env={**os.environ, "BURNISH_COMPILE_AHEAD": "0"})
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    kilobytes, seconds = re.findall(r"^(\d+) ([\d.]+)$", result.stderr, re.M)[-1]
    return int(kilobytes) / 1024, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs", nargs="*",
                        default=["x4-jpeg", "x4-png", "lanczos-png", "vips-lanczos",
                                 "vips-lanczos-same"])
    parser.add_argument("--photo", default="Elephants_5640x3172.jpg")
    args = parser.parse_args()
    photo = PHOTOS / args.photo
    if not photo.is_file():
        print(f"skipped: {photo} is missing")
        return
    print(f"{photo.name}, {os.cpu_count()} cores")
    print("| job | peak RSS (MB) | wall (s) | output (MB) |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for job in args.jobs:
            rss, seconds = measure(job_command(job, photo, Path(folder)))
            outputs = [path for path in Path(folder).iterdir() if path.suffix != ".json"]
            size = sum(path.stat().st_size for path in outputs) / 1e6
            print(f"| {job} | {rss:.0f} | {seconds:.1f} | {size:.0f} |", flush=True)
            for output in Path(folder).iterdir():
                output.unlink()


if __name__ == "__main__":
    main()
