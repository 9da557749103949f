"""K runs' weights in stacked tensors: the arithmetic of a bundle (``bundle.Bundle``).

Every ``Linear``, ``LayerNorm`` and ``Embedding`` of a backbone holds the K runs' parameters
with a leading run dimension (``StackedLinear`` etc.), applied to inputs whose rows come run
after run; each run's own module holds *views* of its slices (``bind_views``), so its optimizer,
teacher, evaluation and checkpoints are the single run's. ``StackedWeights`` is the weights
object of ``algorithm1.train_step`` for such a stack (the interface: ``weights.py``):

* ``logits``: each run's batch goes into a window layout (its rows right-aligned in ``maxlen``
  columns); the rows are sorted by length and cut into ``chunks`` equal parts, and part c of
  every run is encoded in one call of width ``W_c``, the longest row of that part over all runs
  (right-aligned windows give the same outputs at any width). Each row draws its dropout from
  its own run's seed and its index in its own batch (``layers.Noise``), so the masks are the
  single run's.
* ``teacher_logits``: the same layout through the stacked teachers, only the entries that a
  run's consistency loss reads scored.
* ``backward``: the sum of the K losses' gradients; run k's slice of each stacked gradient
  becomes the gradient of run k's own parameters, for its own ``torch.optim.Adam``.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.layers import Noise


class BundleError(ValueError):
    """Configs that cannot share a bundle. The message names the field and the fix."""


# ---------------------------------------------------------------------------- stacked layers
class _Stacked(nn.Module):
    """A layer holding K runs' parameters, applied to inputs whose leading dimension is K x n rows
    (run k's rows k-th). ``k`` changes when runs leave (``Bundle`` rebuilds the stacks)."""
    k: int


class StackedLinear(_Stacked):
    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        self.k = len(layers)
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))   # [K, out, in]
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]))       # [K, out]

    def forward(self, x):
        y = torch.baddbmm(self.bias[:, None, :], x.reshape(self.k, -1, x.shape[-1]), self.weight.transpose(1, 2))
        return y.view(*x.shape[:-1], y.shape[-1])


class StackedLayerNorm(_Stacked):
    def __init__(self, layers: list[nn.LayerNorm]):
        super().__init__()
        self.k, self.eps = len(layers), layers[0].eps
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))   # [K, F]
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]))

    def forward(self, x):
        y = F.layer_norm(x, x.shape[-1:], eps=self.eps).reshape(self.k, -1, x.shape[-1])
        return torch.addcmul(self.bias[:, None], y, self.weight[:, None]).view(x.shape)


class StackedEmbedding(_Stacked):
    """K tables one after the other, ``weight`` [K * n, d]: run k's id i is row ``k * n + i``."""

    def __init__(self, layers: list[nn.Embedding]):
        super().__init__()
        self.k, self.n = len(layers), layers[0].weight.shape[0]
        self.weight = nn.Parameter(torch.cat([m.weight.detach() for m in layers]))

    def offsets(self, rows: int, device) -> torch.Tensor:
        """[rows] the first table row of each input row's run (``rows`` = K x n input rows)."""
        return torch.arange(self.k, device=device).repeat_interleave(rows // self.k) * self.n

    def forward(self, idx):
        off = self.offsets(idx.shape[0], idx.device).view(-1, *[1] * (idx.dim() - 1))
        return F.embedding(idx + off, self.weight)


_STACKED = {nn.Linear: StackedLinear, nn.LayerNorm: StackedLayerNorm, nn.Embedding: StackedEmbedding}


def stack_modules(modules: list[nn.Module]) -> nn.Module:
    """One module computing all of ``modules`` (same architecture) at once: a copy of the first
    with every Linear, LayerNorm and Embedding replaced by its stacked form."""
    out = copy.deepcopy(modules[0])
    for name, m in list(out.named_modules()):
        kind = _STACKED.get(type(m))
        if kind is None:
            if any(True for _ in m.parameters(recurse=False)):
                raise BundleError(f"bundle: no stacked form of {type(m).__name__} ('{name}')")
            continue
        parent, _, attr = name.rpartition(".")
        setattr(out.get_submodule(parent), attr, kind([mod.get_submodule(name) for mod in modules]))
    return out


def slices(stacked: nn.Module, k: int, like: nn.Module) -> dict[str, torch.Tensor]:
    """Run k's slice of every stacked parameter, shaped as ``like``'s parameter of that name
    (views: autograd follows them back to the stack)."""
    own = dict(like.named_parameters())
    return {name: p.view(stacked.get_submodule(name.rpartition(".")[0]).k, -1)[k].view(own[name].shape)
            for name, p in stacked.named_parameters()}


def bind_views(module: nn.Module, stacked: nn.Module, k: int) -> None:
    """Make ``module``'s parameters views of run ``k``'s slices of ``stacked`` (shared storage:
    the updates of the module's optimiser and teacher are the stack's, and loading a state into
    the module writes the slices)."""
    for name, v in slices(stacked, k, module).items():
        owner, _, attr = name.rpartition(".")
        module.get_submodule(owner)._parameters[attr] = nn.Parameter(v.detach())


class _Penalty(nn.Module):
    """``model.l2_reg()`` as a forward, for ``torch.func.functional_call`` on a run's slices."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self):
        return self.model.l2_reg()


# ---------------------------------------------------------------------------- the weights object
class StackedWeights:
    """The stacks of the runs ``runs`` (``train.Trainer`` objects): students, and teachers where
    some run uses one; binds each run's modules to its slices and gives each run an optimizer
    over them (its state kept). ``chunks``: length classes per step (1: one window)."""

    def __init__(self, runs, chunks: int, device):
        self.chunks, self.device = chunks, device
        self.maxlen, self.attend_padding = runs[0].cfg.maxlen, runs[0].cfg.attend_padding
        self.student = stack_modules([t.model for t in runs]).to(device)
        self.teacher = None
        if any(t.strategy.uses_teacher for t in runs):
            mods = [t.teacher.module if t.teacher is not None else t.model for t in runs]
            self.teacher = stack_modules(mods).to(device)
        self.bound = set()             # ids of the runs whose teacher is a view of self.teacher
        for k, t in enumerate(runs):
            bind_views(t.model, self.student, k)
            t.opt = t.make_optimizer(t.opt.state_dict())     # the same Adam state, over the views
            if t.teacher is not None:
                self.bind_teacher(k, t)
        names = [n for n, _ in self.student.named_parameters()]
        self._views = [[dict(t.model.named_parameters())[n] for n in names] for t in runs]
        self._last = None              # the last ``logits`` call's layout, for ``teacher_logits``

    def bind_teacher(self, k: int, t) -> None:
        """Run k's teacher (made by ``maybe_end_warmup`` as a copy of the student, or resumed)
        becomes views of its teacher slices, with its values."""
        if id(t) in self.bound:
            return
        values = copy.deepcopy(t.teacher.module.state_dict())
        bind_views(t.teacher.module, self.teacher, k)
        t.teacher.module.load_state_dict(values)
        self.bound.add(id(t))

    # ------------------------------------------------------------------ the window layout
    def windows(self, batches) -> dict:
        """Each batch in the window layout: its inputs and users per batch row ``[B, maxlen]``,
        the rows' lengths, and the (batch row, window column) of each scored position in the
        batch's own order."""
        L = self.maxlen
        out = {k: [] for k in ("windows", "users", "lengths", "pos")}
        for b in batches:
            B = sum(len(g.users) for g in b.groups)
            win = torch.zeros(B, L, dtype=torch.long)
            usr = torch.zeros(B, dtype=torch.long)
            rows, cols = [], []
            for g in b.groups:
                W, gr = g.inputs.shape[1], g.rows.cpu()
                win[gr, L - W:] = g.inputs.cpu()
                usr[gr] = g.users.cpu()
                nz = g.real.cpu().nonzero()
                rows.append(gr[nz[:, 0]].numpy())
                cols.append((L - W + nz[:, 1]).numpy())
            out["windows"].append(win)
            out["users"].append(usr)
            out["lengths"].append((win > 0).sum(1).numpy())
            out["pos"].append((np.concatenate(rows), np.concatenate(cols)))
        return out

    def layout(self, lengths):
        """Chunks of rows (see module doc): for each chunk its width and, per run, its rows."""
        B = len(lengths[0])
        order = [np.argsort(ln, kind="stable") for ln in lengths]
        out = []
        for part in np.array_split(np.arange(B), min(self.chunks, B)):
            rows = [o[part] for o in order]
            W = self.maxlen if self.attend_padding else max(
                max(int(ln[r].max()) for ln, r in zip(lengths, rows)), 1)
            out.append((W, rows))
        return out

    def encode(self, model, d: dict, seeds, layout):
        """Encode every chunk with the stacked ``model``; returns the outputs flattened to
        [rows x width, q] one chunk after the other, and per run the flat index of each (batch
        row, window column) ``[B, maxlen]`` (-1 where not encoded)."""
        L, K = self.maxlen, len(seeds)
        B = d["windows"][0].shape[0]
        where = np.full((K, B, L), -1, dtype=np.int64)
        outs, off = [], 0
        for W, rows in layout:
            n = len(rows[0])
            r = [torch.from_numpy(x) for x in rows]
            inp = torch.cat([w[x, L - W:] for w, x in zip(d["windows"], r)]).to(self.device)
            usr = torch.cat([u[x] for u, x in zip(d["users"], r)]).to(self.device)
            noise = Noise(torch.cat([s.expand(n) for s in seeds]), torch.cat(r))
            h = model.encode(inp, usr, noise)
            outs.append(h.reshape(-1, h.shape[-1]))
            for k, x in enumerate(rows):
                where[k, x, L - W:] = off + (k * n + np.arange(n))[:, None] * W + np.arange(W)[None, :]
            off += K * n * W
        return torch.cat(outs), where

    # ------------------------------------------------------------------ the weights interface
    def logits(self, runs, batches, noises, cands) -> list[torch.Tensor]:
        d = self.windows(batches)
        layout = self.layout(d["lengths"])
        self._last = (d, layout)
        self.student.train()
        h, where = self.encode(self.student, d, [n.seeds[:1].cpu() for n in noises], layout)
        flat = [torch.from_numpy(where[k][r, c]) for k, (r, c) in enumerate(d["pos"])]
        n_rows = self.student.item_emb.n
        items = torch.cat([c + k * n_rows for k, c in enumerate(cands)])    # run k's rows of the tables
        pu = torch.cat([b.pos_users for b in batches])
        return list(self.student.score(h[torch.cat(flat).to(self.device)], items, pu).split([len(f) for f in flat]))

    @torch.no_grad()
    def teacher_logits(self, runs, batches, cands, targets, need) -> list:
        """The logits of each run's consistency entries (as ``weights.teacher_entries``), None
        for runs that need none this step (they draw no seed)."""
        d, layout = self._last
        n_rows = self.teacher.item_emb.n
        seeds = [Noise.draw(1, t.g_noise).seeds if nd else torch.zeros(1, dtype=torch.long)
                 for t, nd in zip(runs, need)]
        self.teacher.train()
        ht, where = self.encode(self.teacher, d, seeds, layout)
        sel, its, us, cnt = [], [], [], []
        for k, (tg, c, (r, cc)) in enumerate(zip(targets, cands, d["pos"])):
            if not need[k]:
                cnt.append(0)
                continue
            p, col = tg.con_mask.nonzero(as_tuple=True)
            pc = p.cpu().numpy()
            sel.append(torch.from_numpy(where[k][r[pc], cc[pc]]))
            its.append(c[p, col] + k * n_rows)
            us.append(batches[k].pos_users[p])
            cnt.append(len(p))
        tl = self.teacher.score(ht[torch.cat(sel).to(self.device)], torch.cat(its)[:, None], torch.cat(us))[:, 0]
        return [x if nd else None for x, nd in zip(tl.split(cnt), need)]

    def penalty(self, runs, k: int) -> torch.Tensor:
        """Run k's ``l2_reg`` on its slices of the stacked student (the gradient reaches the stack)."""
        model = runs[k].model
        params = {f"model.{n}": v for n, v in slices(self.student, k, model).items()}
        return torch.func.functional_call(_Penalty(model), params, ())

    def backward(self, runs, losses) -> None:
        self.student.zero_grad(set_to_none=True)
        torch.autograd.backward(losses)
        K = len(runs)
        for i, p in enumerate(self.student.parameters()):
            g = None if p.grad is None else p.grad.view(K, -1)
            for k in range(K):
                own = self._views[k][i]
                own.grad = None if g is None else g[k].view(own.shape)
