"""Compiled (numba) loops behind ``fmr.FMRMemory.inject`` and ``.record`` on the CPU.

They work in place on numpy views of the memory tensors and follow the rules and the processing
order of the ``fmr`` module docstring, position by position and slot by slot, so their results
equal the batched tensor implementation there slot by slot (tests/test_mining.py). Imported only
when a CPU memory is built: numba adds memory and start-up time to a process that loads it.
"""
import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def inject(inter, negs, refed, counts, rec_items, rec_len, hist_items, hist_count,
           hist_last, step, m, mark):
    """``FMRMemory.inject`` on numpy views, one interaction at a time (see the tensor version for
    the rules). ``mark`` [n_items + 1] is scratch, all -1 on entry and exit. Returns evictions."""
    P = inter.shape[0]
    K = hist_items.shape[1]
    n = negs.shape[1]
    perm = np.argsort(inter, kind="mergesort")       # positions grouped by interaction, in order
    dv = np.empty(n, np.int64)                       # distinct re-fed items, ascending
    mult = np.empty(n, np.int64)                     # their multiplicity in N_rec
    slot_of = np.empty(n, np.int64)
    base = np.empty(n, np.int64)
    seen = np.empty(n, np.int64)
    taken = np.zeros(K, np.bool_)
    cand = np.empty(K, np.int64)
    order = np.empty(K, np.int64)
    srt = np.empty(n, np.int64)
    shift = np.int64(1)
    while (np.int64(1) << shift) < K:                # bits of a slot index in an eviction key
        shift += 1
    evictions = 0
    g0 = 0
    while g0 < P:
        i = inter[perm[g0]]
        g1 = g0 + 1
        while g1 < P and inter[perm[g1]] == i:
            g1 += 1
        G = g1 - g0                                  # visits of interaction i in this batch
        L = rec_len[i]
        if L > 0:
            for s in range(L):
                srt[s] = rec_items[i, s]
            srt[:L].sort()
            nd = 0
            for s in range(L):
                if nd > 0 and dv[nd - 1] == srt[s]:
                    mult[nd - 1] += 1
                else:
                    dv[nd] = srt[s]
                    mult[nd] = 1
                    nd += 1
            for d in range(nd):
                mark[dv[d]] = d
                slot_of[d] = -1
                seen[d] = 0
            for k in range(K):                       # one pass over the history row
                taken[k] = False
                h = hist_items[i, k]
                if h != 0 and mark[h] >= 0:
                    slot_of[mark[h]] = k
                    taken[k] = True
            nnew = 0
            for d in range(nd):
                if slot_of[d] < 0:
                    nnew += 1
            if nnew > 0:
                # slots for new items: free slots in slot order, then the least recently re-fed
                # entries with counter <= m, then those above m; slots matched now are kept
                c = 0
                for k in range(K):
                    if c < nnew and hist_items[i, k] == 0:
                        cand[c] = k
                        c += 1
                if c < nnew:
                    # eviction order (priority, slot) as one unique int64 key per slot, so that a
                    # plain sort gives the stable order: priority = last re-feed step, + 2^40 for
                    # counters above m; a few slots are picked by repeated minimum instead
                    nc = 0
                    for k in range(K):
                        if hist_items[i, k] != 0 and not taken[k]:
                            prio = np.int64(hist_last[i, k]) + (np.int64(1) << 40 if hist_count[i, k] > m else 0)
                            order[nc] = (prio << shift) | k
                            nc += 1
                    r = nnew - c
                    if r * 8 < nc:                   # a few: pick the smallest keys one by one
                        big = np.iinfo(np.int64).max
                        for j in range(r):
                            best = 0
                            for q in range(1, nc):
                                if order[q] < order[best]:
                                    best = q
                            cand[c + j] = order[best] & ((np.int64(1) << shift) - 1)
                            order[best] = big
                    else:
                        order[:nc].sort()
                        for j in range(r):
                            cand[c + j] = order[j] & ((np.int64(1) << shift) - 1)
                j = 0
                for d in range(nd):                  # new items in ascending order
                    if slot_of[d] < 0:
                        k = cand[j]
                        j += 1
                        if hist_items[i, k] != 0:
                            evictions += 1
                        hist_items[i, k] = dv[d]
                        hist_count[i, k] = 0
                        slot_of[d] = k
            for d in range(nd):
                k = slot_of[d]
                base[d] = hist_count[i, k]
                hist_count[i, k] = min(base[d] + G * mult[d], 255)
                hist_last[i, k] = step
            for q in range(g0, g1):                  # events in processing order
                p = perm[q]
                for s in range(L):
                    v = rec_items[i, s]
                    d = mark[v]
                    seen[d] += 1
                    negs[p, s] = v
                    refed[p, s] = True
                    counts[p, s] = base[d] + seen[d]
            for d in range(nd):
                mark[dv[d]] = -1
        g0 = g1
    return evictions


@numba.njit(cache=True, nogil=True)
def record(inter, cands, mask, rec_items, rec_len, hist_items, hist_count, hist_last,
           consecutive, mark):
    """``FMRMemory.record`` on numpy views: positions in order, so the last visit of an
    interaction wins; ``consecutive`` then forgets counters of items not in the final N_rec."""
    P, n = mask.shape
    K = hist_items.shape[1]
    for p in range(P):
        i = inter[p]
        c = 0
        for s in range(n):
            if mask[p, s]:
                rec_items[i, c] = cands[p, s + 1]
                c += 1
        for s in range(c, n):
            rec_items[i, s] = 0
        rec_len[i] = c
    if consecutive:
        for p in range(P):
            i = inter[p]
            L = rec_len[i]
            for s in range(L):
                mark[rec_items[i, s]] = 1
            for k in range(K):
                h = hist_items[i, k]
                if h == 0 or mark[h] != 1:
                    hist_items[i, k] = 0
                    hist_count[i, k] = 0
            for s in range(L):
                mark[rec_items[i, s]] = -1
