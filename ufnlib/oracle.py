"""A deliberately plain implementation of FMR's mining and reversal rules (dicts and loops).

It is the test oracle for the vectorised ``mining.FMRMemory`` and reads next to the paper
(Section 3.2, Algorithm 1 lines 11-13) and the reference code: one batch position at a time, one
negative slot at a time. Nothing here is fast, and nothing here is used in training.
"""
from __future__ import annotations


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
