"""A deliberately plain implementation of FMR's mining and reversal rules (dicts and loops),
and of SRNS's variance rule used as a false-negative detector (Table 4).

They are the test oracles for the vectorised ``fmr.FMRMemory`` and ``srns.SRNSMemory`` and
read next to the paper (Section 3.2, Algorithm 1 lines 11-13; Section 4.6) and the reference
code: one batch position at a time, one negative slot at a time. Nothing here is fast, and
nothing here is used in training.
"""
from __future__ import annotations

import math


class PlainFMR:
    def __init__(self, m: int, count_mode: str = "cumulative"):
        self.m = m
        self.count_mode = count_mode
        self.n_rec = {}   # interaction -> list of recorded negatives (N_rec of the last visit)
        self.count = {}   # (interaction, item) -> times re-fed from N_rec

    def inject(self, inter: list[int], negs: list[list[int]]):
        """Put each position's N_rec in its first negative slots; count every re-feed.
        Returns (negatives, re-fed flags, counters after this re-feed)."""
        negs = [list(row) for row in negs]
        refed = [[False] * len(row) for row in negs]
        counts = [[0] * len(row) for row in negs]
        for p, i in enumerate(inter):
            for slot, item in enumerate(self.n_rec.get(i, [])):
                negs[p][slot] = item
                self.count[(i, item)] = self.count.get((i, item), 0) + 1
                refed[p][slot] = True
                counts[p][slot] = self.count[(i, item)]
        return negs, refed, counts

    def is_false_negative(self, count: int) -> bool:
        """N_false: recorded (and re-fed) more than m times."""
        return count > self.m

    def record(self, inter, cands, logits, labels, exclude=None):
        """After the forward pass: N_rec = negatives scoring strictly above the positive whose
        label in this step was not 1 (and not excluded). Column 0 is the positive."""
        for p, i in enumerate(inter):
            rec = []
            for slot in range(1, len(cands[p])):
                if exclude is not None and exclude[p][slot - 1]:
                    continue
                if logits[p][slot] > logits[p][0] and labels[p][slot] != 1:
                    rec.append(cands[p][slot])
            self.n_rec[i] = rec
        if self.count_mode == "consecutive":
            for (i, item) in list(self.count):
                if i in set(inter) and item not in self.n_rec[i]:
                    del self.count[(i, item)]


def _f32(x: float) -> float:
    """Round a Python float to float32 (the vectorised memory stores its scores in float32)."""
    import struct
    return struct.unpack("f", struct.pack("f", x))[0]


class PlainSRNS:
    """SRNS's variance rule as a false-negative detector, one position and one slot at a time:
    the test oracle for ``srns.SRNSMemory`` (rules in the ``srns`` module docstring)."""

    def __init__(self, s1: int, T: int, alpha: float, fn_slots: int | None = None):
        self.s1, self.T, self.alpha = s1, T, alpha
        self.F = fn_slots or s1
        self.tracked = {}    # interaction -> list of [item, scores (oldest first, last T), visits]
        self.n_false = {}    # interaction -> flagged items, oldest first (at most F)
        self.evictions = 0

    def inject(self, inter, negs):
        negs = [list(row) for row in negs]
        fed = [[False] * len(row) for row in negs]
        for p, i in enumerate(inter):
            for k, (item, _, _) in enumerate(self.tracked.get(i, [])[:len(negs[p])]):
                negs[p][k] = item
                fed[p][k] = True
        return negs, fed

    def is_false_negative(self, scores) -> bool:
        """Full history and mean - alpha * std > 1/2 (population standard deviation)."""
        if len(scores) < self.T:
            return False
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        return mean - self.alpha * std > 0.5

    def observe(self, inter, negs, logits, fed):
        """logits[p][0] is the positive's. Returns flags[p][slot]."""
        flags = [[False] * len(row) for row in negs]
        for p, i in enumerate(inter):
            nf = self.n_false.setdefault(i, [])
            for c, item in enumerate(negs[p]):
                if fed[p][c] and item in nf:
                    flags[p][c] = True                      # already in N_false
            hits = []
            for entry in self.tracked.get(i, []):
                item = entry[0]
                cols = [c for c in range(len(negs[p])) if fed[p][c] and negs[p][c] == item]
                if not cols:
                    continue
                c = cols[0]
                x = float(logits[p][c + 1]) - float(logits[p][0])
                entry[1] = (entry[1] + [_f32(1.0 / (1.0 + math.exp(-x)))])[-self.T:]
                entry[2] += 1
                if self.is_false_negative(entry[1]):
                    flags[p][c] = True
                    hits.append(c)
            new = [negs[p][c] for c in sorted(hits) if negs[p][c] not in nf]   # before any append
            for item in new:
                if len(nf) == self.F:
                    nf.pop(0)                                # first in, first out
                    self.evictions += 1
                nf.append(item)
        return flags

    def refresh(self, inter, negs, logits, eligible, noise, tau):
        """Per interaction, at its last position of the batch: S1 eligible first occurrences with
        the largest logit / tau + noise, in column order; kept items keep their history."""
        last = {i: p for p, i in enumerate(inter)}
        sel = [[False] * len(row) for row in negs]
        for i, p in last.items():
            seen, pool = set(), []
            for c, item in enumerate(negs[p]):
                if item not in seen and eligible[p][c]:
                    pool.append(c)
                seen.add(item)
            key = {c: float(logits[p][c + 1]) / tau + float(noise[p][c]) for c in pool}
            chosen = sorted(sorted(pool, key=lambda c: -key[c])[:self.s1])
            old = {e[0]: e for e in self.tracked.get(i, [])}
            new = []
            for c in chosen:
                item = negs[p][c]
                e = old.get(item)
                new.append([item, list(e[1]), e[2]] if e else [item, [], 0])
                sel[p][c] = True
            self.tracked[i] = new
        return sel
