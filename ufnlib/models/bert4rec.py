"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional transformer trained on the cloze task.

Model: SASRec's layers (``sasrec.py``: same Block layout, embeddings scaled by sqrt(d), learned
position embedding counted from the right end of the window, final LayerNorm, Xavier init) with
**no causal mask**: every real position attends to every real position; padded keys are masked
(``attend_padding=True`` drops that mask, as for SASRec). The item table has one extra row, the
[MASK] token, id ``n_items + 1`` (rows ``n_items + 2``); candidates never include it and
``score_all`` ranks items 1..n_items only. Scores are dot products with the item embeddings, as
for SASRec.

Training examples (``MaskedItemData``, rule ``cloze_mask``): each user's last ``maxlen`` train
items, left-padded; ``n_masked`` of the real positions, drawn uniformly with the run's seeded
generator at every visit, are replaced by [MASK]. Each masked position is a scored position whose
target is the original item and whose memory key (``inter``) is that item's index in
``Split.train_items``, so the FMR memory, the strategies and the trainer work exactly as for
SASRec (BCE over the target and the strategy's n negatives).

Evaluation (``final``): [MASK] is appended after the history (the oldest item is dropped if the
window is full) and the [MASK] position's vector is the query.

Settings chosen (the UFNRec paper says only "follow the original model settings"):

* ``mask_prob`` (rho) = **0.6**. The authors' Beauty script (``run_beauty.sh``) uses
  ``masked_lm_prob=0.6`` (ML-1m: 0.2); the BERT4Rec paper reports that the best rho depends on
  sequence length, large for short-sequence data such as Beauty (0.6) and small for long ML
  sequences (0.2). Beauty, Sports and Yelp all have short sequences (8-10 actions per user). A
  large share also matters here: the number of scored positions per epoch is about rho x the
  sequence length (SASRec scores every position), and an interaction is re-visited by the FMR
  memory only when it is masked again, i.e. every ~1/rho epochs. So 0.2 would slow both
  training and mining about threefold.
* ``n_masked``: round(rho x L) of the L real items (halves up), at least one and, for L >= 2, at
  most L - 1 (one item stays visible). The reference takes ``max(1, round(rho x L))`` (Python's
  round) capped at ``max_predictions_per_seq`` (30 for Beauty = 0.6 x 50), and with its
  ``mask_prob=1.0`` always writes [MASK] (no BERT 80/10/10 replacement), as here.
* Sizes as SASRec (d = 50, 2 blocks, 1 head, dropout 0.5, maxlen 50), not the authors' d = 64,
  2 heads, FFN 4d with GELU, attention dropout 0.2, lr 1e-4 for 400k steps: the backbones then
  differ only in what the paper compares (bidirectional cloze vs causal next-item), and the
  training budget stays that of SASRec. maxlen 50 and the hidden dropout 0.5 coincide with the
  authors' Beauty configuration.
* Loss: BCE over the target and the strategy's negatives (as in RecStudio's / RecBole's sampled
  BERT4Rec), not the reference's softmax over all items, because UFNRec's mining and label
  reversal are defined on sampled negatives. No output projection or per-item output bias.
* Not reproduced: the reference's extra training instances that mask only the last item and
  its sliding windows / dupe factor (here each epoch visits each user once with a fresh mask).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.batches import Group, TrainBatch, left_pad, length_groups
from .sasrec import SASRec


class BERT4Rec(SASRec):
    causal = False
    extra_tokens = 1

    def __init__(self, n_items: int, cfg, n_users: int = 0):
        super().__init__(n_items, cfg, n_users)
        self.mask_id = n_items + 1

    def final(self, seq: torch.Tensor, users=None) -> torch.Tensor:
        """Append [MASK] after each history (dropping the oldest column if the window would
        exceed ``maxlen``) and return the [MASK] position's vector, [B, d]."""
        x = torch.cat([seq, torch.full((len(seq), 1), self.mask_id, dtype=seq.dtype, device=seq.device)], 1)
        if x.shape[1] > self.maxlen:
            x = x[:, -self.maxlen:]
        return self.encode(x, users)[:, -1]


def n_masked(lengths: torch.Tensor, rho: float) -> torch.Tensor:
    """Items to mask in a row of L real items: round(rho * L) (halves up), at least 1 and, when
    L >= 2, at most L - 1 so that one item stays visible; 0 for an empty row."""
    L = lengths.to(torch.int64)
    k = torch.floor(L.to(torch.float64) * rho + 0.5).to(torch.int64)
    k = torch.minimum(k.clamp(min=1), (L - 1).clamp(min=1))
    return torch.where(L > 0, k, torch.zeros_like(k))


def cloze_mask(lengths: torch.Tensor, width: int, rho: float,
               generator: torch.Generator) -> torch.Tensor:
    """Bool [B, width]: which positions of right-aligned rows with ``lengths`` real items are
    masked; ``n_masked`` per row, chosen uniformly among the real positions (never padding)."""
    B = len(lengths)
    real = torch.arange(width)[None, :] >= (width - lengths)[:, None]
    r = torch.rand((B, width), generator=generator).masked_fill_(~real, 2.0)
    rank = r.argsort(1).argsort(1)
    return rank < n_masked(lengths, rho)[:, None]


class MaskedItemData:
    """Cloze training examples with the attributes of ``batches.NextItemData``: ``batch(users)
    -> TrainBatch``, ``train_users``, ``n_inter``, ``inter_user``, ``n_items``, ``lengths``,
    ``maxlen``. The masks are drawn at each ``batch`` call from ``generator``."""

    def __init__(self, split, maxlen: int, mask_prob: float, generator: torch.Generator):
        off = split.train_offsets
        starts, ends = off[:-1], off[1:]
        self.train_users = np.flatnonzero((ends - starts) >= 2)   # as NextItemData
        idx = left_pad(starts, ends, maxlen)
        items = split.train_items
        self.items = torch.from_numpy(np.where(idx >= 0, items[np.maximum(idx, 0)], 0))
        self.inter = torch.from_numpy(idx)                        # -1 = padding
        self.lengths = torch.from_numpy((idx >= 0).sum(1))
        self.n_inter = len(items)
        self.n_items = split.n_items
        self.mask_id = split.n_items + 1
        self.inter_user = torch.from_numpy(np.repeat(np.arange(split.n_users), np.diff(off)))
        self.maxlen, self.mask_prob, self.g = maxlen, mask_prob, generator

    def batch(self, users: torch.Tensor, trim: bool = True) -> TrainBatch:
        """Masks are drawn on the full window, so ``trim`` changes the grouping only."""
        lens = self.lengths[users]
        masked = cloze_mask(lens, self.maxlen, self.mask_prob, self.g)      # [b, maxlen]
        ln = lens.numpy()
        parts = length_groups(ln) if trim else [np.arange(len(users))]
        groups, tg, it, pu = [], [], [], []
        for rows in parts:
            r = torch.from_numpy(rows)
            u = users[r]
            w = max(int(ln[rows].max()), 1) if trim else self.maxlen
            items, m = self.items[u, -w:], masked[r, -w:]
            groups.append(Group(u, items.masked_fill(m, self.mask_id), m, r))
            tg.append(items[m])
            it.append(self.inter[u, -w:][m])
            pu.append(u[:, None].expand_as(m)[m])
        return TrainBatch(groups, torch.cat(tg), torch.cat(it), torch.cat(pu))
