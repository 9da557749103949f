"""SASRec (Kang & McAuley, 2018) in the layer layout of the reference code, batch-first.

Per block: ``Q = LN(x); x = Q + MHA(Q, x, x)`` (causal), ``x = LN(x)``, ``x = x + FFN(x)``
(two position-wise linear maps = the reference's 1x1 convolutions, ReLU, dropout), padded
positions zeroed; a final LayerNorm. Item embeddings are scaled by sqrt(d); a learned absolute
position embedding is added; embedding dropout. Scores are dot products of a position's output
with the candidate item embeddings. Xavier-normal init on every matrix; LayerNorm eps 1e-8.

Position embeddings count from the right end of the ``maxlen`` window (the reference's left-padded
window puts the last item at position ``maxlen - 1``), so a batch may be trimmed to its longest
real sequence. Padded keys are masked out of attention (the sound choice; the reference lets real
queries attend to padded keys, whose vectors are zero before the projection biases).
``attend_padding=True`` restores the reference behaviour, and then batches are not trimmed.

A backbone knows nothing of negatives or teachers: ``encode`` maps item ids to position vectors,
``score`` maps position vectors and candidate ids to logits.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import packed
from .layers import Block, Dropout, Noise, Padded, attention_mask, gather_dot, number_dropouts, xavier_init


class SASRec(nn.Module):
    causal = True        # BERT4Rec: False (bidirectional)
    extra_tokens = 0     # ids after n_items in the item table (BERT4Rec: 1, the [MASK] token)

    def __init__(self, n_items: int, cfg, n_users: int = 0):
        super().__init__()
        d = cfg.hidden
        width = self.model_width(cfg)
        self.n_items, self.n_users = n_items, n_users
        self.maxlen, self.d, self.width = cfg.maxlen, d, width
        self.attend_padding = cfg.attend_padding
        self.item_emb = nn.Embedding(n_items + 1 + self.extra_tokens, d, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.maxlen, width)
        self.emb_drop = Dropout(cfg.dropout, cfg.maxlen)
        self.blocks = nn.ModuleList(Block(width, cfg.heads, cfg.dropout, cfg.maxlen) for _ in range(cfg.blocks))
        self.last_ln = nn.LayerNorm(width, eps=1e-8)
        xavier_init(self)
        number_dropouts(self)

    @staticmethod
    def model_width(cfg) -> int:
        """Width of the transformer blocks (SSE-PT: item + user embedding)."""
        return cfg.hidden

    def embed(self, seq: torch.Tensor, users=None) -> torch.Tensor:
        # position rows looked up per sequence (the same values as broadcasting one [W] lookup),
        # so that a bundle's stacked table (training/bundle.py) can serve each row its run's rows
        return self.embed_at(seq, self.window_positions(seq))

    def window_positions(self, seq: torch.Tensor) -> torch.Tensor:
        """[B, W] each column's position in the full ``maxlen`` window (right-aligned)."""
        W = seq.shape[1]
        return torch.arange(self.maxlen - W, self.maxlen, device=seq.device).expand(len(seq), W)

    def embed_at(self, items: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Scaled item embeddings plus the embeddings of their window positions ``pos``."""
        return self.item_emb(items) * math.sqrt(self.d) + self.pos_emb(pos)

    def encode(self, seq: torch.Tensor, users=None, noise: Noise | None = None) -> torch.Tensor:
        """Item ids [B, W] (0 = padding, left-padded) -> position vectors [B, W, d]. ``noise``:
        where training mode draws its masks (``layers.Noise``; None: one seed from torch's
        global generator for this call)."""
        return self.transform(self.embed(seq, users), seq > 0, self._noise(seq, noise))

    def _noise(self, seq: torch.Tensor, noise: Noise | None) -> Noise | None:
        if not self.training or noise is not None:
            return noise
        return Noise.draw(len(seq))

    def transform(self, x: torch.Tensor, real: torch.Tensor, noise: Noise | None = None) -> torch.Tensor:
        """Embedded inputs [B, W, width] -> block outputs; ``real`` [B, W] marks non-padding."""
        keep = real[..., None].to(torch.float32)
        if self.attend_padding:     # reference behaviour: no key masking (causal only, if causal)
            W = real.shape[1]
            mask = None if self.causal else torch.ones(1, 1, W, W, dtype=torch.bool, device=real.device)
        else:
            mask = attention_mask(real, self.causal)
        return self.run_blocks(x, Padded(mask, keep, noise))

    def run_blocks(self, x: torch.Tensor, lay) -> torch.Tensor:
        """Embedding dropout, the blocks and the last LayerNorm on ``x`` in layout ``lay``
        (``layers.Padded`` or ``packed.Packed``)."""
        x = lay.zero_pads(lay.drop(self.emb_drop, x))
        for blk in self.blocks:
            x = blk(x, lay)
        return self.last_ln(x)

    def encode_groups(self, groups, noise: Noise) -> torch.Tensor:
        """The vectors of a training batch's scored positions (``Group.real``), group after group
        (``data.batches.TrainBatch``'s order); ``noise`` is the batch's (``Group.rows`` index it).
        In training mode on the CPU with the compiled kernels the batch runs packed (no padding,
        ``packed.py``), else one padded window per group."""
        if self.training and not self.attend_padding and packed.available(self.item_emb.weight):
            pk = packed.pack(self.replace_ids(groups, noise), noise, self.maxlen, self.causal)
            h = self.encode_tokens(pk)
            return h if pk.scored is None else h[pk.scored]
        return torch.cat([self.encode(g.inputs, g.users, noise.take(g.rows))[g.real] for g in groups])

    def replace_ids(self, groups, noise: Noise):
        """The groups with their input ids as the model sees them in training (SSE-PT: replaced)."""
        return groups

    def encode_tokens(self, pk: "packed.Packed") -> torch.Tensor:
        """Packed tokens -> their vectors, [T, d] (``encode`` on the padding-free layout)."""
        return self.run_blocks(self.embed_at(pk.items, pk.pos), pk)

    def score(self, h: torch.Tensor, items: torch.Tensor, users=None) -> torch.Tensor:
        """Position vectors [P, d] and candidates [P, C] -> logits [P, C]."""
        return gather_dot(self.item_emb.weight, h, items)

    def score_all(self, h: torch.Tensor, users=None) -> torch.Tensor:
        """Position vectors [P, d] -> logits over items 1..n_items, [P, n_items]."""
        return h @ self.item_emb.weight[1:self.n_items + 1].T

    def final(self, seq: torch.Tensor, users=None) -> torch.Tensor:
        """Vector of the last position (the next-item query) for each sequence, [B, d]."""
        return self.encode(seq, users)[:, -1]

    def l2_reg(self) -> torch.Tensor:
        return torch.norm(self.item_emb.weight)
