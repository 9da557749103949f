"""The protocol study (notebook 09): what a run's test numbers are under other readings than ours.

A run with ``log_test_every = k > 0`` logs, every k epochs and at its last one, the reported
model's test metrics (sampled-100 and full ranking), its full-ranking validation metrics, and the
reference code's own estimate: test on 10,000 randomly drawn users with freshly drawn negatives
(seeded per run and epoch). ``ProtocolLog`` writes these beside the history, never into it:
selection (``train.Trainer.fit``) reads ``history[...]["valid"]`` only, and a test checks that
the logged test numbers cannot move it.

``readings(rec)`` then gives one test value per way of reading such a run:

* ``validation``: the epoch with the best sampled validation NDCG@10 (ours, the honest one);
* ``last``: the last epoch (a fixed budget, as the reference trains);
* ``test_best``: the best test over the logged epochs (test-selected, optimistic);
* ``reference_last`` / ``reference_best``: the reference's 10,000-user estimate at the last
  logged epoch / its best over the logged epochs (the latter test-selected, optimistic);
* ``full_validation``: the logged epoch with the best full-ranking validation NDCG@10.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.batches import NegativeSampler, membership_keys
from .evaluate import metrics_from_ranks

REFERENCE_USERS = 10_000   # the reference evaluates this many randomly drawn users
READINGS = {
    "validation": "epoch chosen on sampled validation (ours)",
    "last": "last epoch (fixed budget)",
    "full_validation": "epoch chosen on full-ranking validation",
    "test_best": "best logged test (test-selected, optimistic)",
    "reference_last": "reference estimate at the last epoch (10,000 users, fresh negatives)",
    "reference_best": "best logged reference estimate (test-selected, optimistic)",
}
OPTIMISTIC = ("test_best", "reference_best")


class ReferenceEstimate:
    """The reference's evaluation: ``n_users`` users drawn without replacement and 100 fresh
    negatives each (never an item of the user), from a generator seeded by (run seed, draw)."""

    def __init__(self, evaluator, split, seed: int, n_users: int = REFERENCE_USERS, n_neg: int = 100):
        self.ev, self.seed, self.n_neg = evaluator, seed, n_neg
        self.n_users = min(n_users, evaluator.n)
        self.keys = membership_keys(split, "all")
        self.n_items = split.n_items

    def draw(self, model, which: str, draw: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * (draw + 1))
        idx = torch.randperm(self.ev.n, generator=g)[: self.n_users]
        negs = NegativeSampler(self.keys, self.n_items, g).sample(torch.from_numpy(self.ev.users)[idx], self.n_neg)
        return metrics_from_ranks(self.ev.ranks(model, which, ("sampled",), idx=idx, negatives=negs)["sampled"])

    def spread(self, model, which: str = "test", draws: int = 20, first: int = 10_000) -> dict:
        """Mean, std, min and max of the estimate over ``draws`` independent draws."""
        vals = [self.draw(model, which, first + d) for d in range(draws)]
        out = {}
        for m in ("hr@10", "ndcg@10"):
            v = np.array([x[m] for x in vals])
            out[m] = dict(mean=float(v.mean()), std=float(v.std(ddof=1)), min=float(v.min()), max=float(v.max()))
        out["draws"] = draws
        return out


def heldout_in_nfalse(strategy, split) -> dict | None:
    """Per evaluated user: is the validation item / the test item among the user's mined false
    negatives (N_false, any of the user's training interactions)? None without an FMR memory."""
    memory = getattr(strategy, "memory", None)
    if memory is None or not hasattr(memory, "false_negatives"):
        return None
    users = np.flatnonzero(split.has_eval)
    out = {"valid": np.zeros(len(users), dtype=bool), "test": np.zeros(len(users), dtype=bool)}
    if getattr(strategy, "active", False) and memory.n_false():   # before mining starts: nothing mined
        i, items = memory.false_negatives()
        u = strategy.data.inter_user[i.cpu()].numpy()
        items = items.cpu().numpy()
        pos = np.full(split.n_users + 1, -1)
        pos[users] = np.arange(len(users))
        for which in ("valid", "test"):
            held = getattr(split, which)
            hit = items == held[u]
            out[which][pos[u[hit]]] = True
    return out


class ProtocolLog:
    """What a fixed-budget run logs beside its history (see the module docstring)."""

    def __init__(self, cfg, split, evaluator):
        self.every, self.split, self.ev = cfg.log_test_every, split, evaluator
        self.ref = ReferenceEstimate(evaluator, split, cfg.seed)
        self.entries: list[dict] = []
        self.heldout_best = None     # per-user held-out flags at the selected epoch

    def due(self, epoch: int, last: bool) -> bool:
        return self.every > 0 and (epoch % self.every == 0 or last)

    def log(self, epoch: int, model, strategy) -> dict:
        ev = self.ev
        valid = ev.evaluate(model, "valid", modes=("full",))[0]["full"]
        test = ev.evaluate(model, "test", modes=("sampled", "full"))[0]
        e = {"epoch": epoch, "valid_full": valid, "test": test,
             "reference_test": self.ref.draw(model, "test", epoch)}
        flags = heldout_in_nfalse(strategy, self.split)
        if flags is not None:
            e["heldout_in_nfalse"] = {k: int(v.sum()) for k, v in flags.items()}
        self.entries.append(e)
        return e

    def new_best(self, strategy) -> None:
        """At a new validation best: keep the held-out flags of that epoch."""
        if self.every > 0:
            self.heldout_best = heldout_in_nfalse(strategy, self.split)

    def state_dict(self) -> dict:
        return {"entries": self.entries, "heldout_best": self.heldout_best}

    def load_state_dict(self, st: dict) -> None:
        self.entries, self.heldout_best = list(st["entries"]), st["heldout_best"]


# ------------------------------------------------------------------------------- readings
def readings(rec: dict, metric: str = "ndcg@10") -> dict:
    """One test value per reading of a logged run (``READINGS``), each as {"epoch", "sampled"
    (metrics), "full" (metrics, where logged)}; {} for a run without a protocol log."""
    log = (rec.get("protocol") or {}).get("log") or []
    if not log:
        return {}
    last = max(log, key=lambda e: e["epoch"])
    out = {"validation": {"epoch": rec["selection"]["best_epoch"], "sampled": rec["metrics"]["test"]["sampled"],
                          "full": rec["metrics"]["test"]["full"]},
           "last": {"epoch": last["epoch"], "sampled": last["test"]["sampled"], "full": last["test"]["full"]}}
    fv = max(log, key=lambda e: e["valid_full"][metric])
    out["full_validation"] = {"epoch": fv["epoch"], "sampled": fv["test"]["sampled"], "full": fv["test"]["full"]}
    tb = max(log, key=lambda e: e["test"]["sampled"][metric])
    out["test_best"] = {"epoch": tb["epoch"], "sampled": tb["test"]["sampled"], "full": tb["test"]["full"]}
    out["reference_last"] = {"epoch": last["epoch"], "sampled": last["reference_test"], "full": None}
    rb = max(log, key=lambda e: e["reference_test"][metric])
    out["reference_best"] = {"epoch": rb["epoch"], "sampled": rb["reference_test"], "full": None}
    return out
