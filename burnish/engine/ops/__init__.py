"""The operations recipes, ``burnish run`` and ``burnish edit`` are made of, declared once.

| op | module |
| --- | --- |
| ``upscale`` | :mod:`.upscale` |
| ``remove`` | :mod:`.remove` |
| ``match_colour``, ``match_grain``, ``lut``, ``adjust`` | :mod:`.grade` |
| ``resize``, ``crop`` | :mod:`.geometry` |
| ``encode`` | :mod:`.encode` |

:mod:`.declare` says what an op is, :mod:`.params` how values are checked, and
:mod:`.region` what the masked variants share.
"""

from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.encode import ENCODE
from burnish.engine.ops.geometry import CROP, RESIZE
from burnish.engine.ops.grade import ADJUST, LUT, MATCH_COLOUR, MATCH_GRAIN
from burnish.engine.ops.reconstruct import REMOVE
from burnish.engine.ops.super_resolution import UPSCALE

OPS: dict[str, Op] = {op.name: op for op in (
    UPSCALE, REMOVE, MATCH_COLOUR, MATCH_GRAIN, LUT, ADJUST, RESIZE, CROP, ENCODE)}

__all__ = ["OPS", "Op", "Outcome", "Param", "StepInput"]
