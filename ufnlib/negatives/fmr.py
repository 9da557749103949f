"""False-negative mining and reversing (FMR, paper Section 3.2) as pure tensor functions.

The memory is keyed by train interaction (the target of a training position; see
``batches.NextItemData``) and held in tensors allocated once, so it never grows:

* ``rec_items[i, :rec_len[i]]`` -- N_rec of interaction i: the negatives recorded at its last
  visit, in candidate order. At the next visit they fill the first negative slots, random
  negatives the rest (paper Eq. 5).
* ``hist_items[i, k]`` / ``hist_count[i, k]`` -- how many times item ``hist_items[i, k]`` has been
  re-fed from the memory for interaction i (``K = slots`` entries per interaction).

Rules (reference code ``UFN_utils.py``, paper Algorithm 1 lines 11-13):

1. *Re-feed* (``inject``): every re-fed entry increments its counter; an entry whose counter is
   now greater than ``m`` is a mined false negative (N_false). The caller reverses it (label 1,
   ``ufn``/``fmr``), removes it (``removal``) or only regularises it (``fcr``).
2. *Record* (``record``): after the forward pass, N_rec of each visited interaction is replaced
   by its negatives whose logit is strictly greater than the positive's and whose label in this
   step was not 1 (a reversed item is therefore not re-recorded), and that the caller did not
   exclude (removed entries).
3. Counters: ``cumulative`` (reference, default) keeps an item's counter after it leaves N_rec;
   ``consecutive`` forgets it as soon as it is not re-recorded, so the counter is the number of
   consecutive visits the item was re-fed.

Processing order matches a sequential loop over batch positions, then over slots: an interaction
visited twice in one batch (users drawn with replacement) re-feeds the same N_rec twice and its
counters advance once per re-feed; an item recorded twice in one N_rec is counted twice; when
two positions of a batch record the same interaction, the later one wins.

Counters saturate at 255 (only ``count > m`` matters, and m <= 254 is checked).
Bound: cumulative counters are exact while an interaction has at most ``slots`` distinct re-fed
items. Past that, the entry re-fed longest ago is forgotten (entries whose counter already exceeds
``m`` are kept over those that do not); the number of such evictions is reported per epoch.
The reference keeps them all in a dictionary that grows by millions of keys per epoch.

Two implementations of ``inject`` and ``record``, with identical results (tests compare every
memory tensor): on the CPU, compiled sequential loops (``fmr_kernels``, numba) that walk the
positions and slots in the processing order above, with one pass over an interaction's history
row per visit; elsewhere (a GPU), or without numba, the same rules as batched tensor operations
(sorts and searches over the whole batch). ``backend="torch"`` forces the second on the CPU.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.compiled import HAVE_NUMBA, numba_module

INT = torch.int64


def compiled_kernels(module: str, backend: str, device: torch.device):
    """The numba module ``ufnlib.<module>`` if ``backend`` asks for it ("numba") or allows it
    ("auto": on a CPU, when numba is installed); None for the batched tensor implementation."""
    if backend not in ("auto", "numba", "torch"):
        raise ValueError(f"backend must be auto, numba or torch, got {backend!r}")
    if backend == "numba" and (not HAVE_NUMBA or device.type != "cpu"):
        raise ValueError("backend='numba' needs the numba package and a CPU memory")
    if backend == "numba" or (backend == "auto" and HAVE_NUMBA and device.type == "cpu"):
        return numba_module(f"{__package__}.{module}")
    return None


class FMRMemory:
    def __init__(self, n_inter: int, n_neg: int, n_items: int, m: int, slots: int | None = None,
                 count_mode: str = "cumulative", device="cpu", backend: str = "auto"):
        slots = slots or 2 * n_neg
        if slots < n_neg:
            raise ValueError(f"memory slots ({slots}) must be >= n_neg ({n_neg})")
        if count_mode not in ("cumulative", "consecutive"):
            raise ValueError(f"count_mode must be cumulative or consecutive, got {count_mode}")
        self.n_inter, self.n, self.n_items, self.m, self.K = n_inter, n_neg, n_items, m, slots
        self.count_mode = count_mode
        dev = torch.device(device)
        # compact storage: item ids in int16 where the catalogue fits, counters saturate at 255
        self.item_dtype = torch.int16 if n_items < 2**15 else torch.int32
        self.rec_items = torch.zeros(n_inter, n_neg, dtype=self.item_dtype, device=dev)
        self.rec_len = torch.zeros(n_inter, dtype=torch.int16, device=dev)
        self.hist_items = torch.zeros(n_inter, slots, dtype=self.item_dtype, device=dev)
        self.hist_count = torch.zeros(n_inter, slots, dtype=torch.uint8, device=dev)
        self.hist_last = torch.zeros(n_inter, slots, dtype=torch.int32, device=dev)   # step of last re-feed
        self.step = 0
        self.evictions = 0
        self.kernel = compiled_kernels("fmr_kernels", backend, dev)
        if self.kernel is not None:
            self._mark = np.full(n_items + 1, -1, dtype=np.int64)   # scratch for the kernels

    # ------------------------------------------------------------------------------ state
    def tensors(self) -> dict:
        return {k: getattr(self, k) for k in ("rec_items", "rec_len", "hist_items", "hist_count", "hist_last")}

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

    def state_dict(self) -> dict:
        return {**self.tensors(), "step": self.step, "evictions": self.evictions}

    def load_state_dict(self, st: dict) -> None:
        for k, t in self.tensors().items():
            t.copy_(st[k])
        self.step, self.evictions = st["step"], st["evictions"]

    # ------------------------------------------------------------------------------ re-feed
    def inject(self, inter: torch.Tensor, negs: torch.Tensor):
        """Fill the first slots of each position's negatives with its N_rec and count re-feeds.

        inter: [P] interaction ids; negs: [P, n] random negatives (modified copy returned).
        Returns ``(negs, refed, counts)``: refed [P, n] bool marks re-fed slots; counts [P, n]
        the counter of that entry after this re-feed (0 where not re-fed).
        """
        self.step += 1
        if self.kernel is not None:
            negs = negs.clone()
            refed = torch.zeros(negs.shape, dtype=torch.bool)
            counts = torch.zeros(negs.shape, dtype=INT)
            self.evictions += self.kernel.inject(
                inter.to(INT).numpy(), negs.numpy(), refed.numpy(), counts.numpy(),
                *(t.numpy() for t in self.tensors().values()), self.step, self.m, self._mark)
            return negs, refed, counts
        P, n = negs.shape
        dev = negs.device
        counts = torch.zeros(P, n, dtype=INT, device=dev)
        refed = torch.zeros(P, n, dtype=torch.bool, device=dev)
        if P == 0:
            return negs, refed, counts
        L = self.rec_len[inter].to(INT)
        w = int(L.max())
        if w == 0:
            return negs, refed, counts
        R = self.rec_items[inter, :w].to(INT)                           # [P, w]
        ref = torch.arange(w, device=dev)[None, :] < L[:, None]
        negs = negs.clone()
        negs[:, :w] = torch.where(ref, R, negs[:, :w])
        refed[:, :w] = ref
        # events = re-fed entries in processing order (position-major, then slot)
        ev_p, ev_s = ref.nonzero(as_tuple=True)
        ev_i = inter[ev_p].to(INT)
        ev_item = R[ev_p, ev_s]
        key = ev_i * (self.n_items + 1) + ev_item
        skey, order = torch.sort(key, stable=True)
        ukey, inv_sorted, gsize = torch.unique_consecutive(skey, return_inverse=True, return_counts=True)
        gstart = torch.cumsum(gsize, 0) - gsize
        rank = torch.arange(len(skey), device=dev) - gstart[inv_sorted]           # occurrence rank within key
        u_i = ukey // (self.n_items + 1)
        u_item = ukey % (self.n_items + 1)
        slot = self._slots_for(u_i, u_item)                            # [Q] slot of each key
        base = self.hist_count[u_i, slot].to(INT)
        new_total = base + gsize
        self.hist_count[u_i, slot] = new_total.clamp(max=255).to(torch.uint8)
        self.hist_last[u_i, slot] = self.step
        ev_count = torch.empty_like(key)
        ev_count[order] = base[inv_sorted] + rank + 1
        counts[ev_p, ev_s] = ev_count
        return negs, refed, counts

    def _slots_for(self, u_i: torch.Tensor, u_item: torch.Tensor) -> torch.Tensor:
        """Slot of each (interaction, item) key in the history table, allocating new ones.
        Keys arrive sorted by (interaction, item) and distinct."""
        n1 = self.n_items + 1
        dev = u_i.device
        ints, inv = torch.unique_consecutive(u_i, return_inverse=True)
        Hi = self.hist_items[ints].to(INT)                              # [U, K]
        # match the filled slots against the keys, which are already sorted (no sort needed):
        # each filled slot looks its (row, item) up among the keys; an item occupies at most one
        # slot of its interaction, so each key receives at most one slot
        q = inv * n1 + u_item                                           # sorted, distinct
        r, c = (Hi > 0).nonzero(as_tuple=True)
        sk = r * n1 + Hi[r, c]
        pos = torch.searchsorted(q, sk).clamp_(max=len(q) - 1)
        hit = q[pos] == sk
        slot = torch.full_like(q, -1)
        slot[pos[hit]] = c[hit]
        found = slot >= 0
        new = ~found
        if bool(new.any()):
            # per interaction: free slots first, then the least recently re-fed entries whose
            # counter does not exceed m, then the rest; slots matched in this step are taken
            rows, r_inv = torch.unique(inv[new], return_inverse=True)   # interactions with new keys
            Hr = Hi[rows]
            prio = torch.where(Hr == 0, torch.full_like(Hr, -1),
                               self.hist_last[ints[rows]].to(INT)
                               + (self.hist_count[ints[rows]].to(INT) > self.m).to(INT) * (1 << 40))
            row_of = torch.full((len(ints),), -1, dtype=INT, device=dev)
            row_of[rows] = torch.arange(len(rows), device=dev)
            fr = row_of[inv[found]]
            keep = fr >= 0
            prio[fr[keep], slot[found][keep]] = 1 << 50                # taken this step
            order = torch.argsort(prio, dim=1, stable=True)
            # rank of each new key among the new keys of its interaction (keys arrive grouped)
            cnt_new = torch.bincount(r_inv, minlength=len(rows))
            start = torch.cumsum(cnt_new, 0) - cnt_new
            r = torch.arange(len(r_inv), device=dev) - start[r_inv]
            s_new = order[r_inv, r]
            tgt_i = ints[rows][r_inv]
            old = self.hist_items[tgt_i, s_new]
            self.evictions += int((old != 0).sum())
            self.hist_items[tgt_i, s_new] = u_item[new].to(self.item_dtype)
            self.hist_count[tgt_i, s_new] = 0
            slot = slot.clone()
            slot[new] = s_new
        return slot

    # ------------------------------------------------------------------------------ record
    def record(self, inter: torch.Tensor, cands: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """Replace N_rec of each visited interaction (see rule 2). Column 0 of ``cands``,
        ``logits``, ``labels`` is the positive. Returns the recorded mask [P, n]."""
        neg_logits = logits[:, 1:]
        mask = (neg_logits > logits[:, :1]) & (labels[:, 1:] != 1)
        if exclude is not None:
            mask &= ~exclude
        P = len(inter)
        if P == 0:
            return mask
        if self.kernel is not None:
            self.kernel.record(inter.to(INT).numpy(), cands.to(INT).numpy(), mask.numpy(),
                               *(t.numpy() for t in self.tensors().values()),
                               self.count_mode == "consecutive", self._mark)
            return mask
        # the last position of each interaction wins
        pos = torch.arange(P, device=inter.device)
        last = torch.full((self.n_inter,), -1, dtype=INT, device=inter.device).scatter_reduce(
            0, inter.to(INT), pos, reduce="amax")
        rows = pos[last[inter.to(INT)] == pos]
        mk = mask[rows]
        items = cands[rows, 1:]
        idx = torch.argsort((~mk).to(torch.int8), dim=1, stable=True)
        keep = mk.gather(1, idx)
        comp = torch.where(keep, items.gather(1, idx), torch.zeros_like(items))
        ii = inter[rows].to(INT)
        self.rec_items[ii] = comp.to(self.item_dtype)
        lens = keep.sum(1)
        self.rec_len[ii] = lens.to(torch.int16)
        if self.count_mode == "consecutive":
            w = max(int(lens.max()), 1)
            H = self.hist_items[ii].to(INT)
            stay = (H[:, :, None] == comp[:, None, :w].to(INT)).any(-1) & (H != 0)
            self.hist_items[ii] = torch.where(stay, H, 0).to(self.item_dtype)
            self.hist_count[ii] = torch.where(stay, self.hist_count[ii], torch.zeros_like(self.hist_count[ii]))
        return mask

    # ------------------------------------------------------------------------------ views
    def n_false(self) -> int:
        """Number of (interaction, item) entries whose counter exceeds m (size of N_false)."""
        return int(torch.count_nonzero(self.hist_count > self.m))   # (a bool .sum() copies to int64)

    def false_negatives(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(interaction, item) pairs whose counter exceeds m: the current N_false."""
        i, k = (self.hist_count > self.m).nonzero(as_tuple=True)    # (no int64 copy of the table)
        return i, self.hist_items[i, k].to(INT)
