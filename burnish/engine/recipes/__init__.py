"""Recipes and the runs made of them: loading and checking a recipe, applying its steps,
what a worker keeps warm, batches of files (planned, parallel, resumable)."""
