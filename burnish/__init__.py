"""burnish: the last mile of AI image work.

Importing ``burnish`` is cheap: heavy modules (onnxruntime, numba) load when first used, so
``burnish --help`` answers at once.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "remove", "upscale"]


def upscale(image, **options):
    """Upscale an image array tile by tile; see :func:`burnish.engine.upscaling.upscale`.

    >>> import numpy as np, burnish
    >>> burnish.upscale(np.zeros((8, 10, 3), dtype=np.uint8), model="lanczos", scale=2).shape
    (16, 20, 3)
    """
    from burnish.engine.upscaling import upscale as engine_upscale

    return engine_upscale(image, **options)


def remove(image, mask, **options):
    """Remove what a mask covers and fill it in; see :func:`burnish.engine.removal.object_removal.remove`.

    >>> import numpy as np, burnish
    >>> image = np.full((32, 32, 3), 90, np.uint8)
    >>> mask = np.zeros((32, 32), bool); mask[10:20, 10:20] = True
    >>> bool((burnish.remove(image, mask) == image).all())   # a flat image stays flat
    True
    """
    from burnish.engine.removal.object_removal import remove as engine_remove

    return engine_remove(image, mask, **options)
