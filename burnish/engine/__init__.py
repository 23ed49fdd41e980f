"""The engine: images in and out (imageio), tiles and the streaming scheduler (tiling), the
ops recipes are made of (ops), recipes and batch runs (recipes), object removal (removal),
and what was done to an image (provenance)."""
