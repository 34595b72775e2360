"""The cyclic garbage collector kept away from what a process builds to keep.

A start (settings of thousands of feeds, the compiled watchlist, the imports themselves) is
an allocation burst that triggers full collections walking the whole heap; what it builds
lives until the process ends or a reload replaces it, so collecting it is wasted work.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def building_heap() -> Iterator[None]:
    """While start-up or a reload builds what the process then keeps (settings, sources, the
    compiled watchlist), the cyclic garbage collector is off; on success what was built is
    moved out of its reach (`gc.freeze`). Otherwise the full collections such an allocation
    burst triggers walk the whole heap while holding the GIL: 80-340 ms with 10,000 feeds, a
    stall of the loop (bench/reload.py). Frozen objects are still freed when their last
    reference goes, as what a reload replaces is (the frozen count stays flat across
    reloads); a failed start or rejected reload leaves its garbage to the collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
