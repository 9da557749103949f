"""Compiled (numba) loops behind ``layers`` on the CPU, each bitwise equal to the tensor code it
replaces (tests/test_model.py).

``scatter_outer(gt, items, g, h)``, the gradient of the item table in ``layers.gather_dot``,
adds ``g[p, c] * h[p]`` to row ``items[p, c]`` of ``gt``, one entry after the other in row-major
order: the same float32 products, added in the same order, as ``index_add_`` of the
materialised outer product, without the ``[P * C, d]`` temporary. ``dropout`` makes
``Dropout``'s mask and output in one pass instead of four tensor operations. Imported only when
numba is installed.
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


@numba.njit(cache=True, nogil=True)
def dropout(x, r, p, scale, out, mask):
    """``mask = (r >= p) * scale`` and ``out = x * mask`` in one pass, over flat float32 arrays:
    the mask is 0 or float32(scale), so the products equal ``Dropout``'s tensor expression, signed
    zeros included."""
    for i in range(x.shape[0]):
        m = scale if r[i] >= p else numba.float32(0.0)
        mask[i] = m
        out[i] = x[i] * m
