"""Per-epoch diagnostics of a mining strategy: how much is recorded, re-fed and mined, and
whether the mined false negatives are real ones.

* ``later`` shares: a mined item that is the user's valid or test item is a false negative the
  user did interact with later (the only ground truth real data has); the same share among the
  random negatives is the baseline.
* On synthetic data (``ufnlib.data.synthetic``), precision of mined entries and of random negatives
  against the generator's ground truth, and precision / recall of the current N_false set
  (distinct (user, item) pairs) against all of the ground truth.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.synthetic import false_negative_mask


class MiningDiagnostics:
    def __init__(self, data, split=None):
        self.data = data
        self.later = None
        self.truth = None
        if split is not None:
            self.valid = torch.from_numpy(split.valid)
            self.test = torch.from_numpy(split.test)
            self.later = True
            extra = split.seqs.extra
            if "false_negatives" in extra:
                self.seqs = split.seqs
                self.truth = lambda u, i: torch.from_numpy(
                    false_negative_mask(self.seqs, u.cpu().numpy(), i.cpu().numpy())).to(u.device)
                self.n_truth = len(extra["false_negatives"])
        self.reset()

    def reset(self):
        self.acc = dict(positions=0, recorded=0, refed=0, mined=0, mined_later=0, random=0,
                        random_later=0, mined_true=0, random_true=0)

    def observe(self, batch, cands, fed, mined, recorded):
        a = self.acc
        a["positions"] += len(batch.inter)
        a["recorded"] += int(recorded.sum())
        negs = cands[:, 1:]
        refed = fed if fed is not None else torch.zeros_like(negs, dtype=torch.bool)
        mn = mined[:, 1:] if mined is not None else torch.zeros_like(negs, dtype=torch.bool)
        a["refed"] += int(refed.sum())
        a["mined"] += int(mn.sum())
        rnd = ~refed
        a["random"] += int(rnd.sum())
        if self.later:
            u = batch.pos_users
            if self.valid.device != u.device:     # follow the memories to the model's device
                self.valid, self.test = self.valid.to(u.device), self.test.to(u.device)
            hit = (negs == self.valid[u][:, None]) | (negs == self.test[u][:, None])
            a["mined_later"] += int((hit & mn).sum())
            a["random_later"] += int((hit & rnd).sum())
        if self.truth is not None:
            uu = batch.pos_users[:, None].expand_as(negs)
            if bool(mn.any()):
                a["mined_true"] += int(self.truth(uu[mn], negs[mn]).sum())
            a["random_true"] += int(self.truth(uu[rnd], negs[rnd]).sum())

    def finish(self, memory=None) -> dict:
        a = self.acc
        out = dict(a)
        out["nrec_mean"] = a["recorded"] / max(a["positions"], 1)
        out["mined_later_share"] = a["mined_later"] / a["mined"] if a["mined"] else None
        out["random_later_share"] = a["random_later"] / a["random"] if a["random"] else None
        if self.truth is not None:
            out["mined_precision"] = a["mined_true"] / a["mined"] if a["mined"] else None
            out["random_precision"] = a["random_true"] / a["random"] if a["random"] else None
        else:
            out.pop("mined_true"), out.pop("random_true")
        if memory is not None:
            out["nfalse_entries"] = memory.n_false()     # (no list of N_false: it grows with it)
            out["evictions"] = memory.evictions
            out["memory_mb"] = memory.nbytes() / 2**20
            if self.truth is not None and out["nfalse_entries"]:
                i, items = memory.false_negatives()
                i, items = i.cpu(), items.cpu()
                users = self.data.inter_user[i]
                pairs = np.unique(users.numpy() * (self.data.n_items + 1) + items.numpy())
                pu, pi = pairs // (self.data.n_items + 1), pairs % (self.data.n_items + 1)
                tp = int(self.truth(torch.from_numpy(pu), torch.from_numpy(pi)).sum())
                out["nfalse_pairs"] = int(len(pairs))
                out["nfalse_precision"] = tp / len(pairs)
                out["nfalse_recall"] = tp / max(self.n_truth, 1)
        self.reset()
        return out


# ------------------------------------------------------------------------- runaway mining
def chance_ndcg(k: int = 10, n_neg: int = 100) -> float:
    """NDCG@k of a random ranking: the target's rank uniform over the 1 + ``n_neg`` candidates."""
    return float(sum(1.0 / np.log2(r + 2.0) for r in range(min(k, n_neg + 1))) / (n_neg + 1))


def chance_level(metric: str, n_neg: int = 100) -> float:
    """A metric's value for a random ranking of the target among 1 + ``n_neg`` candidates."""
    if metric == "mrr":
        return float(sum(1.0 / (r + 1.0) for r in range(n_neg + 1)) / (n_neg + 1))
    name, k = metric.split("@")
    return chance_ndcg(int(k), n_neg) if name == "ndcg" else min(int(k), n_neg + 1) / (n_neg + 1)


def runaway(history: list[dict], n_neg: int = 100, metric: str = "ndcg@10", window: int = 3,
            near: float = 1.5) -> bool:
    """Runaway mining, decided at the last epoch of ``history``: over the last ``window`` + 1
    validated mining epochs the entries mined per training position grew (by a fifth, to at least
    half an entry per position), while the validation ``metric`` stayed near chance (below
    ``near`` x ``chance_ndcg``) or fell at every epoch (by 5% in all). Mining that starts on an
    untrained model does this: almost every negative outranks the positive, is re-fed and reversed,
    and the model never learns the sequences."""
    eps = [h for h in history if h.get("positions") and "valid" in h]
    if len(eps) < window + 1:
        return False
    last = eps[-(window + 1):]
    rate = [h["mined"] / h["positions"] for h in last]
    # grew by a fifth, to half an entry per position or more
    rising = rate[-1] >= 0.5 and rate[-1] > 1.2 * rate[0]
    v = [h["valid"][metric] for h in last]
    low = max(v) < near * chance_level(metric, n_neg)
    falling = all(b < a for a, b in zip(v, v[1:])) and v[-1] < 0.95 * v[0]
    return bool(rising and (low or falling))


def runaway_epoch(history: list[dict]) -> int | None:
    """The first epoch a run flagged as runaway mining (``history[i]["runaway"]``), if any."""
    return next((h["epoch"] for h in history if h.get("runaway")), None)
