"""Compiled (numba) loops behind ``layers`` on the CPU (tests/test_model.py).

``gather_dot_forward`` and ``gather_dot_h_grad`` compute ``layers.gather_dot``'s logits and its
gradient with respect to the position vectors straight from the item table, without the
``[P, C, d]`` tensor of gathered rows that ``index_select`` + ``bmm`` materialise. Their sums run
in an order of their own (vectorised, fixed for a given machine), so their floats differ from
``bmm``'s in the last bits; the results are deterministic.

``scatter_outer(gt, items, g, h)``, the gradient of the item table in ``layers.gather_dot``,
adds ``g[p, c] * h[p]`` to row ``items[p, c]`` of ``gt``, one entry after the other in row-major
order: the same float32 products, added in the same order, as ``index_add_`` of the
materialised outer product, without the ``[P * C, d]`` temporary. ``dropout`` draws
``Dropout``'s hashed (layout-free) mask and makes its output in one pass. ``dropout_tokens``,
``attention_forward`` and ``attention_backward`` serve ``packed.py``'s padding-free layout.
Imported only when numba is installed.
"""
import numba
import numpy as np

from .layers import GOLDEN, MIX1, MIX2

# the dot products may be vectorised (reassociated) and fused-multiply-added; NaNs and
# infinities keep their meaning
_FAST = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def gather_dot_forward(table, h, items, out):
    """``out[p, c] = table[items[p, c]] . h[p]``."""
    P, C = items.shape
    d = h.shape[1]
    for p in range(P):
        hp = h[p]
        for c in range(C):
            row = table[items[p, c]]
            s = numba.float32(0.0)
            for k in range(d):
                s += row[k] * hp[k]
            out[p, c] = s


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def gather_dot_h_grad(table, g, items, out):
    """``out[p] = sum_c g[p, c] * table[items[p, c]]``, the gradient of ``h``."""
    P, C = items.shape
    d = out.shape[1]
    for p in range(P):
        acc = out[p]
        for k in range(d):
            acc[k] = 0.0
        for c in range(C):
            row = table[items[p, c]]
            s = g[p, c]
            for k in range(d):
                acc[k] += s * row[k]


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


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(z):
    """splitmix64's finaliser (uint64)."""
    z = (z ^ (z >> numba.uint64(30))) * numba.uint64(MIX1)
    z = (z ^ (z >> numba.uint64(27))) * numba.uint64(MIX2)
    return z ^ (z >> numba.uint64(31))


@numba.njit(cache=True, nogil=True)
def _row_key(seed, site, row):
    """``layers.Noise.keys``: the hash key of a row (uint64) at a drawing site."""
    gold = numba.uint64(GOLDEN)
    return _mix(_mix(seed + numba.uint64(site + 1) * gold) + numba.uint64(row + 1) * gold)


@numba.njit(cache=True, nogil=True, inline="always")
def _keep(key, i, thr, scale):
    """The dropout multiplier of the element at window index ``i - 1`` of a row with hash ``key``:
    ``scale`` when the top 24 bits of splitmix64's finaliser of ``key + i * GOLDEN`` reach
    ``thr``, else 0."""
    z = _mix(key + numba.uint64(i) * numba.uint64(GOLDEN))
    return scale if (z >> numba.uint64(40)) >= thr else numba.float32(0.0)


@numba.njit(cache=True, nogil=True)
def dropout(x, seeds, rows, site, H, W, T, maxlen, t_full, t_off, threshold, scale, out, mask):
    """``x`` is a flat float32 [b, H, W, T] array; row r's key is ``layers.Noise.keys``' hash of
    ``seeds[r]``, ``site`` and ``rows[r]``; element (r, h, q, t) is kept (times ``scale``) when the
    top 24 bits of splitmix64's finaliser of ``key + (i + 1) * GOLDEN`` are at least ``threshold``,
    where ``i = ((h * maxlen + maxlen - W + q) * t_full + t_off + t)`` is its index in the full
    window (``layers.window_index``); ``mask`` is 0 or ``scale`` and ``out = x * mask``.
    ``layers.Dropout``'s tensor code computes the same draws."""
    thr = numba.uint64(threshold)
    n = 0
    for r in range(seeds.shape[0]):
        key = _row_key(seeds[r], site, rows[r])
        for h in range(H):
            for q in range(W):
                base = (h * maxlen + maxlen - W + q) * t_full + t_off + 1
                for t in range(T):
                    m = _keep(key, base + t, thr, scale)
                    mask[n] = m
                    out[n] = x[n] * m
                    n += 1


@numba.njit(cache=True, nogil=True)
def sse_replace(seq, users, seeds, rows, sites, maxlen, p_user, p_item, n_items, n_users, seq_out, users_out):
    """``ssept.sse_replace`` on the CPU, the same draws as its tensor code: a user is replaced when
    the 24-bit draw at (``sites[0]``, within-row index 0) is below ``p_user``, by
    ``floor(v * n_users)`` with v the 53-bit draw at ``sites[1]``; a real item at window position
    i likewise with ``sites[2]``, ``sites[3]`` and ``1 + floor(v * n_items)``."""
    gold = numba.uint64(GOLDEN)
    s40, s11 = numba.uint64(40), numba.uint64(11)
    B, W = seq.shape
    for r in range(B):
        users_out[r] = users[r]
        if p_user > 0:
            u = numba.float64(_mix(_row_key(seeds[r], sites[0], rows[r]) + gold) >> s40) / 2.0 ** 24
            if u < p_user:
                v = numba.float64(_mix(_row_key(seeds[r], sites[1], rows[r]) + gold) >> s11) / 2.0 ** 53
                users_out[r] = numba.int64(v * n_users)
        k_item = _row_key(seeds[r], sites[2], rows[r])
        k_id = _row_key(seeds[r], sites[3], rows[r])
        for w in range(W):
            s = seq[r, w]
            seq_out[r, w] = s
            if p_item > 0 and s > 0:
                i = numba.uint64(maxlen - W + w + 1)
                u = numba.float64(_mix(k_item + i * gold) >> s40) / 2.0 ** 24
                if u < p_item:
                    v = numba.float64(_mix(k_id + i * gold) >> s11) / 2.0 ** 53
                    seq_out[r, w] = 1 + numba.int64(v * n_items)


# ---------------------------------------------------------------- packed (padding-free) encoding
# ``packed.py``: a batch's real tokens side by side, [T, F]; sequence s owns tokens
# ``offsets[s]:offsets[s + 1]`` (consecutive window positions ``pos``), its noise seed ``seeds[s]``
# and its row index ``rows[s]`` (``layers.Noise``).


@numba.njit(cache=True, nogil=True)
def dropout_tokens(x, offsets, pos, seeds, rows, site, F, threshold, scale, out, mask):
    """``dropout`` for packed tokens: element (t, f) of sequence s has the draw of element
    (pos[t], f) of s's row in the full window, so the masks are those of the padded layout."""
    thr = numba.uint64(threshold)
    for s in range(seeds.shape[0]):
        key = _row_key(seeds[s], site, rows[s])
        for t in range(offsets[s], offsets[s + 1]):
            base = pos[t] * F + 1
            n = t * F
            for f in range(F):
                m = _keep(key, base + f, thr, scale)
                mask[n + f] = m
                out[n + f] = x[n + f] * m


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def attention_forward(q, k, v, offsets, poffs, pos, seeds, rows, site, heads, causal, maxlen, scale,
                      drop, threshold, dscale, y, probs, kept):
    """Self-attention within each packed sequence: ``softmax(q k^T * scale)`` over the sequence's
    own keys (the earlier ones and itself with ``causal``), dropout on the weights (``drop``; the
    draws of ``dropout``'s attention layout: element (h, i, j) at window index
    ``(h * maxlen + pos[i]) * maxlen + pos[j]``), times ``v``. Per sequence s and head h the
    weights are stored in ``probs`` and the dropout multipliers in ``kept``, from
    ``poffs[s] + h * L * L`` (L = the sequence's length), row-major, zero where not attended."""
    thr = numba.uint64(threshold)
    D = q.shape[1]
    dh = D // heads
    for s in range(offsets.shape[0] - 1):
        o, L = offsets[s], offsets[s + 1] - offsets[s]
        key = _row_key(seeds[s], site, rows[s]) if drop else numba.uint64(0)
        for hh in range(heads):
            c0 = hh * dh
            base = poffs[s] + hh * L * L
            for i in range(L):
                n = i + 1 if causal else L
                row = base + i * L
                qi = q[o + i]
                mx = -numba.float32(np.inf)
                for j in range(n):
                    kj = k[o + j]
                    acc = numba.float32(0.0)
                    for c in range(c0, c0 + dh):
                        acc += qi[c] * kj[c]
                    acc *= scale
                    probs[row + j] = acc
                    mx = max(mx, acc)
                tot = numba.float32(0.0)
                for j in range(n):
                    e = np.exp(probs[row + j] - mx)
                    probs[row + j] = e
                    tot += e
                inv = numba.float32(1.0) / tot
                yi = y[o + i]
                for c in range(c0, c0 + dh):
                    yi[c] = 0.0
                qbase = (hh * maxlen + pos[o + i]) * maxlen + 1
                for j in range(n):
                    a = probs[row + j] * inv
                    probs[row + j] = a
                    m = numba.float32(1.0)
                    if drop:
                        m = _keep(key, qbase + pos[o + j], thr, dscale)
                    kept[row + j] = m
                    w = a * m
                    if w != 0.0:
                        vj = v[o + j]
                        for c in range(c0, c0 + dh):
                            yi[c] += w * vj[c]
                for j in range(n, L):
                    probs[row + j] = 0.0
                    kept[row + j] = 0.0


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def attention_backward(q, k, v, dy, offsets, poffs, heads, causal, scale, probs, kept, dq, dk, dv):
    """The gradients of ``attention_forward`` with respect to q, k and v (written, not added)."""
    D = q.shape[1]
    dh = D // heads
    dq[:] = 0.0
    dk[:] = 0.0
    dv[:] = 0.0
    longest = 0
    for s in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[s + 1] - offsets[s])
    da = np.empty(longest, dtype=np.float32)
    for s in range(offsets.shape[0] - 1):
        o, L = offsets[s], offsets[s + 1] - offsets[s]
        for hh in range(heads):
            c0 = hh * dh
            base = poffs[s] + hh * L * L
            for i in range(L):
                n = i + 1 if causal else L
                row = base + i * L
                gi = dy[o + i]
                t = numba.float32(0.0)
                for j in range(n):
                    m = kept[row + j]
                    a = probs[row + j]
                    vj = v[o + j]
                    g = numba.float32(0.0)
                    if m != 0.0:
                        for c in range(c0, c0 + dh):
                            g += gi[c] * vj[c]
                        g *= m
                        w = a * m
                        dvj = dv[o + j]
                        for c in range(c0, c0 + dh):
                            dvj[c] += w * gi[c]
                    da[j] = g
                    t += a * g
                qi, dqi = q[o + i], dq[o + i]
                for j in range(n):
                    ds = probs[row + j] * (da[j] - t) * scale
                    if ds != 0.0:
                        kj, dkj = k[o + j], dk[o + j]
                        for c in range(c0, c0 + dh):
                            dqi[c] += ds * kj[c]
                            dkj[c] += ds * qi[c]
