"""Backbone registry: ``make_model(cfg, n_items, n_users)`` and ``make_data(cfg, split)``.

A backbone is an ``nn.Module`` with ``encode(seq, users) -> [B, W, d]``, ``score(h, items, users)
-> [P, C]``, ``score_all(h, users) -> [P, n_items]``, ``final(seq, users) -> [B, d]`` (the
next-item query of each evaluation sequence) and ``attend_padding``. Its training examples come
from a data object with ``batch(users) -> TrainBatch``, ``train_users``, ``n_inter``,
``inter_user`` and ``n_items`` (see ``batches.NextItemData``).
"""
from __future__ import annotations


def make_model(cfg, n_items: int, n_users: int):
    if cfg.backbone == "sasrec":
        from .sasrec import SASRec
        return SASRec(n_items, cfg, n_users)
    raise NotImplementedError(f"backbone '{cfg.backbone}' is not implemented yet")


def make_data(cfg, split, generator=None):
    """Training examples for the backbone: next-item targets (SASRec, SSE-PT) or cloze targets
    (BERT4Rec). ``generator`` drives any randomness of batch construction (masking)."""
    from .batches import NextItemData
    return NextItemData(split, cfg.maxlen)
