"""Compiled (numba) membership test behind ``batches.NegativeSampler`` on the CPU.

The excluded (user, item) pairs are held per user (CSR: ``offsets``, ``user_items``). For each
row, the user's excluded items are stamped into a scratch array over the catalogue (only when
the user changes from the previous row: a batch lists a user's positions together), and each
candidate is one read of that array, instead of a binary search over every key. The answers
equal ``batches.is_member`` (tests/test_eval.py), so the draws do not change. Imported only when
numba is installed.
"""
import numba


@numba.njit(cache=True, nogil=True)
def member(users, items, offsets, user_items, mark, stamp, out):
    """``out[p, c] = items[p, c]`` is an excluded item of user ``users[p]`` (``users`` [P],
    ``items`` and ``out`` [P, C], items in 0..len(mark)-1). ``mark`` is scratch whose entries
    are all below ``stamp``. Returns (the stamp to pass next time, the number of excluded
    entries). Users outside ``offsets`` have no excluded items."""
    P, C = items.shape
    n_users = offsets.shape[0] - 1
    prev = -1
    n_bad = 0
    for p in range(P):
        u = users[p]
        if u != prev or p == 0:
            stamp += 1
            prev = u
            if 0 <= u < n_users:
                for j in range(offsets[u], offsets[u + 1]):
                    mark[user_items[j]] = stamp
        for c in range(C):
            hit = mark[items[p, c]] == stamp
            out[p, c] = hit
            n_bad += hit
    return stamp, n_bad
