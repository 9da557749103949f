"""Padding-free encoding of a training batch on the CPU: the real tokens of all sequences side by
side, ``[T, F]``, instead of one padded ``[b, W, F]`` window per length group.

Every layer of a block but attention acts on each token alone, so on packed tokens it runs once
per batch instead of once per length group, and on no padding. Attention runs within each
sequence (``kernels.attention_forward`` / ``attention_backward``, compiled). The random draws
are ``layers.Noise``'s: a token's dropout mask and its attention weights' masks are those of the
same element of its row in the padded layout, so both layouts compute the same function; their
floats differ in the last bits (other summation orders), as the tests check.

``Packed`` is a batch's layout (built by ``pack`` from ``data.batches.Group`` objects);
``layers.Block`` runs on it or on a padded window alike (``Packed.drop`` / ``attend`` /
``zero_pads`` against ``layers.Padded``'s). Used in training mode with the compiled kernels
(float32 CPU); elsewhere (a GPU, no numba, ``attend_padding``) the padded layout runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .layers import Dropout, Noise, SelfAttention, _kernels_for


@dataclass
class Packed:
    items: torch.Tensor      # [T] token ids (> 0), sequence by sequence, in window order
    pos: torch.Tensor        # [T] each token's position in the full maxlen window
    offsets: torch.Tensor    # [S + 1] sequence s owns tokens offsets[s]:offsets[s + 1]
    square: torch.Tensor     # [S + 1] cumulative sum of the sequences' squared lengths
    users: torch.Tensor      # [S] user of each sequence
    noise: Noise             # [S] each sequence's seed and row index
    scored: torch.Tensor | None   # [T] bool, the scored tokens (None: every token is scored)
    maxlen: int
    causal: bool             # attention to earlier tokens and itself only (SASRec), else to all

    def seq(self) -> torch.Tensor:
        """[T] each token's sequence (0..S-1)."""
        return torch.repeat_interleave(torch.arange(len(self.users)), self.offsets.diff())

    def drop(self, d: Dropout, x: torch.Tensor) -> torch.Tensor:
        if not d.training or d.p == 0.0:
            return x
        return _TokenDropout.apply(x.contiguous(), self, d.site, d.threshold, d.scale)

    def attend(self, att: SelfAttention, query: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        y = _TokenAttention.apply(att.q(query), att.k(x), att.v(x), self, att.heads, self.causal, att.drop)
        return att.out(y)

    def zero_pads(self, x: torch.Tensor) -> torch.Tensor:
        return x


def available(*tensors: torch.Tensor) -> bool:
    """Can these (parameter) tensors train on packed tokens (compiled kernels, float32, CPU)?"""
    return _kernels_for(*tensors) is not None


def pack(groups, noise: Noise, maxlen: int, causal: bool) -> Packed:
    """The real tokens (id > 0; left-padded rows) of ``groups`` in order: group by group, row by
    row; ``noise`` is the batch's (indexed by ``Group.rows``). ``scored`` marks ``Group.real``."""
    items, pos, lens, scored, rows, users = [], [], [], [], [], []
    for g in groups:
        B, W = g.inputs.shape
        nz = g.inputs > 0
        items.append(g.inputs[nz])
        pos.append(torch.arange(maxlen - W, maxlen).expand(B, W)[nz])
        lens.append(nz.sum(1))
        scored.append(g.real[nz])
        rows.append(g.rows)
        users.append(g.users)
    lens = torch.cat(lens)
    offsets = torch.zeros(len(lens) + 1, dtype=torch.int64)
    torch.cumsum(lens, 0, out=offsets[1:])
    square = torch.zeros_like(offsets)
    torch.cumsum(lens * lens, 0, out=square[1:])
    scored = torch.cat(scored)
    return Packed(torch.cat(items), torch.cat(pos), offsets, square, torch.cat(users), noise.take(torch.cat(rows)),
                  None if bool(scored.all()) else scored, maxlen, causal)


def _seeds(pk: Packed) -> np.ndarray:
    return pk.noise.seeds.contiguous().numpy().view(np.uint64)


class _TokenDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, pk, site, threshold, scale):
        out, mask = torch.empty_like(x), torch.empty_like(x)
        _kernels_for(x).dropout_tokens(x.detach().view(-1).numpy(), pk.offsets.numpy(), pk.pos.numpy(), _seeds(pk),
                                       pk.noise.rows.contiguous().numpy(), site, x.shape[1], np.uint64(threshold),
                                       np.float32(scale), out.view(-1).numpy(), mask.view(-1).numpy())
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None, None, None


class _TokenAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, pk, heads, causal, drop):
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        kern = _kernels_for(q)
        on = drop.training and drop.p > 0
        y = torch.empty_like(q)
        probs = torch.empty(heads * int(pk.square[-1]), dtype=q.dtype)
        kept = torch.empty_like(probs)
        poffs = pk.square * heads
        scale = 1.0 / math.sqrt(q.shape[1] // heads)
        kern.attention_forward(q.detach().numpy(), k.detach().numpy(), v.detach().numpy(), pk.offsets.numpy(),
                               poffs.numpy(), pk.pos.numpy(), _seeds(pk), pk.noise.rows.contiguous().numpy(),
                               drop.site, heads, causal, pk.maxlen, np.float32(scale), on,
                               np.uint64(drop.threshold), np.float32(drop.scale) if on else np.float32(1.0),
                               y.numpy(), probs.numpy(), kept.numpy())
        ctx.save_for_backward(q, k, v, probs, kept, poffs)
        ctx.pk, ctx.heads, ctx.causal, ctx.scale, ctx.kern = pk, heads, causal, scale, kern
        return y

    @staticmethod
    def backward(ctx, dy):
        q, k, v, probs, kept, poffs = ctx.saved_tensors
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        ctx.kern.attention_backward(q.detach().numpy(), k.detach().numpy(), v.detach().numpy(),
                                    dy.contiguous().numpy(), ctx.pk.offsets.numpy(), poffs.numpy(), ctx.heads,
                                    ctx.causal, np.float32(ctx.scale), probs.numpy(), kept.numpy(),
                                    dq.numpy(), dk.numpy(), dv.numpy())
        return dq, dk, dv, None, None, None, None
