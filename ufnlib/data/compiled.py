"""Optional compiled (numba) kernels: ``numba_module("ufnlib.x.y_kernels")`` is that module when
numba is installed, else None, so every caller keeps a tensor fallback. Here, below ``models`` and
``negatives``, so that the sampler, the layers and the mining memories share one check."""
from __future__ import annotations

import importlib
import importlib.util

HAVE_NUMBA = importlib.util.find_spec("numba") is not None   # numba itself is imported only when used


def numba_module(name: str):
    """The module ``name`` (a module of numba kernels) if numba is installed, else None."""
    return importlib.import_module(name) if HAVE_NUMBA else None
