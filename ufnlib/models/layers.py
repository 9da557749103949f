"""Transformer pieces shared by the backbones, written for small CPU batches.

* ``Dropout``: the same Bernoulli(1 - p) keep-mask with 1/(1 - p) scaling as ``nn.Dropout``,
  drawn with ``torch.rand`` (on this CPU build ``bernoulli_`` is about twice as slow); on the CPU
  with numba the mask and the output come from one compiled pass (``kernels.dropout``).
* ``SelfAttention``: single- or multi-head attention with a boolean mask and dropout on the
  attention weights (as ``nn.MultiheadAttention(dropout=p)`` in the reference); without dropout
  it calls ``scaled_dot_product_attention``.
* ``gather_dot``: logits of candidate items, ``E[c] . h``, with a hand-written backward that
  scatters the item-embedding gradient: on the CPU with numba, a compiled loop
  (``kernels.scatter_outer``, bitwise the same as the ``index_add_`` used elsewhere).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.compiled import numba_module


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        r = torch.rand_like(x)
        if x.device.type == "cpu" and x.dtype == torch.float32 and x.is_contiguous() and (k := _kernels()):
            return _DropoutMask.apply(x, r, self.p, k)
        return x * ((r >= self.p).to(x.dtype) * (1.0 / (1.0 - self.p)))


class _DropoutMask(torch.autograd.Function):
    """``x * ((r >= p) * 1 / (1 - p))`` with the mask made by one compiled pass (same bits)."""

    @staticmethod
    def forward(ctx, x, r, p, kernels):
        out, mask = torch.empty_like(x), torch.empty_like(x)
        kernels.dropout(x.detach().view(-1).numpy(), r.view(-1).numpy(), np.float32(p), np.float32(1.0 / (1.0 - p)),
                        out.view(-1).numpy(), mask.view(-1).numpy())
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None, None


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.heads, self.drop = heads, Dropout(dropout)

    def forward(self, query, x, mask):
        """``mask``: bool [B, 1, W, W], True = may attend; None = plain causal."""
        B, W, d = x.shape
        h = self.heads

        def split(t):
            return t.view(B, W, h, d // h).transpose(1, 2)
        q, k, v = split(self.q(query)), split(self.k(x)), split(self.v(x))
        if self.training and self.drop.p > 0:
            if mask is None:
                mask = torch.ones(W, W, dtype=torch.bool, device=x.device).tril()
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d // h))
            att = self.drop(att.masked_fill(~mask, float("-inf")).softmax(-1))
            y = att @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        return self.out(y.transpose(1, 2).reshape(B, W, d))


class Block(nn.Module):
    """Reference layout: Q = LN(x); x = Q + MHA(Q, x, x); x = LN(x); x = x + FFN(x); zero pads."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.ln_attn = nn.LayerNorm(d, eps=1e-8)
        self.attn = SelfAttention(d, heads, dropout)
        self.ln_ffn = nn.LayerNorm(d, eps=1e-8)
        self.ff1, self.ff2 = nn.Linear(d, d), nn.Linear(d, d)
        self.drop1, self.drop2 = Dropout(dropout), Dropout(dropout)

    def forward(self, x, mask, keep):
        q = self.ln_attn(x)
        x = q + self.attn(q, x, mask)
        x = self.ln_ffn(x)
        x = x + self.drop2(self.ff2(F.relu(self.drop1(self.ff1(x)))))
        return x * keep


def xavier_init(module: nn.Module) -> None:
    """Xavier-normal on every parameter that accepts it (matrices), as the reference does."""
    for p in module.parameters():
        if p.dim() >= 2:
            nn.init.xavier_normal_(p)


def attention_mask(real: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """Boolean mask [B, 1, W, W] (True = may attend): causal (if asked) and real keys only; a
    padded query may attend to itself so that no row is empty (its output is zeroed anyway)."""
    W = real.shape[1]
    m = real[:, None, :].expand(-1, W, -1) | torch.eye(W, dtype=torch.bool, device=real.device)
    if causal:
        m = m & torch.ones(W, W, dtype=torch.bool, device=real.device).tril()
    return m[:, None]


class _GatherDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, table, h, items):
        e = table.index_select(0, items.reshape(-1)).view(*items.shape, table.shape[1])
        ctx.save_for_backward(table, h, items, e)
        return torch.bmm(e, h[:, :, None]).squeeze(-1)

    @staticmethod
    def backward(ctx, g):
        table, h, items, e = ctx.saved_tensors
        gh = torch.bmm(g[:, None, :], e).squeeze(1) if ctx.needs_input_grad[1] else None
        gt = None
        if ctx.needs_input_grad[0]:
            gt = torch.zeros_like(table)
            kernels = _kernels() if table.device.type == "cpu" and table.dtype == torch.float32 else None
            if kernels is not None:
                kernels.scatter_outer(gt.numpy(), items.contiguous().numpy(), g.contiguous().numpy(),
                                      h.detach().contiguous().numpy())
            else:
                gt.index_add_(0, items.reshape(-1), (g[:, :, None] * h[:, None, :]).reshape(-1, table.shape[1]))
        return gt, gh, None


def gather_dot(table: torch.Tensor, h: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``logits[p, c] = table[items[p, c]] . h[p]`` for ``h`` [P, d], ``items`` [P, C]."""
    return _GatherDot.apply(table, h, items)


def _kernels():
    """``ufnlib.models.kernels`` when numba is installed, else None."""
    return numba_module(f"{__package__}.kernels")
