"""Negative strategies: which candidates each scored position gets, and with which labels.

A strategy knows candidates, logits and labels, never a model class. The trainer calls, per
batch: ``negatives(batch)`` -> ``[P, n]`` item ids; then, with the (detached) logits of the
candidates ``[P, 1 + n]`` (column 0 = the positive), ``labels(batch, cands, logits)`` ->
``Targets`` (labels, which entries enter the basic loss, which enter the consistency loss);
after the optimiser step ``after_step(batch, cands, logits, targets)``.

One family: every strategy is a row of ``SPECS``, a false-negative *detector* (none, FMR's
re-feed counter, SRNS's variance rule, or that rule inside FMR's N_rec; see ``detectors``) times
a *treatment* of what it flags: ``reverse`` (label 1), ``remove`` (out of the basic loss) and/or
``consistency`` (BCE against the EMA teacher). Table 4 varies only the detector, Table 3 only
the treatment. ``uniform`` is the backbone as published: n uniform negatives, label 1 on the
positive only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import STRATEGIES
from .detectors import make_detector
from .diagnostics import MiningDiagnostics


@dataclass(frozen=True)
class Spec:
    detector: str | None = None     # None | "fmr" | "srns" | "srns_rec"
    reverse: bool = False
    remove: bool = False
    consistency: bool = False
    teacher: bool = False           # an EMA teacher after warm-up (implied by consistency)
    doc: str = ""


SPECS: dict[str, Spec] = {
    "uniform": Spec(doc="the backbone: n uniform negatives per positive, never a training item of the user"),
    "fmr": Spec("fmr", reverse=True, doc="Table 3 '+FMR': mining and reversal, no teacher"),
    "fcr": Spec("fmr", consistency=True, doc="Table 3 '+FCR': the consistency loss on mined negatives, labels stay 0"),
    "ufn": Spec("fmr", reverse=True, consistency=True, doc="UFNRec: mining, reversal and consistency (Algorithm 1)"),
    "removal": Spec("fmr", remove=True, doc="Table 4 SASRec^R: mined false negatives dropped from the basic loss"),
    "ema_eval": Spec(teacher=True, doc="control: trained as uniform, evaluated with an EMA of its weights started "
                                       "at the same warm-up end (as the reference does for UFN), no mining"),
    "srns_removal": Spec("srns", remove=True, doc="Table 4 '+SRNS': the variance rule on tracked candidates; removed"),
    "srns_rec_removal": Spec("srns_rec", remove=True, doc="Table 4 '+SRNS^R': the variance rule inside N_rec; removed"),
    "ufn_srns": Spec("srns", reverse=True, consistency=True, doc="Table 4 '+UFN_srns': SRNS-detected, reversed, FCR"),
    "ufn_srns_rec": Spec("srns_rec", reverse=True, consistency=True, doc="Table 4 '+UFN^R_srns': ufn_srns in N_rec"),
}
assert tuple(SPECS) == STRATEGIES, "config.STRATEGIES and SPECS name the same strategies, in the same order"


@dataclass
class Targets:
    labels: torch.Tensor               # [P, C] float, 1 = positive
    loss_mask: torch.Tensor | None     # [P, C] bool: entries in the basic loss (None = all)
    con_mask: torch.Tensor | None      # [P, C] bool: entries in the consistency loss (None = none)


def positive_only(cands: torch.Tensor) -> torch.Tensor:
    y = torch.zeros(cands.shape, dtype=torch.float32, device=cands.device)
    y[:, 0] = 1.0
    return y


class Strategy:
    """One row of ``SPECS``. Until ``activate`` (the trainer's warm-up end) every strategy is
    ``uniform``; after it, the detector's memory feeds the first negative slots, flags entries,
    and the treatment decides their labels and masks (fmr.py / srns.py rules)."""

    def __init__(self, name: str, cfg, data, sampler, split=None, device="cpu"):
        self.name, self.spec = name, SPECS[name]
        self.cfg, self.data, self.sampler = cfg, data, sampler
        self.device = torch.device(device)    # where the memories live (the model's device)
        self.uses_teacher = self.spec.teacher or self.spec.consistency   # evaluation reports the teacher
        self.needs_warmup = self.spec.detector is not None or self.uses_teacher
        self.detector = make_detector(self.spec.detector, cfg, data, self.device)
        self.diag = MiningDiagnostics(data, split)
        self.active = False
        self._fed = self._mined = None

    @property
    def memory(self):
        """The detector's memory (N_rec, counters, N_false), None for strategies without one."""
        return self.detector.memory if self.detector is not None else None

    @property
    def fed(self):
        """[P, n] bool: the negative slots of the current batch filled from memory (None before
        activation or without a detector)."""
        return self._fed

    @property
    def mined(self):
        """[P, 1 + n] bool: the current batch's entries the detector flagged (None: none flagged)."""
        return self._mined

    def activate(self) -> None:
        """Called once at warm-up end (only for strategies that need it)."""
        self.active = True

    def negatives(self, batch) -> torch.Tensor:
        negs = self.sampler.sample(batch.pos_users, self.cfg.n_neg)
        self._fed = None
        if self.active and self.detector is not None:
            negs, self._fed = self.detector.inject(batch.inter, negs)
        return negs

    def labels(self, batch, cands, logits) -> Targets:
        y = positive_only(cands)
        if self._fed is None:
            self._mined = None
            return Targets(y, None, None)
        mined = torch.zeros(cands.shape, dtype=torch.bool, device=cands.device)
        mined[:, 1:] = self.detector.flag(batch.inter, cands[:, 1:], logits, self._fed)
        self._mined = mined
        sp = self.spec
        if sp.reverse:
            y[mined] = 1.0
        return Targets(y, ~mined if sp.remove else None, mined if sp.consistency else None)

    def after_step(self, batch, cands, logits, targets):
        """Called after the optimiser step with the detached logits of this step: the detector
        records what the next visit re-feeds (a reversed or removed entry is not re-recorded).
        Returns the recorded entries [P, n] (None when nothing is recorded)."""
        if not self.active or self.detector is None:
            return None
        exclude = self._mined[:, 1:] if self.spec.remove else None
        recorded = self.detector.update(batch.inter, cands, logits, targets.labels, exclude, self.sampler)
        self.diag.observe(batch, cands, self._fed, self._mined, recorded)
        return recorded

    def epoch_diagnostics(self) -> dict:
        if not self.active or self.detector is None:
            return {}
        return {**self.diag.finish(self.detector.memory), **self.detector.summary()}

    def state_dict(self) -> dict:
        return {"active": self.active, **(self.detector.state_dict() if self.detector is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        self.active = state["active"]
        if self.detector is not None:
            self.detector.load_state_dict(state)


def make_strategy(cfg, data, sampler, split=None, device="cpu") -> Strategy:
    return Strategy(cfg.strategy, cfg, data, sampler, split, device)
