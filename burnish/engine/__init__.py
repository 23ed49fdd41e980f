"""Images in and out, the tile grid, the streaming scheduler, and the jobs built on them."""
