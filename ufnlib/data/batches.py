"""Training tensors, batches and the negative sampler (all vectorised, built once per run).

Every train interaction that is a training target has a fixed integer id (its index in
``Split.train_items``), so per-interaction state (the FMR memory, SRNS histories) lives in
bounded tensors indexed by that id.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .compiled import numba_module
from .datasets import DataError, Split


def left_pad(starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """Index rows ``starts[u]:ends[u]`` (into a flat item array) truncated to the last ``width``
    and left-padded: the padded matrix of *indices into the item array* (-1 = padding)."""
    n = len(starts)
    lens = np.minimum(ends - starts, width)
    idx = np.full((n, width), -1, dtype=np.int64)
    col = np.arange(width)
    first = width - lens                       # first real column
    real = col[None, :] >= first[:, None]
    src = (ends - lens)[:, None] + (col[None, :] - first[:, None])
    idx[real] = src[real]
    return idx


@dataclass
class Group:
    users: torch.Tensor      # [b] user indices
    inputs: torch.Tensor     # [b, W] item ids (0 = padding), W <= maxlen
    real: torch.Tensor       # [b, W] bool, positions scored in the loss
    rows: torch.Tensor       # [b] each row's index in the batch's user order (``layers.Noise``)

    def to(self, device) -> "Group":
        return Group(self.users.to(device), self.inputs.to(device), self.real.to(device), self.rows.to(device))


@dataclass
class TrainBatch:
    """One batch of users, encoded in groups of similar length (identical results to encoding
    the whole batch in one padded window, with far less padding). Scored positions are listed
    group by group, row-major within a group."""
    groups: list[Group]
    targets: torch.Tensor    # [P] positive item per scored position
    inter: torch.Tensor      # [P] train-interaction id of that target (memory key)
    pos_users: torch.Tensor  # [P] user of each scored position

    def to(self, device) -> "TrainBatch":
        """A copy on ``device`` (built on the CPU, where the samplers' generators live)."""
        return TrainBatch([g.to(device) for g in self.groups], self.targets.to(device),
                          self.inter.to(device), self.pos_users.to(device))


def length_groups(lengths: np.ndarray, overhead: float = 300.0) -> list[np.ndarray]:
    """Split rows into groups of similar length, minimising padded tokens + ``overhead`` per
    group (a dynamic programme over the sorted distinct lengths). Returns row indices."""
    order = np.argsort(lengths, kind="stable")
    ls = lengths[order]
    ends = np.flatnonzero(np.diff(ls)) + 1              # candidate cut points
    cuts = np.concatenate([[0], ends, [len(ls)]])
    k = len(cuts)
    best = np.full(k, np.inf)
    best[0] = 0.0
    prev = np.zeros(k, dtype=np.int64)
    for j in range(1, k):
        for i in range(j):
            c = best[i] + (cuts[j] - cuts[i]) * ls[cuts[j] - 1] + overhead
            if c < best[j]:
                best[j], prev[j] = c, i
    out, j = [], k - 1
    while j > 0:
        i = prev[j]
        out.append(order[cuts[i]:cuts[j]])
        j = i
    return out[::-1]


class NextItemData:
    """SASRec-style training examples: input = train[:-1], target at each position = next item,
    right-aligned in a window of ``maxlen``."""

    def __init__(self, split: Split, maxlen: int):
        off = split.train_offsets
        starts, ends = off[:-1], off[1:]
        # inputs are train[:-1] -> indices start .. end-1 ; targets train[1:] -> start+1 .. end
        ok = (ends - starts) >= 2
        self.train_users = np.flatnonzero(ok)
        tgt_idx = left_pad(starts + 1, ends, maxlen)
        inp_idx = np.where(tgt_idx >= 0, tgt_idx - 1, -1)
        items = split.train_items
        self.inputs = torch.from_numpy(np.where(inp_idx >= 0, items[np.maximum(inp_idx, 0)], 0))
        self.targets = torch.from_numpy(np.where(tgt_idx >= 0, items[np.maximum(tgt_idx, 0)], 0))
        self.inter = torch.from_numpy(tgt_idx)            # -1 = padding
        self.lengths = torch.from_numpy((tgt_idx >= 0).sum(1))
        self.n_inter = len(items)
        self.n_items = split.n_items
        self.inter_user = torch.from_numpy(np.repeat(np.arange(split.n_users), np.diff(off)))
        self.maxlen = maxlen

    def batch(self, users: torch.Tensor, trim: bool = True) -> TrainBatch:
        """``trim=False``: one group in the full ``maxlen`` window (the reference's layout)."""
        lens = self.lengths[users].numpy()
        parts = length_groups(lens) if trim else [np.arange(len(users))]
        groups, tg, it, pu = [], [], [], []
        for rows in parts:
            r = torch.from_numpy(rows)
            u = users[r]
            w = max(int(lens[rows].max()), 1) if trim else self.maxlen
            tgt = self.targets[u, -w:]
            real = tgt > 0
            groups.append(Group(u, self.inputs[u, -w:], real, r))
            tg.append(tgt[real])
            it.append(self.inter[u, -w:][real])
            pu.append(u[:, None].expand_as(tgt)[real])
        return TrainBatch(groups, torch.cat(tg), torch.cat(it), torch.cat(pu))


def membership_keys(split: Split, which: str = "train") -> torch.Tensor:
    """Sorted keys ``user * (n_items + 1) + item`` of (user, item) pairs to exclude: ``train``
    (the user's training items), ``train+heldout`` (those and the user's validation and test
    items) or ``all`` (every item of the user's sequence)."""
    n1 = split.n_items + 1
    if which in ("train", "train+heldout"):
        u = np.repeat(np.arange(split.n_users), np.diff(split.train_offsets))
        keys = u * n1 + split.train_items
        if which == "train+heldout":
            users = np.arange(split.n_users)
            held = [users[split.valid > 0] * n1 + split.valid[split.valid > 0],
                    users[split.test > 0] * n1 + split.test[split.test > 0]]
            keys = np.concatenate([keys, *held])
    elif which == "all":
        s = split.seqs
        u = np.repeat(np.arange(s.n_users), s.lengths)
        keys = u * n1 + s.items
    else:
        raise ValueError(which)
    return torch.from_numpy(np.unique(keys))


def is_member(keys: torch.Tensor, users: torch.Tensor, items: torch.Tensor, n_items: int) -> torch.Tensor:
    q = users * (n_items + 1) + items
    pos = torch.searchsorted(keys, q).clamp_(max=len(keys) - 1)
    return keys[pos] == q


def training_keys(split: Split, cfg) -> torch.Tensor:
    """The (user, item) pairs a run's training negatives avoid: the user's training items, and
    with ``cfg.exclude_heldout`` also the user's validation and test items."""
    return membership_keys(split, "train+heldout" if cfg.exclude_heldout else "train")


class NegativeSampler:
    """Uniform negatives over items 1..n_items, rejection-sampled so that none is an excluded
    (user, item) pair (by default: none is in the user's training items).

    On the CPU with numba installed, membership is tested per user (``sampler_kernels``) instead
    of by ``is_member``'s binary search over all keys: the same answers, so the same draws."""

    def __init__(self, keys: torch.Tensor, n_items: int, generator: torch.Generator):
        self.keys, self.n_items, self.g = keys, n_items, generator
        self.kernel = numba_module(f"{__package__}.sampler_kernels")
        if self.kernel is not None:
            k = keys.numpy()
            n1 = n_items + 1
            users = k // n1
            n_users = int(users[-1]) + 1 if len(k) else 0
            self._offsets = np.searchsorted(users, np.arange(n_users + 1)).astype(np.int64)
            self._items = (k % n1).astype(np.int64)
            self._mark = np.zeros(n1, dtype=np.int64)      # scratch of the kernel
            self._stamp = 0

    def excluded(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, int]:
        """([P, C] bool: is ``items[p, c]`` excluded for user ``users[p]``?, how many are);
        ``users`` [P] on the CPU."""
        if self.kernel is None:
            bad = is_member(self.keys, users[:, None].expand_as(items), items, self.n_items)
            return bad, int(bad.sum())
        out = torch.empty(items.shape, dtype=torch.bool)
        self._stamp, n_bad = self.kernel.member(users.numpy(), items.contiguous().numpy(), self._offsets,
                                                self._items, self._mark, self._stamp, out.numpy())
        return out, n_bad

    def sample(self, users: torch.Tensor, n: int) -> torch.Tensor:
        """``[len(users), n]`` negatives; ``users`` is one user per row. Drawn on the CPU
        generator whatever the device of ``users`` (so a run's negatives do not depend on it),
        returned on the device of ``users``. An excluded draw is drawn again, all of them at
        once in row-major order, until none is left."""
        if users.device.type != "cpu":
            return self.sample(users.cpu(), n).to(users.device)
        users = users.contiguous()
        out = torch.randint(1, self.n_items + 1, (len(users), n), generator=self.g)
        bad, n_bad = self.excluded(users, out)
        if n_bad:
            self._check_has_negatives(users[bad.any(1)])
            flat, view = bad.view(-1).nonzero()[:, 0], out.view(-1)
            while len(flat):
                view[flat] = torch.randint(1, self.n_items + 1, (len(flat),), generator=self.g)
                flat = flat[self.excluded(users[flat // n], view[flat][:, None])[0][:, 0]]
        return out

    def _check_has_negatives(self, users: torch.Tensor) -> None:
        """Rejection sampling would loop forever for a user whose every item is excluded."""
        n1 = self.n_items + 1
        u = torch.unique(users)
        n_excluded = (torch.searchsorted(self.keys, u * n1 + self.n_items, right=True)
                      - torch.searchsorted(self.keys, u * n1 + 1))
        full = u[n_excluded >= self.n_items]
        if len(full):
            raise DataError(
                f"user(s) {full[:5].tolist()} (0-based indices) interacted with every item of the "
                f"catalogue (n_items={self.n_items}), so no negative can be drawn for them. Fix: "
                f"use a larger catalogue or drop those users.")

