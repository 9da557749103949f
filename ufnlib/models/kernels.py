"""Compiled (numba) gradient of the item table in ``layers.gather_dot`` on the CPU.

``scatter_outer(gt, items, g, h)`` adds ``g[p, c] * h[p]`` to row ``items[p, c]`` of ``gt``, one
entry after the other in row-major order: the same float32 products, added in the same order,
as ``index_add_`` of the materialised outer product, so the result is bitwise the same
(tests/test_model.py) without the ``[P * C, d]`` temporary. Imported only when numba is installed.
"""
import numba


@numba.njit(cache=True, nogil=True)
def scatter_outer(gt, items, g, h):
    P, C = items.shape
    d = h.shape[1]
    for p in range(P):
        for c in range(C):
            r = items[p, c]
            s = g[p, c]
            for k in range(d):
                gt[r, k] += s * h[p, k]
