"""False-negative detectors: the memory a strategy re-feeds from and the rule that flags entries.

A detector has four steps, called by ``strategies.Strategy`` in this order per batch:
``inject(inter, negs) -> (negs, fed)`` fills the first negative slots from memory;
``flag(inter, negs, logits, fed) -> [P, n] bool`` the entries it detects as false negatives;
``update(inter, cands, logits, labels, exclude, sampler) -> [P, n] bool`` what it records for
the next visit (entries with label 1 or in ``exclude`` are never recorded); ``summary()`` its
per-epoch numbers. ``memory`` is what ``diagnostics.MiningDiagnostics.finish`` reads (N_false).

* ``fmr`` (paper Eq. 5, ``fmr.FMRMemory``): N_rec re-fed in the first slots; an entry re-fed
  more than m times is flagged.
* ``srns`` (``srns.SRNSMemory``, Table 4): S1 tracked candidates in the first slots; SRNS's
  variance rule over their last T scores flags them; the tracked set is refreshed by
  softmax(logit / tau) from memory + this step's random negatives.
* ``srns_rec``: the same rule inside N_rec of an FMR memory (whose counters decide nothing).
"""
from __future__ import annotations

from ..config import ConfigError
from .fmr import FMRMemory
from .srns import SRNSMemory, gumbel


def fmr_memory(cfg, data, device) -> FMRMemory:
    return FMRMemory(data.n_inter, cfg.n_neg, data.n_items, cfg.m, cfg.memory_slots or None, cfg.count_mode,
                     device=device)


class FMRDetector:
    def __init__(self, cfg, data, device):
        self.m = cfg.m
        self.memory = fmr_memory(cfg, data, device)
        self._counts = None

    @property
    def counts(self):
        """[P, n] the counters of the current batch's negatives after this visit's re-feed."""
        return self._counts

    def inject(self, inter, negs):
        negs, fed, self._counts = self.memory.inject(inter, negs)
        return negs, fed

    def flag(self, inter, negs, logits, fed):
        return fed & (self._counts > self.m)

    def update(self, inter, cands, logits, labels, exclude, sampler):
        return self.memory.record(inter, cands, logits, labels, exclude=exclude)

    def summary(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {"memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.memory.load_state_dict(state["memory"])


class SRNSMemories:
    """The SRNS memory and, for ``srns_rec``, the FMR memory that supplies N_rec: one object for
    ``MiningDiagnostics.finish`` and the speed benchmark."""

    def __init__(self, srns: SRNSMemory, fmr: FMRMemory | None):
        self.srns, self.fmr = srns, fmr

    @property
    def evictions(self) -> int:
        return self.srns.evictions

    def false_negatives(self):
        return self.srns.false_negatives()

    def n_false(self) -> int:
        return self.srns.n_false()

    def tensors(self) -> dict:
        t = {f"srns.{k}": v for k, v in self.srns.tensors().items()}
        if self.fmr is not None:
            t.update({f"fmr.{k}": v for k, v in self.fmr.tensors().items()})
        return t

    def nbytes(self) -> int:
        return self.srns.nbytes() + (self.fmr.nbytes() if self.fmr is not None else 0)


class SRNSDetector:
    def __init__(self, cfg, data, device, in_nrec: bool = False):
        if not in_nrec and cfg.n_neg <= cfg.srns_s1:
            raise ConfigError(f"strategy {cfg.strategy}: n_neg ({cfg.n_neg}) must exceed srns_s1 ({cfg.srns_s1}), "
                              f"the tracked candidates, so that fresh random candidates enter each visit. Fix: "
                              f"raise n_neg or lower srns_s1.")
        self.tau = cfg.srns_tau
        self.srns = SRNSMemory(data.n_inter, cfg.srns_s1, cfg.srns_t, cfg.srns_alpha, device=device)
        self.fmr = fmr_memory(cfg, data, device) if in_nrec else None
        self.memory = SRNSMemories(self.srns, self.fmr)

    def inject(self, inter, negs):
        if self.fmr is not None:
            negs, fed, _ = self.fmr.inject(inter, negs)
            return negs, fed
        return self.srns.inject(inter, negs)

    def flag(self, inter, negs, logits, fed):
        return self.srns.observe(inter, negs, logits, fed)

    def update(self, inter, cands, logits, labels, exclude, sampler):
        if self.fmr is not None:
            pool = self.fmr.record(inter, cands, logits, labels, exclude=exclude)
        else:
            pool = labels[:, 1:] != 1
            if exclude is not None:
                pool &= ~exclude
        noise = gumbel(pool.shape, sampler.g).to(pool.device)   # the sampler's CPU generator: resume is exact
        sel = self.srns.refresh(inter, cands[:, 1:], logits, pool, noise, self.tau)
        # recorded = N_rec (``srns_rec``) or the new tracked sets
        return pool if self.fmr is not None else sel

    def summary(self) -> dict:
        d = self.srns.summary()
        if self.fmr is not None:
            d["fmr_evictions"] = self.fmr.evictions
        self.srns.offered = self.srns.kept = 0
        return d

    def state_dict(self) -> dict:
        return {"srns": self.srns.state_dict(), **({"fmr": self.fmr.state_dict()} if self.fmr is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        self.srns.load_state_dict(state["srns"])
        if self.fmr is not None:
            self.fmr.load_state_dict(state["fmr"])


def make_detector(name: str | None, cfg, data, device):
    if name is None:
        return None
    if name == "fmr":
        return FMRDetector(cfg, data, device)
    if name in ("srns", "srns_rec"):
        return SRNSDetector(cfg, data, device, in_nrec=name == "srns_rec")
    raise ValueError(f"unknown detector {name!r}")
