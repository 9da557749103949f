"""SRNS's variance rule as a false-negative detector (paper Section 4.6, Table 4).

SRNS (Ding et al., NeurIPS 2020) keeps per user a memory of S1 hard candidate negatives,
refreshed by sampling from memory + fresh random candidates with softmax(score / tau), and
tracks p = P(negative outranks positive) of each candidate over the last 5 epochs; its false
negatives are the candidates with a high p and a *low* standard deviation. UFNRec's Table 4 uses
that rule as a detector, in place of FMR's "re-fed more than m times". Here, per train
interaction (the key of ``fmr.FMRMemory``), in tensors allocated once:

* ``items[i, :S1]`` -- the tracked candidates of interaction i (0 = empty slot, filled slots first);
* ``hist[i, k, :T]`` / ``obs[i, k]`` -- ring buffer of the last T scores of candidate k and how
  many it has seen (kept in [0, 2T): ``obs % T`` is the next write, ``obs >= T`` means full);
* ``fn_items[i, :F]`` -- N_false of interaction i: pairs flagged so far, first in first out.

Choices (each one a named rule below, tested against ``oracle.PlainSRNS``):

1. *Score*: ``p = sigmoid(logit_neg - logit_pos)`` (SRNS's outrank probability) of the same
   forward pass as the loss: the tracked candidates are fed as negatives, so no extra pass.
   One observation per visit; an interaction is visited once per epoch, so T visits ~ T epochs.
   Unlike SRNS (a separate scoring pass per epoch), the scores carry the training pass's dropout
   noise, which the variance rule sees as spread.
2. *Rule* (``variance_rule``): a candidate with a full history (T = ``srns_t`` = 5 visits, SRNS's
   5 epochs, this visit's score included) is a false negative when
   ``mean(p) - alpha * std(p) > 1/2`` (population std, as SRNS): it outranks the positive on
   average by a margin of alpha standard deviations, i.e.
   high score and low variance. alpha = ``srns_alpha`` = 5 is SRNS's weight of std (SRNS samples
   argmax p + alpha * std, the high-variance hard negatives; the false negatives it avoids are
   the high-p, low-std ones). With p in [0, 1] it needs std < (mean - 1/2) / 5 <= 0.1. SRNS's
   50-epoch ramp of alpha is replaced by the trainer's warm-up plus the T-visit history.
3. *Where the rule looks*: ``srns_*``/``ufn_srns``: the S1 tracked candidates, injected in the
   first S1 negative slots (random negatives fill the rest). ``*_rec``: inside N_rec of an
   ``FMRMemory`` -- the tracked candidates are drawn from the entries just recorded into N_rec, so
   they are re-fed (and observed) at the next visit; a candidate leaves when it leaves N_rec.
4. *Refresh* (``refresh``), once per visit after the step: S1 candidates are drawn without
   replacement from the pool (tracked + this step's random negatives; ``*_rec``: the entries
   recorded into N_rec) with probability softmax(logit / tau) (Gumbel-top-k, noise from the
   sampler's generator so resume is exact). All random negatives of the step are the fresh
   candidates (S2 = n - S1; they are scored anyway). Flagged, label-1 and duplicate entries are
   not eligible. A kept candidate keeps its history, a new one starts empty, so a history fills
   only if the candidate survives T - 1 refreshes in a row, and tau sets that: tau = ``srns_tau``
   = 0.25 on the backbone's logits (SRNS: 10 on its MF scores, another scale; see docs/design.md).
   The share of tracked candidates kept per visit is reported per epoch (``srns_kept_share``),
   with the number of full histories (``srns_full``).
5. *What a flag does*, as FMR (fmr.py rules 1-2) so that Table 4 varies only the detector:
   flagged entries are reversed / removed / regularised by the strategy and leave the tracked
   set (a label-1 or removed entry is not re-recorded); the pair joins N_false, and an N_false
   item fed again from memory (tracked, or re-fed from N_rec) is flagged at once, as FMR's
   cumulative counters do. N_false holds F = S1 pairs per interaction (first in, first out; a
   pair is new if it was not in N_false at the start of the visit; evictions are counted).
   In the ``*_rec`` variants the FMR memory only supplies N_rec: its counters and m decide nothing.

Within a batch, positions are processed in order: an interaction visited twice (users drawn with
replacement) is fed the same candidates twice and its histories advance twice; the later
position's refresh wins (as ``FMRMemory.record``).
"""
from __future__ import annotations

import numpy as np
import torch

from .fmr import compiled_kernels

INT = torch.int64


def outrank_prob(neg_logits: torch.Tensor, pos_logits: torch.Tensor) -> torch.Tensor:
    """SRNS's score: p = sigmoid(logit_neg - logit_pos), the probability that the negative
    outranks the positive (computed in float64, stored in float32)."""
    return torch.sigmoid(neg_logits.double() - pos_logits.double()).float()


def variance_rule(hist: torch.Tensor, alpha: float) -> torch.Tensor:
    """Flag of each full history ``hist[..., T]``: ``mean - alpha * std > 1/2`` (population std)."""
    h = hist.double()
    mean = h.mean(-1)
    std = (h - mean[..., None]).pow(2).mean(-1).sqrt()
    return mean - alpha * std > 0.5


def gumbel(shape, generator: torch.Generator) -> torch.Tensor:
    """Standard Gumbel noise (float64); top-k of logit / tau + noise samples k items without
    replacement with probability softmax(logit / tau)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64).clamp_(min=1e-300)
    return -torch.log(-torch.log(u))


def occurrence_rank(inter: torch.Tensor) -> torch.Tensor:
    """For each position, how many earlier positions of the batch have the same interaction."""
    key, order = torch.sort(inter.to(INT), stable=True)
    _, inv, size = torch.unique_consecutive(key, return_inverse=True, return_counts=True)
    start = torch.cumsum(size, 0) - size
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(key), device=key.device) - start[inv]
    return rank


def last_positions(inter: torch.Tensor, n_inter: int) -> torch.Tensor:
    """Positions that are the last visit of their interaction in the batch (ascending)."""
    pos = torch.arange(len(inter), device=inter.device)
    last = torch.full((n_inter,), -1, dtype=INT, device=inter.device).scatter_reduce(0, inter.to(INT), pos,
                                                                                     reduce="amax")
    return pos[last[inter.to(INT)] == pos]


def first_occurrence(items: torch.Tensor) -> torch.Tensor:
    """[R, n] bool: the column holds the first occurrence of its item in the row."""
    s, order = torch.sort(items, dim=1, stable=True)
    head = torch.ones_like(s, dtype=torch.bool)
    head[:, 1:] = s[:, 1:] != s[:, :-1]
    return torch.zeros_like(head).scatter_(1, order, head)


class SRNSMemory:
    """The tensors above. ``observe`` and ``refresh`` have two implementations with identical
    results (as ``fmr.FMRMemory``): compiled loops on the CPU (``srns_kernels``, numba), batched
    tensor operations elsewhere or with ``backend="torch"``."""

    def __init__(self, n_inter: int, s1: int, T: int, alpha: float, fn_slots: int | None = None,
                 device="cpu", backend: str = "auto"):
        self.n_inter, self.S1, self.T, self.alpha = n_inter, s1, T, alpha
        self.F = fn_slots or s1
        if self.F < s1:
            raise ValueError(f"N_false slots ({self.F}) must be >= S1 ({s1})")
        dev = torch.device(device)
        self.items = torch.zeros(n_inter, s1, dtype=torch.int32, device=dev)
        self.hist = torch.zeros(n_inter, s1, T, dtype=torch.float32, device=dev)
        self.obs = torch.zeros(n_inter, s1, dtype=torch.int16, device=dev)
        self.fn_items = torch.zeros(n_inter, self.F, dtype=torch.int32, device=dev)
        self.fn_next = torch.zeros(n_inter, dtype=torch.int16, device=dev)
        self.evictions = 0                 # N_false pairs forgotten (table full)
        self.offered = self.kept = 0       # tracked candidates at refreshes / kept (reset by caller)
        self.kernel = compiled_kernels("srns_kernels", backend, dev)
        if self.kernel is not None:
            self._mark = np.full(n_inter, -1, dtype=np.int64)      # scratch for ``refresh``
            self._item_mark = np.full(0, -1, dtype=np.int64)        # grown to the largest item id

    # ------------------------------------------------------------------------------ state
    def tensors(self) -> dict:
        return {k: getattr(self, k) for k in ("items", "hist", "obs", "fn_items", "fn_next")}

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

    def state_dict(self) -> dict:
        return {**self.tensors(), "evictions": self.evictions}

    def load_state_dict(self, st: dict) -> None:
        for k, t in self.tensors().items():
            t.copy_(st[k])
        self.evictions = st["evictions"]

    # ------------------------------------------------------------------------------ feed
    def inject(self, inter: torch.Tensor, negs: torch.Tensor):
        """Put the tracked candidates in the first slots of each position's negatives.
        Returns ``(negs, fed)``: a modified copy and [P, n] bool of the slots filled from memory."""
        P, n = negs.shape
        k = min(self.S1, n)
        tr = self.items[inter.to(INT), :k].to(INT)
        fed = torch.zeros(P, n, dtype=torch.bool, device=negs.device)
        fed[:, :k] = tr != 0
        negs = negs.clone()
        negs[:, :k] = torch.where(fed[:, :k], tr, negs[:, :k])
        return negs, fed

    def locate(self, inter: torch.Tensor, negs: torch.Tensor, fed: torch.Tensor) -> torch.Tensor:
        """[P, S1] column holding each tracked candidate (first among the ``fed`` slots), -1 if none."""
        tr = self.items[inter.to(INT)].to(INT)
        eq = (negs.to(INT)[:, None, :] == tr[:, :, None]) & fed[:, None, :] & (tr != 0)[:, :, None]
        col = eq.to(torch.int8).argmax(-1)
        return torch.where(eq.any(-1), col, torch.full_like(col, -1))

    # ------------------------------------------------------------------------------ observe
    def observe(self, inter: torch.Tensor, negs: torch.Tensor, logits: torch.Tensor,
                fed: torch.Tensor) -> torch.Tensor:
        """Push this visit's score of every tracked candidate, apply the rule, update N_false.

        negs [P, n]; logits [P, 1 + n] (column 0 = the positive); fed [P, n] slots filled from
        memory. Returns flags [P, n]: variance-rule hits, plus fed slots already in N_false."""
        P, n = negs.shape
        flags = torch.zeros(P, n, dtype=torch.bool, device=negs.device)
        if P == 0:
            return flags
        T = self.T
        negs = negs.to(INT)
        p = outrank_prob(logits[:, 1:], logits[:, :1])
        if self.kernel is not None:
            self.evictions += self.kernel.observe(
                inter.to(INT).numpy(), negs.numpy(), p.detach().numpy(), fed.numpy(), flags.numpy(),
                self.items.numpy(), self.hist.numpy(), self.obs.numpy(), self.fn_items.numpy(),
                self.fn_next.numpy(), float(self.alpha))
            return flags
        cols = self.locate(inter, negs, fed)
        rank = occurrence_rank(inter)
        for r in range(int(rank.max()) + 1):      # rounds: at most one visit per interaction
            rows = (rank == r).nonzero(as_tuple=True)[0]
            ii = inter[rows].to(INT)
            ng = negs[rows]
            fn = self.fn_items[ii].to(INT)                                      # [R, F]
            in_fn = (ng[:, :, None] == fn[:, None, :]).any(-1)
            member = in_fn & fed[rows]
            c = cols[rows]
            ok = c >= 0
            v = p[rows].gather(1, c.clamp(min=0))                               # [R, S1]
            o = self.obs[ii].to(INT)
            w = (o % T)[..., None]
            H = self.hist[ii]
            H.scatter_(2, w, torch.where(ok, v, H.gather(2, w).squeeze(-1))[..., None])
            o2 = torch.where(ok, o + 1, o)
            o2 = torch.where(o2 >= 2 * T, o2 - T, o2)
            self.hist[ii] = H
            self.obs[ii] = o2.to(torch.int16)
            hit = ok & (o2 >= T) & variance_rule(H, self.alpha)                 # [R, S1]
            rule = torch.zeros_like(member)
            hr, hk = hit.nonzero(as_tuple=True)
            rule[hr, c[hr, hk]] = True
            flags[rows] = member | rule
            # N_false: new pairs appended in column order, oldest evicted when full
            new = rule & ~in_fn
            cnt = new.sum(1)
            if bool(cnt.any()):
                order = torch.argsort((~new).to(torch.int8), dim=1, stable=True)[:, :self.S1]
                take = torch.arange(order.shape[1], device=order.device)[None, :] < cnt[:, None]
                nr, nk = take.nonzero(as_tuple=True)
                item = ng[nr, order[nr, nk]]
                slot = (self.fn_next[ii[nr]].to(INT) + nk) % self.F
                self.evictions += int((self.fn_items[ii[nr], slot] != 0).sum())
                self.fn_items[ii[nr], slot] = item.to(torch.int32)
                self.fn_next[ii] = ((self.fn_next[ii].to(INT) + cnt) % self.F).to(torch.int16)
        return flags

    # ------------------------------------------------------------------------------ refresh
    def refresh(self, inter: torch.Tensor, negs: torch.Tensor, logits: torch.Tensor,
                eligible: torch.Tensor, noise: torch.Tensor, tau: float) -> torch.Tensor:
        """Draw the new tracked set of each visited interaction (its last position in the batch):
        S1 of the eligible first occurrences, without replacement, by softmax(logit / tau)
        (Gumbel-top-k with ``noise`` [P, n]); kept candidates keep their history.
        Returns [P, n] bool: the columns that form the new tracked sets."""
        P, n = negs.shape
        sel = torch.zeros(P, n, dtype=torch.bool, device=negs.device)
        if P == 0:
            return sel
        if self.kernel is not None:
            ng = negs.to(INT)
            top = int(ng.max()) + 1
            if top > len(self._item_mark):
                self._item_mark = np.full(top, -1, dtype=np.int64)
            offered, kept = self.kernel.refresh(
                inter.to(INT).numpy(), ng.numpy(), logits.detach().float().numpy(),
                eligible.numpy(), noise.double().numpy(), float(tau), sel.numpy(),
                self.items.numpy(), self.hist.numpy(), self.obs.numpy(), self._mark, self._item_mark)
            self.offered += offered
            self.kept += kept
            return sel
        rows = last_positions(inter, self.n_inter)
        ii = inter[rows].to(INT)
        ng = negs[rows].to(INT)
        cand = eligible[rows] & first_occurrence(ng)
        key = logits[rows, 1:].double() / tau + noise[rows]
        key = key.masked_fill(~cand, float("-inf"))
        k = min(self.S1, n)
        top, idx = key.topk(k, dim=1)
        idx = torch.where(top > float("-inf"), idx, torch.full_like(idx, n)).sort(1).values
        valid = idx < n
        new_items = torch.where(valid, ng.gather(1, idx.clamp(max=n - 1)), torch.zeros_like(idx))
        old = self.items[ii].to(INT)                                           # [R, S1]
        match = (new_items[:, :, None] == old[:, None, :]) & valid[:, :, None]  # [R, k, S1]
        has = match.any(-1)
        src = match.to(torch.int8).argmax(-1)
        H = self.hist[ii].gather(1, src[..., None].expand(-1, -1, self.T))
        H = torch.where(has[..., None], H, torch.zeros_like(H))
        O = torch.where(has, self.obs[ii].gather(1, src), torch.zeros_like(src, dtype=torch.int16))
        self.offered += int((old != 0).sum())
        self.kept += int(has.sum())
        self.items[ii] = 0
        self.hist[ii] = 0
        self.obs[ii] = 0
        self.items[ii, :k] = new_items.to(torch.int32)
        self.hist[ii, :k] = H
        self.obs[ii, :k] = O
        vr, vk = valid.nonzero(as_tuple=True)
        sel[rows[vr], idx[vr, vk]] = True
        return sel

    # ------------------------------------------------------------------------------ views
    def n_false(self) -> int:
        """Number of (interaction, item) entries in N_false."""
        return int(torch.count_nonzero(self.fn_items))

    def false_negatives(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(interaction, item) pairs of N_false."""
        i, k = (self.fn_items != 0).nonzero(as_tuple=True)
        return i, self.fn_items[i, k].to(INT)

    def history(self, i: int, k: int) -> list[float]:
        """Scores of tracked slot k of interaction i, oldest first (for tests and notebooks)."""
        o, T = int(self.obs[i, k]), self.T
        h = self.hist[i, k].tolist()
        return h[:o] if o < T else h[o % T:] + h[:o % T]

    def summary(self) -> dict:
        """Per-epoch view: mean tracked candidates per interaction that has any, tracked
        candidates with a full history, share of tracked candidates kept by the refreshes."""
        filled = self.items != 0
        n = filled.sum(1)
        return {"srns_tracked_mean": float(n[n > 0].double().mean()) if bool((n > 0).any()) else 0.0,
                "srns_full": int((filled & (self.obs >= self.T)).sum()),
                "srns_kept_share": self.kept / self.offered if self.offered else None}
