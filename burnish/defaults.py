"""The engine's defaults, in one place: the CLI's help, the scheduler, the runners and the
TensorRT profiles all read them from here, so they cannot drift apart."""

from __future__ import annotations

# A tile's core, in input pixels. Larger tiles waste less on halos but hold more activations;
# 256 keeps the default model's CPU working set near 100 MB.
TILE = 256
# The smallest tile core: smaller ones are refused as options, and a tile that ran out of
# memory is split no further than this.
SMALLEST_TILE = 16
# Tiles per model call. On the CPU a batch is no faster than single tiles (measured: 18.4 s
# against 18.3 s for a 4 MP photo) and holds 4x the activations (+400 MB); GPUs need batches.
BATCH = {"cpu": 1, "cuda": 4}
# One band of rows a streaming stage makes at a time (tiling/chain.py): what a grade, a
# resize or the writer holds of a wide image.
BAND_BYTES = 8 * 2**20
# One finished row of tiles of a model's output: for very wide images the tile height
# shrinks to keep it within this, which keeps memory flat as images grow. Not BAND_BYTES:
# shorter tiles spend more of each model call on halos (at 8 MB a 5640-wide photo's x4 tiles
# were 32 rows high, 1.6x the model's work for its 10-pixel halo; at 32 MB 123 rows, 1.2x).
TILE_ROW_BYTES = 32 * 2**20
