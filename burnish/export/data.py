"""The data of the default model's recipe, shared by training and quality evaluation.

Kept free of PyTorch so that the quality benchmark runs on a plain install.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

SCALE = 4
# Held out from training; the quality benchmark (benches/quality.py) measures on these.
HOLDOUT = ("LadyBird.jpg", "Storm.jpg", "Wood.jpg", "Kleiber_by_Lukas_Baubkus.jpg")
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                  "motorcycle_left.png", "hubble_deep_field.jpg", "ihc.png", "brick.png",
                  "grass.png", "gravel.png", "camera.png")
PREREDUCE_ABOVE_PIXELS = 4_000_000
TRAINING_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def load_target(path: Path) -> np.ndarray:
    """Load a photo as an RGB uint8 target, reduced by 2 when large, cropped to a multiple of 4."""
    image = Image.open(path).convert("RGB")
    if image.width * image.height > PREREDUCE_ABOVE_PIXELS:
        image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
    width, height = image.width - image.width % SCALE, image.height - image.height % SCALE
    return np.asarray(image.crop((0, 0, width, height)))


def degrade(target: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Antialiased bicubic downscaling by ``scale`` (Pillow's resize filters over the whole
    footprint, as MATLAB's ``imresize``)."""
    height, width = target.shape[:2]
    return np.asarray(Image.fromarray(target).resize((width // scale, height // scale),
                                                     Image.BICUBIC))


def folder_images(folder: Path) -> list[Path]:
    """The JPEG, PNG and WebP images of ``folder``, by name."""
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in TRAINING_SUFFIXES)


def training_paths(photos: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """The shared photos and the JPEG, PNG and WebP images of each ``extra`` folder, minus
    :data:`HOLDOUT` and names already taken (a wallpaper shipped by two packages counts
    once), then scikit-image's photos."""
    import skimage

    bundled = Path(skimage.__file__).parent / "data"
    paths, seen = [], set(HOLDOUT)
    for folder in (photos, *extra):
        for path in folder_images(folder):
            if path.name not in seen:
                seen.add(path.name)
                paths.append(path)
    return paths + [bundled / name for name in SKIMAGE_PHOTOS if (bundled / name).exists()]
