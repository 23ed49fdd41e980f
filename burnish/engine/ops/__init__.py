"""The operations recipes, ``burnish run`` and ``burnish edit`` are made of, declared once.

| op | module | stage (:mod:`burnish.engine.tiling.chain`) |
| --- | --- | --- |
| ``upscale`` | :mod:`.super_resolution` | model: the tile scheduler over the stage before |
| ``remove`` | :mod:`.reconstruct` | whole image (not streamed yet) |
| ``match_colour`` | :mod:`.grade` | two-pass: statistics while spilling, then tiled (40 rows of context); a region or float32 histogram: whole image |
| ``match_grain`` | :mod:`.grade` | whole image (not streamed yet) |
| ``lut``, ``adjust`` | :mod:`.grade` | tiled, per pixel; with a region: whole image (not yet tiled) |
| ``resize``, ``crop`` | :mod:`.geometry` | geometry: bands from the rows under the filter |
| ``cutout``, ``background`` | :mod:`.matte` | whole image (the matting is one solve) |
| ``encode`` | :mod:`.encode` | tiled, per pixel (the bit depth) |

:mod:`.declare` says what an op is, :mod:`.params` how values are checked, and
:mod:`.region` what the masked variants share.
"""

from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.encode import ENCODE
from burnish.engine.ops.geometry import CROP, RESIZE
from burnish.engine.ops.grade import ADJUST, LUT, MATCH_COLOUR, MATCH_GRAIN
from burnish.engine.ops.matte import BACKGROUND, CUTOUT
from burnish.engine.ops.reconstruct import REMOVE
from burnish.engine.ops.super_resolution import UPSCALE

OPS: dict[str, Op] = {op.name: op for op in (
    UPSCALE, REMOVE, MATCH_COLOUR, MATCH_GRAIN, LUT, ADJUST, RESIZE, CROP, CUTOUT, BACKGROUND,
    ENCODE)}

__all__ = ["OPS", "Op", "Outcome", "Param", "StepInput"]
