"""Backbone registry: ``make_model(cfg, n_items, n_users)`` and ``make_data(cfg, split)``.

A backbone is an ``nn.Module`` with ``encode(seq, users) -> [B, W, q]``, ``score(h, items, users)
-> [P, C]``, ``score_all(h, users) -> [P, n_items]``, ``final(seq, users) -> [B, q]`` (the
next-item query of each evaluation sequence) and ``attend_padding``; ``q`` is whatever the
backbone's ``score`` reads (SASRec, BERT4Rec: d; SSE-PT: the width-D output and the user vector).
Its training examples come from a data object with ``batch(users) -> TrainBatch``,
``train_users``, ``n_inter``, ``inter_user`` and ``n_items`` (see ``batches.NextItemData``).

| backbone | module | training examples |
|---|---|---|
| sasrec | ``sasrec.SASRec`` | ``batches.NextItemData`` (next item at every position) |
| bert4rec | ``bert4rec.BERT4Rec`` | ``bert4rec.MaskedItemData`` (cloze: masked positions) |
| ssept | ``ssept.SSEPT`` | ``batches.NextItemData`` |
"""
from __future__ import annotations

import torch

from ..data.batches import NextItemData
from .bert4rec import BERT4Rec, MaskedItemData
from .sasrec import SASRec
from .ssept import SSEPT


def make_model(cfg, n_items: int, n_users: int):
    if cfg.backbone == "sasrec":
        return SASRec(n_items, cfg, n_users)
    if cfg.backbone == "bert4rec":
        return BERT4Rec(n_items, cfg, n_users)
    if cfg.backbone == "ssept":
        return SSEPT(n_items, cfg, n_users)
    raise ValueError(f"unknown backbone '{cfg.backbone}' (config.BACKBONES lists them)")


def make_data(cfg, split, generator=None):
    """Training examples for the backbone: next-item targets (SASRec, SSE-PT) or cloze targets
    (BERT4Rec). ``generator`` drives any randomness of batch construction (masking)."""
    if cfg.backbone == "bert4rec":
        g = generator if generator is not None else torch.Generator().manual_seed(cfg.seed)
        return MaskedItemData(split, cfg.maxlen, cfg.mask_prob, g)
    return NextItemData(split, cfg.maxlen)
