"""Synthetic text and watermark overlays with known masks: the training data of the shipped
text-mask model (:mod:`burnish.export.text_masks`) and the cases of the text detection
benchmark (``benches/text_detection.py``).

A case is a photo with one overlay composited over it and the overlay's true mask (every
pixel the rendered layer covers, alpha > 0, before its opacity). The overlays are what is
removed from real images: a line of text or a caption of several lines (sizes 12-200 px,
log-uniform), a tiled watermark pattern, a signature (in a script face), a
logo (a ring or a box with a short word in it); any colour, mostly white or black;
opacity 0.3-1; sometimes an outline or a drop shadow; rotated up to 45 degrees half the
time. One case in ten has no overlay, so a model learns what is not text too.

Fonts and photos are split between training and evaluation: the benchmark renders with
Liberation faces (Debian's ``fonts-liberation2``) over :data:`HOLDOUT_PHOTOS`; training
uses every other face on the machine (DejaVu, GNU FreeFont, URW's base 35) and the other
photos. Nothing here needs PyTorch.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_FOLDER = Path("/usr/share/fonts")
HOLDOUT_FONT_FAMILY = "liberation"  # evaluation only
# Evaluation only (the benchmark's photos), and validation while training (threshold choice).
HOLDOUT_PHOTOS = ("LadyBird.jpg", "Storm.jpg", "Wood.jpg", "Kleiber_by_Lukas_Baubkus.jpg",
                  "Garden.jpg", "RainDrops.jpg")
VALIDATION_PHOTOS = ("Aqua.jpg", "TwoWings.jpg")
SCRIPT_FACES = ("Z003", "Italic", "Oblique")  # faces that pass for handwriting
WORDS = ("SAMPLE", "© 2026 Studio", "Proof only", "DRAFT", "Not for sale", "Photo by A. Person",
         "www.example.com", "CONFIDENTIAL", "Summer sale -40%", "Lorem ipsum dolor",
         "Signature", "#1 Choice", "Preview", "Copyright", "shutter/stock", "iStock",
         "Getty Images", "@photographer", "All rights reserved", "Dreamstime", "Alamy",
         "Do not copy", "watermark", "Free trial", "Made with AI", "12/04/2026 18:31")
EMPTY_SHARE = 0.1


def font_files(*, holdout: bool) -> list[Path]:
    """The TrueType and OpenType faces under :data:`FONT_FOLDER`: the evaluation faces
    (Liberation) with ``holdout``, else all the others."""
    faces = sorted(p for p in FONT_FOLDER.rglob("*") if p.suffix.lower() in (".ttf", ".otf"))
    faces = [p for p in faces if "Math" not in p.name]  # a font of symbols, not of text
    return [p for p in faces if (HOLDOUT_FONT_FAMILY in p.name.lower()) == holdout]


def _text(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        return str(WORDS[rng.integers(len(WORDS))])
    alphabet = string.ascii_letters + string.digits + "  .,-@©&%/:"
    return "".join(rng.choice(list(alphabet), int(rng.integers(3, 18)))).strip() or "A"


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    draw = rng.random()
    if draw < 0.35:
        return (255, 255, 255)
    if draw < 0.6:
        return (0, 0, 0)
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _font(rng, fonts, size: int, *, script: bool = False):
    choices = [f for f in fonts if any(s in f.name for s in SCRIPT_FACES)] if script else []
    choices = choices or fonts
    return ImageFont.truetype(str(choices[rng.integers(len(choices))]), size)


def _size(rng, low: int = 12, high: int = 200) -> int:
    return int(np.exp(rng.uniform(np.log(low), np.log(high))))


def _place(rng, draw, width, height, text, font, **style):
    box = draw.multiline_textbbox((0, 0), text, font=font, stroke_width=style.get(
        "stroke_width", 0))
    x = int(rng.integers(-box[0], max(1 - box[0], width - box[2])))
    y = int(rng.integers(-box[1], max(1 - box[1], height - box[3])))
    draw.multiline_text((x, y), text, font=font, **style)
    return x, y, box


def _draw_overlay(rng, layer: Image.Image, fonts: list[Path]) -> None:
    """Draw one overlay, opaque, on the transparent ``layer``."""
    width, height = layer.size
    draw = ImageDraw.Draw(layer)
    colour = (*_colour(rng), 255)
    style = {"fill": colour}
    if rng.random() < 0.2:  # an outline in the opposite tone
        style["stroke_width"] = int(rng.integers(1, 4))
        style["stroke_fill"] = (*(255 - c for c in colour[:3]), 255)
    kind = rng.choice(["line", "caption", "tiled", "signature", "logo"],
                      p=[0.35, 0.15, 0.25, 0.12, 0.13])
    if kind == "line":
        _place(rng, draw, width, height, _text(rng), _font(rng, fonts, _size(rng)), **style)
    elif kind == "caption":
        lines = "\n".join(_text(rng) for _ in range(int(rng.integers(2, 5))))
        _place(rng, draw, width, height, lines, _font(rng, fonts, _size(rng, 12, 48)),
               **style)
    elif kind == "tiled":
        font, text = _font(rng, fonts, _size(rng, 14, 48)), _text(rng)
        box = draw.textbbox((0, 0), text, font=font)
        step_x = int((box[2] - box[0]) * rng.uniform(1.2, 2.5)) + 8
        step_y = int((box[3] - box[1]) * rng.uniform(1.5, 4.0)) + 8
        offset_x, offset_y = int(rng.integers(step_x)), int(rng.integers(step_y))
        for row, y in enumerate(range(-step_y + offset_y, height + step_y, step_y)):
            for x in range(-step_x + offset_x, width + step_x, step_x):
                draw.text((x + (row % 2) * step_x // 2, y), text, font=font, **style)
    elif kind == "signature":
        # A script face only: random pen strokes were tried and taught the model that any
        # thin curve is an overlay (dandelion seeds, stems, a splash's rim).
        name = str(rng.choice(["A. Person", "J. Doe", "M. Rossi", "K. Tanaka", "Lee"]))
        _place(rng, draw, width, height, name,
               _font(rng, fonts, _size(rng, 24, 160), script=True), fill=colour)
    else:  # logo: a ring or a box round a short word
        font = _font(rng, fonts, _size(rng, 16, 90))
        x, y, box = _place(rng, draw, width, height, _text(rng)[:8], font, **style)
        pad = int(rng.integers(4, 20))
        frame = [x + box[0] - pad, y + box[1] - pad, x + box[2] + pad, y + box[3] + pad]
        line = int(rng.integers(2, 6))
        if rng.random() < 0.5:
            draw.ellipse(frame, outline=colour, width=line)
        else:
            draw.rectangle(frame, outline=colour, width=line)


def overlay_case(rng: np.random.Generator, photo: np.ndarray, fonts: list[Path]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(image, truth)``: ``photo`` (``H x W x 3`` uint8) with one overlay composited over
    it (or none, one case in ten), and the overlay's bool ``H x W`` mask."""
    height, width = photo.shape[:2]
    if rng.random() < EMPTY_SHARE:
        return photo.copy(), np.zeros((height, width), bool)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    _draw_overlay(rng, layer, fonts)
    if rng.random() < 0.5:
        layer = layer.rotate(float(rng.uniform(-45, 45)), resample=Image.BICUBIC,
                             center=(width / 2, height / 2))
    if rng.random() < 0.15:  # a drop shadow: the layer's shape, dark, blurred and offset
        shadow = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        shift = tuple(int(v) for v in rng.integers(2, 8, 2))
        shadow.paste((0, 0, 0, 160), shift, layer.getchannel("A"))
        shadow = shadow.filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 3))))
        layer = Image.alpha_composite(shadow, layer)
    rgba = np.asarray(layer).astype(np.float32)
    alpha = rgba[..., 3:] / 255 * np.float32(rng.uniform(0.3, 1.0))
    image = photo.astype(np.float32) * (1 - alpha) + rgba[..., :3] * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), rgba[..., 3] > 0
