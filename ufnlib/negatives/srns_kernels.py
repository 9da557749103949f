"""Compiled (numba) loops behind ``srns.SRNSMemory.observe`` and ``.refresh`` on the CPU.

They work in place on numpy views of the memory tensors and follow the rules of the ``srns``
module docstring position by position: ``observe`` walks the positions in batch order (the
batched version's rounds only group positions of distinct interactions, which touch disjoint
rows), ``refresh`` handles the last visit of each interaction. Results equal the batched tensor
version slot by slot (tests/test_srns.py compares every memory tensor); the one place where the
two could part is a variance-rule value within rounding (1e-16) of the 1/2 threshold, where the
float64 sum of T scores may be added in another order.
"""
import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _rule(h, alpha):
    """``srns.variance_rule`` of one history (float32 scores, reduced in float64)."""
    T = h.shape[0]
    s = 0.0
    for t in range(T):
        s += np.float64(h[t])
    mean = s / T
    v = 0.0
    for t in range(T):
        d = np.float64(h[t]) - mean
        v += d * d
    return mean - alpha * math.sqrt(v / T) > 0.5


@numba.njit(cache=True, nogil=True)
def observe(inter, negs, p, fed, flags, items, hist, obs, fn_items, fn_next, alpha):
    """Push the score ``p`` [P, n] of each tracked candidate (its first fed column), apply the
    rule, mark ``flags`` [P, n] (rule hits and fed N_false members), append new pairs to N_false.
    Returns the number of N_false pairs evicted."""
    P, n = negs.shape
    S1 = items.shape[1]
    T = hist.shape[2]
    F = fn_items.shape[1]
    evictions = 0
    col = np.empty(S1, np.int64)
    in_fn = np.empty(n, np.bool_)
    for q in range(P):
        i = inter[q]
        for k in range(S1):                          # locate: first fed column of each candidate
            col[k] = -1
            tr = items[i, k]
            if tr != 0:
                for c in range(n):
                    if fed[q, c] and negs[q, c] == tr:
                        col[k] = c
                        break
        for c in range(n):                           # N_false as it stands at this visit
            in_fn[c] = False
            v = negs[q, c]
            for f in range(F):
                if fn_items[i, f] == v:
                    in_fn[c] = True
                    break
            flags[q, c] = in_fn[c] and fed[q, c]
        for k in range(S1):
            c = col[k]
            if c < 0:
                continue
            o = np.int64(obs[i, k])
            hist[i, k, o % T] = p[q, c]
            o += 1
            if o >= 2 * T:
                o -= T
            obs[i, k] = o
            if o >= T and _rule(hist[i, k], alpha):
                flags[q, c] = True
                if not in_fn[c]:
                    in_fn[c] = True                  # appended below, in column order
                    col[k] = -2 - c                  # mark: a new pair at column c
        nxt = np.int64(fn_next[i])
        for c in range(n):                           # new pairs in column order
            for k in range(S1):
                if col[k] == -2 - c:
                    if fn_items[i, nxt] != 0:
                        evictions += 1
                    fn_items[i, nxt] = negs[q, c]
                    nxt = (nxt + 1) % F
                    break
        fn_next[i] = nxt
    return evictions


@numba.njit(cache=True, nogil=True)
def refresh(inter, negs, logits, eligible, noise, tau, sel, items, hist, obs, n_inter_mark, item_mark):
    """New tracked set of each interaction at its last position in the batch: the (up to) S1
    eligible first occurrences with the largest ``logit / tau + noise``, in column order; kept
    candidates keep their history. ``n_inter_mark`` [n_inter] and ``item_mark`` [> max item]
    (int64) are scratch, all -1 on entry and exit. Marks ``sel`` [P, n]; returns (tracked
    candidates offered, kept)."""
    P, n = negs.shape
    S1 = items.shape[1]
    T = hist.shape[2]
    k = min(S1, n)
    offered = 0
    kept = 0
    for q in range(P):                               # last position of each interaction
        n_inter_mark[inter[q]] = q
    key = np.empty(n, np.float64)
    chosen = np.empty(n, np.bool_)
    topkey = np.empty(max(k, 1), np.float64)
    topcol = np.empty(max(k, 1), np.int64)
    new_items = np.empty(S1, np.int64)
    H = np.empty((S1, T), np.float32)
    O = np.empty(S1, np.int64)
    for q in range(P):
        i = inter[q]
        if n_inter_mark[i] != q:
            continue
        n_inter_mark[i] = -1
        for c in range(n):
            chosen[c] = False
            v = negs[q, c]
            ok = eligible[q, c] and item_mark[v] < 0     # first occurrence of the item in the row
            item_mark[v] = 1
            if ok:
                key[c] = np.float64(logits[q, 1 + c]) / tau + noise[q, c]
            else:
                key[c] = -np.inf
        m = 0                                        # top-k by key, kept sorted descending
        for c in range(n):                           # (ties: the lower column first)
            if key[c] == -np.inf or (m == k and (k == 0 or key[c] <= topkey[k - 1])):
                continue
            j = m if m < k else k - 1
            while j > 0 and topkey[j - 1] < key[c]:
                topkey[j] = topkey[j - 1]
                topcol[j] = topcol[j - 1]
                j -= 1
            topkey[j] = key[c]
            topcol[j] = c
            if m < k:
                m += 1
        for j in range(m):
            chosen[topcol[j]] = True
        for c in range(n):
            item_mark[negs[q, c]] = -1
        j = 0
        for c in range(n):
            if chosen[c]:
                sel[q, c] = True
                new_items[j] = negs[q, c]
                j += 1
        nv = j
        for s in range(S1):
            if items[i, s] != 0:
                offered += 1
        for j in range(nv):
            src = -1
            for s in range(S1):
                if items[i, s] == new_items[j]:
                    src = s
                    break
            if src >= 0:
                kept += 1
                for t in range(T):
                    H[j, t] = hist[i, src, t]
                O[j] = obs[i, src]
            else:
                for t in range(T):
                    H[j, t] = 0.0
                O[j] = 0
        for s in range(S1):
            if s < nv:
                items[i, s] = new_items[s]
                for t in range(T):
                    hist[i, s, t] = H[s, t]
                obs[i, s] = O[s]
            else:
                items[i, s] = 0
                for t in range(T):
                    hist[i, s, t] = 0.0
                obs[i, s] = 0
    return offered, kept
