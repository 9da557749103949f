"""Negative strategies: which candidates each scored position gets, and with which labels.

A strategy knows candidates, logits and labels, never a model class. The trainer calls, per
batch: ``negatives(batch)`` -> ``[P, n]`` item ids; then, with the (detached) logits of the
candidates ``[P, 1 + n]`` (column 0 = the positive), ``labels(batch, cands, logits)`` ->
``Targets`` (labels, which entries enter the basic loss, which enter the consistency loss).
``uniform`` is the backbone as published: n uniform negatives, label 1 on the positive only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import register_strategy

STRATEGY_CLASSES: dict[str, type] = {}


def strategy(name: str):
    def deco(cls):
        cls.name = name
        STRATEGY_CLASSES[name] = cls
        register_strategy(name)
        return cls
    return deco


@dataclass
class Targets:
    labels: torch.Tensor               # [P, C] float, 1 = positive
    loss_mask: torch.Tensor | None     # [P, C] bool: entries in the basic loss (None = all)
    con_mask: torch.Tensor | None      # [P, C] bool: entries in the consistency loss (None = none)


class Strategy:
    """Base class: uniform negatives, no mining, no teacher."""
    name = "base"
    uses_teacher = False   # an EMA teacher after warm-up; evaluation reports the teacher
    mines = False          # FMR memory after warm-up
    needs_warmup = False   # the warm-up rule switches something on (set for mines/teacher)

    def __init__(self, cfg, data, sampler, split=None, device="cpu"):
        self.cfg, self.data, self.sampler = cfg, data, sampler
        self.device = torch.device(device)    # where the memories live (the model's device)
        self.active = False
        from .diagnostics import MiningDiagnostics
        self.diag = MiningDiagnostics(data, split)

    def activate(self) -> None:
        """Called once at warm-up end (only for strategies that mine)."""
        self.active = True

    def negatives(self, batch) -> torch.Tensor:
        return self.sampler.sample(batch.pos_users, self.cfg.n_neg)

    def labels(self, batch, cands, logits) -> Targets:
        y = torch.zeros(cands.shape, dtype=torch.float32, device=cands.device)
        y[:, 0] = 1.0
        return Targets(y, None, None)

    def after_step(self, batch, cands, logits, targets) -> None:
        """Called after the optimiser step with the detached logits of this step."""

    def epoch_diagnostics(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {"active": self.active}

    def load_state_dict(self, state: dict) -> None:
        self.active = state["active"]


@strategy("uniform")
class Uniform(Strategy):
    """The backbone: n uniform negatives per positive, never a training item of the user."""


def make_strategy(cfg, data, sampler, split=None, device="cpu") -> Strategy:
    cls = STRATEGY_CLASSES[cfg.strategy]
    return cls(cfg, data, sampler, split, device)


# ----------------------------------------------------------------------------------- UFN family
from .fmr import FMRMemory  # noqa: E402


class Mining(Strategy):
    """FMR memory after warm-up (paper Eq. 5): N_rec re-fed in the first negative slots; entries
    re-fed more than m times are mined false negatives (N_false), then, by subclass:
    ``reverse`` -> label 1 in the basic loss (Eq. 4 with v+ in N_false);
    ``remove`` -> left out of the basic loss (and not re-recorded), SASRec^R of Table 4;
    ``consistency`` -> BCE against the EMA teacher's soft label (Eqs. 7-9)."""
    mines = True
    needs_warmup = True
    reverse = remove = consistency = False

    def __init__(self, cfg, data, sampler, split=None, device="cpu"):
        super().__init__(cfg, data, sampler, split, device)
        self.memory = FMRMemory(data.n_inter, cfg.n_neg, data.n_items, cfg.m,
                                cfg.memory_slots or None, cfg.count_mode, device=self.device)
        self._inj = None

    def negatives(self, batch):
        negs = super().negatives(batch)
        self._inj = None
        if self.active:
            negs, refed, counts = self.memory.inject(batch.inter, negs)
            self._inj = (refed, counts)
        return negs

    def labels(self, batch, cands, logits) -> Targets:
        y = torch.zeros(cands.shape, dtype=torch.float32, device=cands.device)
        y[:, 0] = 1.0
        if self._inj is None:
            self._mined = None
            return Targets(y, None, None)
        refed, counts = self._inj
        mined = torch.zeros(cands.shape, dtype=torch.bool, device=cands.device)
        mined[:, 1:] = refed & (counts > self.cfg.m)
        self._mined = mined
        if self.reverse:
            y[mined] = 1.0
        return Targets(y, ~mined if self.remove else None, mined if self.consistency else None)

    def after_step(self, batch, cands, logits, targets) -> None:
        if not self.active:
            return
        excl = self._mined[:, 1:] if (self.remove and self._mined is not None) else None
        rec = self.memory.record(batch.inter, cands, logits, targets.labels, exclude=excl)
        self.diag.observe(batch, cands, self._inj, self._mined, rec)

    def epoch_diagnostics(self) -> dict:
        d = self.diag.finish(self.memory) if self.active else {}
        return d

    def state_dict(self) -> dict:
        return {**super().state_dict(), "memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.memory.load_state_dict(state["memory"])


@strategy("fmr")
class FMR(Mining):
    """Table 3 '+FMR': mining and reversal, no teacher."""
    reverse = True


@strategy("fcr")
class FCR(Mining):
    """Table 3 '+FCR': mining and the consistency loss on mined negatives, labels stay 0."""
    consistency = True
    uses_teacher = True


@strategy("ufn")
class UFN(Mining):
    """UFNRec: mining, reversal and the consistency loss (Algorithm 1)."""
    reverse = consistency = True
    uses_teacher = True


@strategy("removal")
class Removal(Mining):
    """Table 4 SASRec^R: mined false negatives are dropped from the basic loss."""
    remove = True


@strategy("ema_eval")
class EMAEval(Strategy):
    """Control: the backbone trained as ``uniform``, evaluated with an EMA of its weights started
    at the same warm-up end (what the reference does for UFN runs), with no mining at all."""
    needs_warmup = True
    uses_teacher = True
