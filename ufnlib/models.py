"""Backbone registry: ``make_model(cfg, n_items, n_users)``."""
from __future__ import annotations


def make_model(cfg, n_items: int, n_users: int):
    if cfg.backbone == "sasrec":
        from .sasrec import SASRec
        return SASRec(n_items, cfg, n_users)
    raise NotImplementedError(f"backbone '{cfg.backbone}' is not implemented yet (see issue: backbones)")
