"""Collection rules for the doctests in the package (``--doctest-modules``)."""

import importlib.util

# The training recipe imports PyTorch, which only the `export` extra installs.
collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["burnish/export/train_default.py",
                                                                     "burnish/export/compact.py"]
