"""Recommendations from a cached run, in the dataset's own ids.

``recommend(cfg, k)`` scores every item after each user's whole sequence (training, validation
and test items: the next item after the last one seen) with the run's selected weights, leaves
out the items the user already has, and returns the top ``k`` with the ids of the file the run
was trained on (read back through the id maps saved with the run, ``store.load_id_maps``).
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import Config
from ..data.batches import left_pad
from .splits import load_split
from .store import load_id_maps, load_model


def recommend(cfg: Config, k: int = 10, users=None, root=None, batch_size: int = 512):
    """A DataFrame ``user, rank, item, score`` (ranks 1..k) for ``users`` (the file's user ids;
    all users if None). Ids are strings for a log, the file's integers otherwise."""
    import pandas as pd
    split = load_split(cfg.dataset)
    seqs = split.seqs
    maps = load_id_maps(cfg, root) or {"user": None, "item": None}
    user_name = maps["user"] or [int(u) for u in seqs.user_ids]
    item_name = (lambda j: maps["item"][j - 1]) if maps["item"] else int
    index = {str(u): i for i, u in enumerate(user_name)}
    if users is None:
        rows = np.arange(seqs.n_users)
    else:
        missing = [u for u in users if str(u) not in index]
        if missing:
            raise KeyError(f"users not in the dataset: {missing[:5]}")
        rows = np.array([index[str(u)] for u in users], dtype=np.int64)
    model = load_model(cfg, root)
    out = []
    with torch.no_grad():
        for s in range(0, len(rows), batch_size):
            b = rows[s:s + batch_size]
            idx = left_pad(seqs.offsets[:-1][b], seqs.offsets[1:][b], cfg.maxlen)
            seq = torch.from_numpy(np.where(idx >= 0, seqs.items[np.maximum(idx, 0)], 0))
            u = torch.from_numpy(b)
            sc = model.score_all(model.final(seq, u), u)          # item j at column j - 1
            for r, user in enumerate(b):
                sc[r, seqs.seq(user) - 1] = float("-inf")
            top = torch.topk(sc, min(k, sc.shape[1]), dim=1)
            for r, user in enumerate(b):
                for rank, (j, v) in enumerate(zip(top.indices[r].tolist(), top.values[r].tolist()), 1):
                    if np.isfinite(v):
                        out.append((user_name[user], rank, item_name(j + 1), v))
    return pd.DataFrame(out, columns=["user", "rank", "item", "score"])
