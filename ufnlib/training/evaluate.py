"""Evaluation over all users, vectorised and batched, in two modes.

* sampled: the target against ``eval_neg`` (100) items drawn uniformly, once, from a fixed seed,
  never an item the user interacted with (the paper's protocol, made deterministic);
* full: the target against every item, the user's history (train items, plus the valid item at
  test time) excluded, the target itself kept.

The rank of the target is the number of candidates whose score is **greater than or equal** to
its score, so ties never favour the target. Metrics from ranks: HR@k, NDCG@k (k = 1, 5, 10),
MRR. Per-user ranks are returned so that significance tests can be run later.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.batches import NegativeSampler, left_pad, membership_keys
from ..data.datasets import Split

KS = (1, 5, 10)


def metrics_from_ranks(ranks: np.ndarray) -> dict:
    """0-based ranks -> {hr@k, ndcg@k, mrr} averaged over users."""
    r = np.asarray(ranks, dtype=np.float64)
    out = {}
    for k in KS:
        hit = r < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(r + 2.0), 0.0).mean())
    out["mrr"] = float((1.0 / (r + 1.0)).mean())
    return out


def per_user_metric(ranks: np.ndarray, metric: str) -> np.ndarray:
    r = np.asarray(ranks, dtype=np.float64)
    if metric == "mrr":
        return 1.0 / (r + 1.0)
    name, k = metric.split("@")
    hit = r < int(k)
    return hit.astype(float) if name == "hr" else np.where(hit, 1.0 / np.log2(r + 2.0), 0.0)


def sampled_rank(model, h, users, targets, negatives) -> np.ndarray:
    """0-based rank of each query's target among its ``negatives`` [b, n] (ties count against
    the target), from the query vectors ``h`` [b, q]."""
    sc = model.score(h, torch.cat([targets[:, None], negatives], 1), users)
    return (sc[:, 1:] >= sc[:, :1]).sum(1).cpu().numpy()


class Evaluator:
    """Holds the fixed evaluation inputs of one split: sequences, sampled candidates, masks."""

    def __init__(self, split: Split, maxlen: int, eval_neg: int = 100, eval_seed: int = 0,
                 batch_size: int = 1024):
        self.split, self.maxlen, self.bs = split, maxlen, batch_size
        users = np.flatnonzero(split.has_eval)
        self.users = users
        off = split.train_offsets
        n = len(users)
        # valid input: train items; test input: train items + valid item
        tr = left_pad(off[:-1][users], off[1:][users], maxlen)
        valid_in = np.where(tr >= 0, split.train_items[np.maximum(tr, 0)], 0)
        tr2 = left_pad(off[:-1][users], off[1:][users], maxlen - 1)
        test_in = np.concatenate([np.where(tr2 >= 0, split.train_items[np.maximum(tr2, 0)], 0),
                                  split.valid[users][:, None]], axis=1)
        self.inputs = {"valid": torch.from_numpy(valid_in), "test": torch.from_numpy(test_in)}
        self.targets = {"valid": torch.from_numpy(split.valid[users]),
                        "test": torch.from_numpy(split.test[users])}
        # batches ordered by length so that each batch can be trimmed to its longest sequence
        self.order = {k: torch.from_numpy(np.argsort((v > 0).sum(1).numpy(), kind="stable"))
                      for k, v in self.inputs.items()}
        # sampled candidates: drawn once, never an item the user interacted with
        g = torch.Generator().manual_seed(eval_seed)
        sampler = NegativeSampler(membership_keys(split, "all"), split.n_items, g)
        self.negatives = sampler.sample(torch.from_numpy(users), eval_neg)      # [n, eval_neg]
        # full-ranking exclusions (history items other than the target), as CSR per eval user
        self.history = {}
        for which in ("valid", "test"):
            hist_u, hist_i = [], []
            for j, u in enumerate(users):
                h = split.train_seq(u)
                if which == "test":
                    h = np.append(h, split.valid[u])
                h = np.unique(h)
                h = h[h != self.targets[which][j].item()]
                hist_u.append(np.full(len(h), j))
                hist_i.append(h)
            self.history[which] = (torch.from_numpy(np.concatenate(hist_u)),
                                   torch.from_numpy(np.concatenate(hist_i)))
        self.n = n

    @torch.no_grad()
    def ranks(self, model, which: str = "valid", modes=("sampled", "full"), trim: bool = True,
              idx: torch.Tensor | None = None, negatives: torch.Tensor | None = None) -> dict[str, np.ndarray]:
        """Per-user 0-based ranks of the target, in the order of ``self.users``; or, given
        ``idx`` (indices into ``self.users``), of those users in that order, against
        ``negatives`` [len(idx), n] when given (sampled mode) instead of the fixed ones."""
        was_training = model.training
        model.eval()
        dev = next(model.parameters(), torch.empty(0)).device   # no parameters (test doubles): cpu
        inputs, targets = self.inputs[which], self.targets[which]
        visit = self.order[which] if idx is None else idx       # users in batch order
        dest = visit if idx is None else torch.arange(len(idx))   # where each visited user's rank goes
        out = {m: np.empty(len(visit), dtype=np.int64) for m in modes}
        hu, hi = self.history[which]
        # CSR view of the history exclusions for batched masking
        counts = torch.bincount(hu, minlength=self.n)
        hoff = torch.zeros(self.n + 1, dtype=torch.long)
        hoff[1:] = torch.cumsum(counts, 0)
        users_t = torch.from_numpy(self.users)
        for s in range(0, len(visit), self.bs):
            j, at = visit[s:s + self.bs], dest[s:s + self.bs].numpy()
            seq = inputs[j]
            if trim and not getattr(model, "attend_padding", False):
                w = max(int((seq > 0).sum(1).max()), 1)
                seq = seq[:, -w:]
            u = users_t[j].to(dev)
            h = model.final(seq.to(dev), u)                            # [b, d]
            tgt = targets[j].to(dev)
            if "sampled" in modes:
                negs = self.negatives[j] if negatives is None else negatives[s:s + self.bs]
                out["sampled"][at] = sampled_rank(model, h, u, tgt, negs.to(dev))
            if "full" in modes:
                sc = model.score_all(h, u)                             # [b, n_items], item i at i-1
                t = sc.gather(1, (tgt - 1)[:, None])
                # exclude history: rows of this batch
                starts, ends = hoff[j], hoff[j + 1]
                lens = ends - starts
                rows = torch.repeat_interleave(torch.arange(len(j)), lens)
                pos = (torch.repeat_interleave(starts - torch.cumsum(lens, 0) + lens, lens)
                       + torch.arange(int(lens.sum())))
                sc[rows.to(dev), (hi[pos] - 1).to(dev)] = float("-inf")
                out["full"][at] = ((sc >= t).sum(1) - 1).cpu().numpy()  # minus the target itself
        model.train(was_training)
        return out

    def evaluate(self, model, which: str = "valid", modes=("sampled", "full")) -> dict:
        r = self.ranks(model, which, modes)
        return {m: metrics_from_ranks(v) for m, v in r.items()}, r
