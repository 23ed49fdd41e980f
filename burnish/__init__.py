"""burnish: the last mile of AI image work.

Importing ``burnish`` is cheap: the functions below are imported from the engine when first
used (heavy modules, onnxruntime and numba, load then), so ``burnish --help`` answers at
once.

- :func:`upscale` (:func:`burnish.engine.upscaling.upscale`) and :func:`remove`
  (:func:`burnish.engine.removal.object_removal.remove`) on image arrays;
- :class:`Recipe` (``burnish.Recipe.load("look.toml").apply(image)``) and one step at a
  time: :func:`adjust`, :func:`lut`, :func:`match_colour`, :func:`match_grain`,
  :func:`resize`, :func:`crop`, :func:`cutout`, :func:`background` (:mod:`burnish.api`);
- :class:`Detector` (:class:`burnish.engine.detection.Detector`): automatic masks
  (``burnish.Detector("text").mask(image)``).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first use, PEP 562).
_HOMES = {
    "upscale": "burnish.engine.upscaling",
    "remove": "burnish.engine.removal.object_removal",
    **{name: "burnish.api" for name in ("Recipe", "adjust", "lut", "match_colour",
                                         "match_grain", "resize", "crop", "cutout",
                                         "background")},
    "Detector": "burnish.engine.detection",
}
__all__ = ["__version__", *_HOMES]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'burnish' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
