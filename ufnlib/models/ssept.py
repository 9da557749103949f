"""SSE-PT (Wu et al., RecSys 2020): SASRec personalised with a user embedding, regularised by
Stochastic Shared Embeddings (SSE-SE, Wu et al., NeurIPS 2019).

Model: every input item embedding (width d_i = ``cfg.hidden``, scaled by sqrt(d_i)) is
concatenated with the user embedding (width d_u = ``cfg.user_hidden``, scaled by sqrt(d_u), as
the public code's ``embedding(scale=True)``), a learned position embedding of width
D = d_i + d_u is added, and SASRec's causal blocks run at width D (100 by default). A candidate
item's vector is ``concat(E[c], u)``, u the (scaled) user vector the position was encoded with,
so a logit is a dot product in width D: ``h[:d_i] . E[c] + h[d_i:] . u``.

``encode`` returns ``[h | u]`` side by side, ``[B, W, D + d_u]``: the trainer passes original
user ids to ``score``, but during training SSE may have replaced the user, and the candidates
must carry the same user vector as the inputs (the public code concatenates the replaced user's
embedding to both). ``score`` therefore reads the user from ``h`` and ignores its ``users``.

SSE (rule ``sse_replace``), in training mode only, redrawn at every ``encode`` (hashed from the
call's ``layers.Noise``, like dropout, so a seeded run is reproducible whatever its batch layout):

* each user id is replaced with probability ``cfg.sse_user`` (p_u) by a uniformly random user;
* each real input item id is replaced with probability ``cfg.sse_item`` (p_i) by a uniformly
  random item; padding is never replaced. Evaluation never replaces anything.

Convention and defaults. Our config fields are **replacement probabilities**. The public code
replaces when ``random() > threshold``, so p = 1 - threshold, which is what the SSE repository's
README says (``threshold_user`` is "1 - the replacement probability for user"); the SSE-PT
README calls the thresholds "SSE probability", which reads the other way. Its example
``threshold_user 0.08, threshold_item 0.9`` gives **p_u = 0.92, p_i = 0.1**, our defaults. (The
words' reading, p_i = 0.9, would replace nine input items in ten, which no one would mean.)

Which item ids: inputs only. The two public codes disagree: the SSE-PT repository replaces, at
the same position, the input item and the target (independent draws), the SSE repository only
the target. We do not replace targets or negatives: in UFNRec the candidates belong to the
negative strategy (the FMR memory is keyed by the target interaction and records the negatives
that outscore the target), so a random "positive" would feed label noise into the mining the
paper studies, and a backbone must know nothing of candidates.

Other settings as SASRec (2 blocks, 1 head, dropout 0.5, maxlen 50, Adam beta2 0.98, which is
also the public code's default); ``l2_reg`` covers the item and user tables.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..data.batches import Group
from .layers import Noise, _kernels, _shr, gather_dot, hashed_bits
from .sasrec import SASRec

# drawing sites of SSE's replacements (``layers.Noise``), apart from the dropouts' 0, 1, 2, ...
SSE_SITES = {"user": 1001, "user_id": 1002, "item": 1003, "item_id": 1004}


def _draws(noise: Noise, site: str, idx: torch.Tensor, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """(uniform in [0, 1) with 24 bits, uniform in [0, 1) with 53 bits) per element of ``shape``
    [b, ...], hashed from ``noise`` at ``site`` and the within-row index ``idx``."""
    k = noise.keys(SSE_SITES[site]).view(-1, *[1] * (len(shape) - 1))
    u = _shr(hashed_bits(k, idx), 40).to(torch.float64) / 2**24
    kid = noise.keys(SSE_SITES[site + "_id"]).view(-1, *[1] * (len(shape) - 1))
    v = _shr(hashed_bits(kid, idx), 11).to(torch.float64) / 2**53
    return u.expand(shape), v.expand(shape)


def sse_replace(seq: torch.Tensor, users: torch.Tensor, p_user: float, p_item: float,
                n_items: int, n_users: int, noise: Noise, maxlen: int):
    """SSE-SE on ids: each user replaced w.p. ``p_user`` by one drawn uniformly from
    0..n_users-1, each real item (id > 0) w.p. ``p_item`` by one drawn uniformly from
    1..n_items (the draw may return the same id, as in the public code). The draws are hashed
    from ``noise`` (a row's user and an item's position in the ``maxlen`` window), so they do not
    depend on the batch layout. Returns new tensors."""
    noise = noise.to(seq.device)
    k = _kernels() if seq.device.type == "cpu" else None
    if k is not None:               # the same draws in one compiled pass
        seq_out, users_out = torch.empty_like(seq), torch.empty_like(users)
        sites = np.array([SSE_SITES[s] for s in ("user", "user_id", "item", "item_id")], dtype=np.int64)
        k.sse_replace(seq.contiguous().numpy(), users.contiguous().numpy(),
                      noise.seeds.contiguous().numpy().view(np.uint64), noise.rows.contiguous().numpy(), sites,
                      maxlen, float(p_user), float(p_item), n_items, n_users, seq_out.numpy(), users_out.numpy())
        return seq_out, users_out
    if p_user > 0:
        u, v = _draws(noise, "user", torch.zeros((), dtype=torch.int64, device=seq.device), users.shape)
        users = torch.where(u < p_user, (v * n_users).to(torch.int64), users)
    if p_item > 0:
        W = seq.shape[1]
        idx = torch.arange(maxlen - W, maxlen, device=seq.device)[None]
        u, v = _draws(noise, "item", idx, seq.shape)
        seq = torch.where((u < p_item) & (seq > 0), 1 + (v * n_items).to(torch.int64), seq)
    return seq, users


class SSEPT(SASRec):
    def __init__(self, n_items: int, cfg, n_users: int = 0):
        if n_users < 1:
            raise ValueError("SSE-PT needs the number of users (n_users >= 1)")
        super().__init__(n_items, cfg, n_users)
        self.d_user = cfg.user_hidden
        self.user_emb = nn.Embedding(n_users, cfg.user_hidden)
        nn.init.xavier_normal_(self.user_emb.weight)
        self.p_user, self.p_item = cfg.sse_user, cfg.sse_item

    @staticmethod
    def model_width(cfg) -> int:
        return cfg.hidden + cfg.user_hidden

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_emb(users) * math.sqrt(self.d_user)

    def encode(self, seq: torch.Tensor, users: torch.Tensor, noise: Noise | None = None) -> torch.Tensor:
        """Item ids [B, W] and user ids [B] -> ``[h | u]``, [B, W, D + d_u] (see module doc)."""
        noise = self._noise(seq, noise)
        if self.training:
            seq, users = sse_replace(seq, users, self.p_user, self.p_item, self.n_items, self.n_users, noise,
                                     self.maxlen)
        B, W = seq.shape
        u = self.user_vectors(users)[:, None].expand(B, W, self.d_user)
        x = self.inputs_at(seq, u, self.window_positions(seq))
        return torch.cat([self.transform(x, seq > 0, noise), u], -1)

    def inputs_at(self, items: torch.Tensor, u: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """``[E[item] * sqrt(d) | u] + P[pos]``: the blocks' inputs, width D."""
        return torch.cat([self.item_emb(items) * math.sqrt(self.d), u], -1) + self.pos_emb(pos)

    def replace_ids(self, groups, noise: Noise):
        """The groups with SSE's replacements of their users and input items (``encode`` draws the
        same ones per group)."""
        out = []
        for g in groups:
            seq, users = sse_replace(g.inputs, g.users, self.p_user, self.p_item, self.n_items, self.n_users,
                                     noise.take(g.rows), self.maxlen)
            out.append(Group(users, seq, g.real, g.rows))
        return out

    def encode_tokens(self, pk) -> torch.Tensor:
        """``encode`` on packed tokens whose ids are already replaced (``replace_ids``): ``[h | u]``."""
        u = self.user_vectors(pk.users)[pk.seq()]
        return torch.cat([self.run_blocks(self.inputs_at(pk.items, u, pk.pos), pk), u], -1)

    def score(self, h: torch.Tensor, items: torch.Tensor, users=None) -> torch.Tensor:
        """``[h | u]`` [P, D + d_u] and candidates [P, C] -> ``h . concat(E[c], u)``, [P, C]."""
        d, D = self.d, self.width
        return gather_dot(self.item_emb.weight, h[:, :d], items) + (h[:, d:D] * h[:, D:]).sum(-1, keepdim=True)

    def score_all(self, h: torch.Tensor, users=None) -> torch.Tensor:
        d, D = self.d, self.width
        return h[:, :d] @ self.item_emb.weight[1:self.n_items + 1].T + (h[:, d:D] * h[:, D:]).sum(-1, keepdim=True)

    def l2_reg(self) -> torch.Tensor:
        return torch.norm(self.item_emb.weight) + torch.norm(self.user_emb.weight)
