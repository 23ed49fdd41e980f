"""burnish from Python: recipes and single steps on image arrays.

:class:`Recipe` is a recipe file (or a list of steps) checked once and applied to any number
of images; :func:`adjust`, :func:`lut`, :func:`match_colour`, :func:`match_grain`,
:func:`resize` and :func:`crop` run one step of the op of the same name. Their keyword
parameters are the op's declared ones (``burnish ops`` lists them), so a step reads the
same in a recipe, in ``burnish edit`` and here. Relative file paths in a step (a LUT, a
reference image) start at the recipe's folder, or at the working folder for steps given
in Python.

>>> import numpy as np, burnish
>>> image = np.full((4, 6, 3), 100, np.uint8)
>>> burnish.adjust(image, exposure=1.0)[0, 0].tolist()   # one stop brighter, in linear light
[138, 138, 138]
>>> recipe = burnish.Recipe.from_steps([{"op": "upscale", "model": "lanczos", "scale": 2},
...                                      {"op": "crop", "box": "0,0,5,3"}])
>>> recipe.apply(image).shape
(3, 5, 3)
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from burnish.engine.ops import OPS
from burnish.engine.ops.declare import Param
from burnish.errors import OptionError


class Recipe:
    """A checked recipe: its steps validated when it is made, so a typo fails before any
    image is touched (:class:`~burnish.errors.OptionError` naming the step)."""

    def __init__(self, recipe):
        self._recipe = recipe  # burnish.engine.recipes.recipe.Recipe

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recipe:
        """A recipe file (``.toml`` or ``.json``), as ``burnish run`` reads it."""
        from burnish.engine.recipes.recipe import load_recipe

        return cls(load_recipe(path))

    @classmethod
    def from_steps(cls, steps: Sequence[dict], *, base: str | os.PathLike | None = None,
                   name: str = "") -> Recipe:
        """A recipe from step tables (``{"op": "adjust", "exposure": 0.3}``, as in a recipe
        file; paths as text or :class:`~pathlib.Path`); relative paths start at ``base`` (by
        default the working folder)."""
        from burnish.engine.recipes.recipe import recipe_from_data

        base = Path(base) if base is not None else Path.cwd()
        # Paths given as Path objects read as the text a recipe file would hold.
        tables = [{key: os.fspath(value) if isinstance(value, os.PathLike) else value
                   for key, value in step.items()} if isinstance(step, dict) else step
                  for step in steps]
        return cls(recipe_from_data({"steps": tables, "name": name}, base=base.resolve(),
                                    origin="<steps>"))

    @property
    def steps(self) -> list[dict]:
        """The steps as a recipe file would write them."""
        return [step.describe() for step in self._recipe.steps]

    @property
    def sha256(self) -> str:
        """The recipe's hash (steps and the content of every file they name), as recorded
        in provenance."""
        return self._recipe.sha256

    def apply(self, image: np.ndarray, *, device: str = "auto", backend: str = "auto",
              max_pixels: int | None = None) -> np.ndarray:
        """The recipe's steps on ``image`` (``H x W`` or ``H x W x C``, uint8, uint16 or
        float32 in [0, 1]); returns a new array of the result's size, with ``image``'s
        number of dimensions. The encode step, if any, only matters when writing files."""
        from burnish.engine.pixels import check_dtype
        from burnish.engine.recipes.pipeline import apply_steps
        from burnish.engine.recipes.resources import Resources

        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
            raise OptionError("image must be a NumPy array of shape H x W or H x W x C")
        check_dtype(image.dtype)
        pixels = np.ascontiguousarray(image if image.ndim == 3 else image[..., None])
        with Resources(device=device, backend=backend) as resources:
            applied = apply_steps(pixels, self._recipe.edits, resources,
                                  image=Path(self._recipe.origin),
                                  context=self._recipe.context, max_pixels=max_pixels)
        return applied.pixels if image.ndim == 3 else applied.pixels[..., 0]

    def __repr__(self) -> str:
        return f"Recipe({self.steps!r})"


def _step_function(name: str):
    """``name``'s op as a function ``f(image, /, **params)`` whose signature and help are
    the op's declaration."""
    op = OPS[name]

    def step(image: np.ndarray, /, **params) -> np.ndarray:
        return Recipe.from_steps([{"op": name, **params}]).apply(image)

    def parameter(param: Param) -> inspect.Parameter:
        default = inspect.Parameter.empty if param.required else param.default
        return inspect.Parameter(param.name, inspect.Parameter.KEYWORD_ONLY, default=default)

    step.__name__ = step.__qualname__ = name
    step.__signature__ = inspect.Signature(
        [inspect.Parameter("image", inspect.Parameter.POSITIONAL_ONLY), *map(parameter, op.params)],
        return_annotation=np.ndarray)
    lines = [f"{op.summary}", "", "Parameters (the op's declaration; ``burnish ops " + name
             + "``)", "----------"]
    for param in op.params:
        default = "required" if param.required else f"default {param.default!r}"
        lines.append(f"{param.name} : {param.kind.describe()}, {default}")
        lines.append(f"    {param.help}")
    step.__doc__ = "\n".join(lines)
    return step


adjust = _step_function("adjust")
lut = _step_function("lut")
match_colour = _step_function("match_colour")
match_grain = _step_function("match_grain")
resize = _step_function("resize")
crop = _step_function("crop")
cutout = _step_function("cutout")
background = _step_function("background")
