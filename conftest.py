"""Collection rules for the doctests in the package (``--doctest-modules``)."""

import importlib.util
import os

# The training recipe imports PyTorch, which only the `export` extra installs.
collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["burnish/export/train_default.py",
                                                                     "burnish/export/compact.py"]

# The kernels' CUDA drivers run in Numba's CUDA simulator on machines without an NVIDIA
# driver (CI), and on the GPU where there is one. Numba reads this when it is first imported.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and not os.path.exists("/dev/nvidiactl"):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

# Tests compile on one core, as they always did: no helper processes compiling ahead
# (burnish.engine.recipes.compile_ahead), whose timing would vary from run to run; its own tests turn
# it on where they need it.
os.environ.setdefault("BURNISH_COMPILE_AHEAD", "0")
