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

from .config import register_strategy

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
    uses_teacher = False   # FCR: an EMA teacher and a consistency loss after warm-up
    mines = False          # needs the warm-up rule to switch mining on

    def __init__(self, cfg, data, sampler):
        self.cfg, self.data, self.sampler = cfg, data, sampler
        self.active = False

    def activate(self) -> None:
        """Called once at warm-up end (only for strategies that mine)."""
        self.active = True

    def negatives(self, batch) -> torch.Tensor:
        return self.sampler.sample(batch.pos_users, self.cfg.n_neg)

    def labels(self, batch, cands, logits) -> Targets:
        y = torch.zeros(cands.shape, dtype=torch.float32)
        y[:, 0] = 1.0
        return Targets(y, None, None)

    def epoch_diagnostics(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {"active": self.active}

    def load_state_dict(self, state: dict) -> None:
        self.active = state["active"]


@strategy("uniform")
class Uniform(Strategy):
    """The backbone: n uniform negatives per positive, never a training item of the user."""


def make_strategy(cfg, data, sampler) -> Strategy:
    return STRATEGY_CLASSES[cfg.strategy](cfg, data, sampler)
