"""Transformer pieces shared by the backbones, written for small CPU batches.

* ``Noise`` and ``Dropout``: the same Bernoulli(1 - p) keep-mask with 1/(1 - p) scaling as
  ``nn.Dropout``, its draws a hash (splitmix64) of a per-row seed, the dropout's site, the row's
  index in its batch and the element's coordinates in the full window, so the mask does not
  depend on the batch layout; on the CPU with numba the draws, the mask and the output come from
  one compiled pass (``kernels.dropout``), elsewhere from tensor code that gives the same bits.
* ``SelfAttention``: single- or multi-head attention with a boolean mask and dropout on the
  attention weights (as ``nn.MultiheadAttention(dropout=p)`` in the reference); without dropout
  it calls ``scaled_dot_product_attention``.
* ``Block``: one transformer block, written once for two layouts of its input: ``Padded``
  windows [B, W, F] (evaluation, GPUs) and ``packed.Packed`` tokens [T, F] (CPU training).
* ``gather_dot``: logits of candidate items, ``E[c] . h``, with a hand-written backward that
  scatters the item-embedding gradient. On the CPU with numba (float32), compiled loops read the
  candidates' rows straight from the table (``kernels.gather_dot_forward``, ``gather_dot_h_grad``;
  deterministic, last bits differ from ``bmm``'s) and scatter the table's gradient
  (``kernels.scatter_outer``, bitwise the same as ``index_add_``); elsewhere, tensor code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.compiled import numba_module

# splitmix64 (Steele, Lea & Flood, 2014): the odd increment and the finaliser's multipliers
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _int64(u: int) -> int:
    """The int64 with the bits of uint64 ``u``."""
    u %= 1 << 64
    return u - (1 << 64) if u >= 1 << 63 else u


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 ``z`` (``>>`` on int64 is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on int64 tensors (wrapping arithmetic, the bits of the uint64 one)."""
    z = (z ^ _shr(z, 30)) * _int64(MIX1)
    z = (z ^ _shr(z, 27)) * _int64(MIX2)
    return z ^ _shr(z, 31)


def hashed_bits(keys: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """64 random bits (as int64) per element: ``mix64(key + (idx + 1) * GOLDEN)``, ``keys`` and
    ``idx`` broadcast together. ``_shr(bits, 40)`` is a 24-bit uniform draw."""
    return mix64(keys + (idx + 1) * _int64(GOLDEN))


@dataclass
class Noise:
    """Where one ``encode`` call of a training batch takes its random draws (dropout, SSE-PT's
    replacements): a 64-bit seed per row and each row's index in its batch. An element's draw is
    a hash of (seed, the drawing site, row index, its coordinates in the full ``maxlen`` window),
    so it does not depend on how the batch is laid out: encoding the batch in length groups, in
    one padded window, a subset of its rows, or beside other runs' rows (a bundle, where each
    row carries its own run's seed) draws the same masks."""
    seeds: torch.Tensor     # [b] int64 (the bits of a uint64 seed)
    rows: torch.Tensor      # [b] int64, the row's index in its batch

    @staticmethod
    def draw(n_rows: int, generator: torch.Generator | None = None) -> "Noise":
        """One seed from ``generator`` (torch's global one if None) shared by ``n_rows`` rows 0..n-1."""
        seed = torch.randint(-(1 << 63), (1 << 63) - 1, (), dtype=torch.int64, generator=generator)
        return Noise(seed.expand(n_rows).clone(), torch.arange(n_rows))

    def take(self, idx: torch.Tensor) -> "Noise":
        return Noise(self.seeds[idx], self.rows[idx])

    def to(self, device) -> "Noise":
        return Noise(self.seeds.to(device), self.rows.to(device))

    def keys(self, site: int) -> torch.Tensor:
        """[b] int64: the per-row hash key of a drawing site."""
        base = mix64(self.seeds + _int64((site + 1) * GOLDEN))
        return mix64(base + (self.rows + 1) * _int64(GOLDEN))


def window_index(shape, maxlen: int, attention: bool) -> torch.Tensor:
    """Each element's index within its row of the full ``maxlen`` window, for a tensor of
    ``shape`` [b, W, F] (positions, features) or, with ``attention``, [b, H, W, W] (heads,
    query and key positions); right-aligned windows, so position w of a width-W tensor is
    position ``maxlen - W + w`` of the full one. Shape ``shape[1:]``, int64."""
    if attention:
        H, W = shape[1], shape[2]
        h, q, k = torch.arange(H)[:, None, None], torch.arange(W)[None, :, None], torch.arange(W)[None, None, :]
        return (h * maxlen + maxlen - W + q) * maxlen + maxlen - W + k
    W, F = shape[1], shape[2]
    return (torch.arange(W)[:, None] + maxlen - W) * F + torch.arange(F)[None, :]


class Dropout(nn.Module):
    """Bernoulli(1 - p) keep-mask with 1/(1 - p) scaling, as ``nn.Dropout``. The draws are hashed
    (``Noise``): element ``i`` is kept when its 24-bit draw ``u_i`` satisfies
    ``u_i >= ceil(p * 2**24)``, i.e. ``u_i / 2**24 >= p``, as ``torch.rand(...) >= p`` decides on
    its 24-bit floats. ``site``: this module's index among the model's dropouts (set by the
    backbone); ``maxlen``: the window the coordinates are counted in. Inputs are [b, W, F], or
    [b, H, W, W] with ``attention``."""

    def __init__(self, p: float, maxlen: int, attention: bool = False):
        super().__init__()
        self.p, self.maxlen, self.attention, self.site = p, maxlen, attention, 0

    @property
    def threshold(self) -> int:
        """An element is kept when its 24-bit draw is at least this."""
        return math.ceil(self.p * (1 << 24))

    @property
    def scale(self) -> float:
        return 1.0 / (1.0 - self.p)

    def forward(self, x, noise: Noise | None = None):
        if not self.training or self.p == 0.0:
            return x
        if noise is None:
            noise = Noise.draw(x.shape[0])
        threshold, scale = self.threshold, self.scale
        if x.is_contiguous() and (k := _kernels_for(x)):     # the row keys are hashed in the kernel
            return _DropoutMask.apply(x, noise, self.site, threshold, scale, k, self.maxlen, self.attention)
        keys = noise.to(x.device).keys(self.site)
        idx = window_index(x.shape, self.maxlen, self.attention).to(x.device)
        u = _shr(hashed_bits(keys.view(-1, *[1] * (x.dim() - 1)), idx[None]), 40)
        return x * ((u >= threshold).to(x.dtype) * scale)


class _DropoutMask(torch.autograd.Function):
    """``Dropout``'s mask and output made by one compiled pass (``kernels.dropout``)."""

    @staticmethod
    def forward(ctx, x, noise, site, threshold, scale, kernels, maxlen, attention):
        out, mask = torch.empty_like(x), torch.empty_like(x)
        if attention:
            H, W, T, t_full, t_off = x.shape[1], x.shape[2], x.shape[3], maxlen, maxlen - x.shape[2]
        else:
            H, W, T, t_full, t_off = 1, x.shape[1], x.shape[2], x.shape[2], 0
        kernels.dropout(x.detach().view(-1).numpy(), noise.seeds.contiguous().numpy().view(np.uint64),
                        noise.rows.contiguous().numpy(), site, H, W, T, maxlen, t_full, t_off,
                        np.uint64(threshold), np.float32(scale), out.view(-1).numpy(), mask.view(-1).numpy())
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None, None, None, None, None, None


def number_dropouts(model: nn.Module) -> None:
    """Give each ``Dropout`` of ``model`` its own drawing site (its order among them)."""
    for i, m in enumerate(x for x in model.modules() if isinstance(x, Dropout)):
        m.site = i


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float, maxlen: int):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.heads, self.drop = heads, Dropout(dropout, maxlen, attention=True)

    def forward(self, query, x, mask, noise=None):
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
            att = self.drop(att.masked_fill(~mask, float("-inf")).softmax(-1), noise)
            y = att @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        return self.out(y.transpose(1, 2).reshape(B, W, d))


class Padded:
    """The layout of padded windows [B, W, F] for ``Block``: ``mask`` [B, 1, W, W] (None: plain
    causal), ``keep`` [B, W, 1] (1.0 at real positions), ``noise`` (``packed.Packed`` is the
    padding-free layout with the same three methods)."""

    def __init__(self, mask, keep, noise):
        self.mask, self.keep, self.noise = mask, keep, noise

    def drop(self, d: Dropout, x):
        return d(x, self.noise)

    def attend(self, att: SelfAttention, query, x):
        return att(query, x, self.mask, self.noise)

    def zero_pads(self, x):
        return x * self.keep


class Block(nn.Module):
    """Reference layout: Q = LN(x); x = Q + MHA(Q, x, x); x = LN(x); x = x + FFN(x); zero pads."""

    def __init__(self, d: int, heads: int, dropout: float, maxlen: int):
        super().__init__()
        self.ln_attn = nn.LayerNorm(d, eps=1e-8)
        self.attn = SelfAttention(d, heads, dropout, maxlen)
        self.ln_ffn = nn.LayerNorm(d, eps=1e-8)
        self.ff1, self.ff2 = nn.Linear(d, d), nn.Linear(d, d)
        self.drop1, self.drop2 = Dropout(dropout, maxlen), Dropout(dropout, maxlen)

    def forward(self, x, lay):
        """``lay``: the layout of ``x`` (``Padded``, or ``packed.Packed``)."""
        q = self.ln_attn(x)
        x = q + lay.attend(self.attn, q, x)
        x = self.ln_ffn(x)
        x = x + lay.drop(self.drop2, self.ff2(F.relu(lay.drop(self.drop1, self.ff1(x)))))
        return lay.zero_pads(x)


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
        kernels = _kernels_for(table, h) if table.is_contiguous() else None
        ctx.kernels = kernels
        if kernels is not None:
            items = items.contiguous()
            out = torch.empty(items.shape, dtype=table.dtype)
            kernels.gather_dot_forward(table.detach().numpy(), h.detach().contiguous().numpy(), items.numpy(),
                                       out.numpy())
            ctx.save_for_backward(table, h, items)
            return out
        e = table.index_select(0, items.reshape(-1)).view(*items.shape, table.shape[1])
        ctx.save_for_backward(table, h, items, e)
        return torch.bmm(e, h[:, :, None]).squeeze(-1)

    @staticmethod
    def backward(ctx, g):
        table, h, items, *e = ctx.saved_tensors
        kernels = ctx.kernels
        g = g.contiguous()
        gh = gt = None
        if ctx.needs_input_grad[1]:
            if kernels is not None:
                gh = torch.empty(h.shape, dtype=h.dtype)
                kernels.gather_dot_h_grad(table.detach().numpy(), g.numpy(), items.numpy(), gh.numpy())
            else:
                gh = torch.bmm(g[:, None, :], e[0]).squeeze(1)
        if ctx.needs_input_grad[0]:
            gt = torch.zeros_like(table)
            if kernels is not None:
                kernels.scatter_outer(gt.numpy(), items.numpy(), g.numpy(), h.detach().contiguous().numpy())
            else:
                gt.index_add_(0, items.reshape(-1), (g[:, :, None] * h[:, None, :]).reshape(-1, table.shape[1]))
        return gt, gh, None


def gather_dot(table: torch.Tensor, h: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``logits[p, c] = table[items[p, c]] . h[p]`` for ``h`` [P, d], ``items`` [P, C]."""
    return _GatherDot.apply(table, h, items)


def _kernels():
    """``ufnlib.models.kernels`` when numba is installed, else None."""
    return numba_module(f"{__package__}.kernels")


def _kernels_for(*tensors: torch.Tensor):
    """The compiled kernels for these tensors: ``_kernels()`` when all are float32 on the CPU and
    no ``torch.compile`` trace is running, else None (the tensor code then runs)."""
    if torch.compiler.is_compiling() or any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        return None
    return _kernels()
