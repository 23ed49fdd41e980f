"""Parallel CPU loops without Numba's parfors: bands of a loop run on a pool of threads.

A ``@njit(parallel=True)`` driver costs about a second to compile per type signature on top of
its body (the parfor passes analyse the loop, then compile its body a second time as a
gufunc), and loading it from the cache starts Numba's threading layer. A CPU driver that
instead takes a band ``first, stop`` of its parallel loop, compiled with ``nogil=True``, costs
what a serial function costs; :func:`parallel_for` runs one band per thread. The bands are
contiguous and fixed by the item count and the thread count, and every item is computed by
the same code whichever band holds it, so results do not depend on the number of threads.

Compile band drivers with :func:`band_driver`: besides ``nogil``, it sets NumPy's error model
(a float division by zero gives inf, not an exception), which parfor bodies always had; the
exception checks of Python's model keep loops from vectorising (4x slower Reinhard).

The thread count is burnish's own (:func:`set_thread_count`; ``burnish run --jobs`` shares the
cores between its workers with it), by default Numba's ``NUMBA_NUM_THREADS`` (the cores, or
the environment variable). It is not :func:`numba.get_num_threads`, which would start Numba's
threading layer in every process for nothing.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numba
from numba import njit

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_thread_count = numba.config.NUMBA_NUM_THREADS


def thread_count() -> int:
    """How many threads a parallel loop uses (module notes)."""
    return _thread_count


def set_thread_count(count: int) -> None:
    """Parallel loops use ``count`` threads from now on (at most ``NUMBA_NUM_THREADS``)."""
    global _thread_count
    if count < 1:
        raise ValueError(f"a thread count must be at least 1, not {count}")
    _thread_count = min(count, numba.config.NUMBA_NUM_THREADS)


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, numba.config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="burnish-kernel")
        return _pool


def band_driver(function):
    """``function`` compiled as a band driver (module notes): cached, without the GIL, with
    NumPy's error model, and marked so that :func:`burnish.kernels.dispatch.run` runs it in
    bands of its first grid axis."""
    driver = njit(cache=True, nogil=True, error_model="numpy")(function)
    driver.runs_in_bands = True
    return driver


def is_band_driver(driver) -> bool:
    return getattr(driver, "runs_in_bands", False)


def parallel_for(driver, count: int, *args) -> None:
    """``driver(*args, first, stop)`` for contiguous bands covering ``range(count)``, one
    per thread, the calling thread taking the first; returns when all are done.

    ``driver`` must be an ``@njit(nogil=True)`` function (else the bands take turns).
    """
    threads = max(1, min(_thread_count, count))
    edges = [count * band // threads for band in range(threads + 1)]
    if threads == 1:
        driver(*args, 0, count)
        return
    pool = _shared_pool()
    others = [pool.submit(driver, *args, edges[band], edges[band + 1])
              for band in range(1, threads)]
    driver(*args, edges[0], edges[1])
    for band in others:
        band.result()
