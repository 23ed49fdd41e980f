"""Tiles: the grid (which window each output tile reads), the streaming scheduler that pulls
tiles through an op and stitches them in order, and where the work runs (host or device)."""
