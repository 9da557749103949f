"""Many runs in one process: K trainers of one dataset and backbone trained with stacked weights.

Each run keeps its own ``Trainer`` (``train.py``): its seeds and generators (user order,
negatives, masks, noise), strategy memory, teacher, validation, early stopping, selection and
history. Only the arithmetic is shared. The K models' parameters live in stacked tensors (a
leading run dimension); every run's own module holds *views* of its slice, so evaluation,
selection, checkpoints and records use the single-run code unchanged. A step:

1. each run draws, in its own generators' order, its batch, its noise seed and its negatives, as
   a single run does;
2. the K batches are encoded together: each run's rows are sorted by length and cut into
   ``chunks`` equal parts, and part c of every run is encoded in one call of width ``W_c``, the
   longest row of that part over all runs (right-aligned windows give the same outputs at any
   width); the rows of run k come k-th, each stacked layer applies run k's weights to them, and
   each row draws its dropout from its own run's seed and its index in its own batch
   (``layers.Noise``: the masks do not depend on the layout);
3. each run's strategy labels its logits; the teacher encodes where a run needs it;
4. the sum of the runs' losses is minimised by Adam over the stacked tensors (elementwise, with
   each run's own step count, so each slice takes its own update), and each run's EMA teacher is
   updated with its own decay.

A run's losses and record therefore equal its single run's up to float rounding (stacked matrix
products, another padding): the same standing as a GPU run. A run that stops leaves the stack
(its slices, its Adam moments and its teacher are cut out), so it slows the others no longer.
Checkpoints are per run, in the single run's format: a bundle resumes runs that single runs (or
other bundles, or another machine) started, and the other way round.
Runs in one bundle must agree on what the stacked arithmetic shares (``SHARED_FIELDS``).
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..files import atomic_torch_save
from ..models.layers import Noise
from .train import Trainer, basic_loss, consistency_loss, ema_decay

# config fields every run of a bundle must share: the data and shapes of the stacked arithmetic
# and the optimiser's settings (one Adam over all slices)
SHARED_FIELDS = ("dataset", "backbone", "maxlen", "hidden", "blocks", "heads", "dropout", "attend_padding",
                 "lr", "beta2", "batch_size", "n_neg", "epoch_mode", "mask_prob", "user_hidden", "sse_user",
                 "sse_item")


class BundleError(ValueError):
    """Configs that cannot share a bundle. The message names the field and the fix."""


# ---------------------------------------------------------------------------- stacked layers
class _Stacked(nn.Module):
    """A layer holding K runs' parameters, applied to inputs whose leading dimension is K x n rows
    (run k's rows k-th). ``k`` changes when runs leave (``Bundle.drop``)."""
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


def bind_views(module: nn.Module, stacked: nn.Module, k: int) -> None:
    """Make ``module``'s parameters views of run ``k``'s slices of ``stacked`` (shared storage:
    the stacked optimiser's updates are the module's, and loading a state into the module writes
    the slices)."""
    for name, p in stacked.named_parameters():
        owner, _, attr = name.rpartition(".")
        sub = module.get_submodule(owner)
        K = stacked.get_submodule(owner).k
        sub._parameters[attr] = nn.Parameter(p.detach().view(K, -1)[k].view(sub._parameters[attr].shape))


# ---------------------------------------------------------------------------- the bundle
class Bundle:
    """Trains ``trainers`` (``Trainer`` objects, fresh or resumed from their checkpoints) together;
    see the module doc. ``chunks``: length classes per step (1 = every run's batch in one window)."""

    def __init__(self, trainers: list[Trainer], chunks: int = 4, stop_after_epochs: int | None = None,
                 checkpoint_seconds: float = 60.0):
        check_compatible([t.cfg for t in trainers])
        self.live = [t for t in trainers if not t.done]
        self.chunks = chunks
        self.stop_after_epochs = stop_after_epochs
        self.checkpoint_seconds = checkpoint_seconds
        self.device = trainers[0].device
        self.maxlen = trainers[0].cfg.maxlen
        self.on_finish = None           # called with each trainer that is done (run_bundle writes its record)
        self._saved_at = None
        self._build()

    # ------------------------------------------------------------------ stacks
    def _build(self, moments=None) -> None:
        """(Re)build the stacks from the live trainers' modules and bind the modules as views.
        ``moments``: (exp_avg, exp_avg_sq, steps) already stacked; None = from each trainer's own
        (resumed) optimiser state."""
        live = self.live
        if not live:
            self.student = self.teacher = None
            return
        if moments is None:
            moments = self._moments_from_trainers()
        self.exp_avg, self.exp_avg_sq, self.steps = moments
        self.student = stack_modules([t.model for t in live]).to(self.device)
        self.teacher = None
        if any(t.strategy.uses_teacher for t in live):
            mods = [t.teacher.module if t.teacher is not None else t.model for t in live]
            self.teacher = stack_modules(mods).to(self.device)
        self._bound = set()             # trainers whose teacher is a view of self.teacher
        for k, t in enumerate(live):
            bind_views(t.model, self.student, k)
            if t.teacher is not None:
                bind_views(t.teacher.module, self.teacher, k)
                self._bound.add(id(t))

    def _moments_from_trainers(self):
        """Adam's moments and step counts of the live trainers (zeros for a fresh run), stacked."""
        states = []
        for t in self.live:
            params = list(t.model.parameters())
            states.append([(t.opt.state.get(p, {}), p) for p in params])

        def stacked(name):
            return [torch.stack([(st[name] if st else torch.zeros_like(p)).detach().reshape(-1)
                                 for st, p in (run[i] for run in states)]).to(self.device)
                    for i in range(len(states[0]))]
        steps = [float(run[0][0]["step"]) if run[0][0] else 0.0 for run in states]
        return stacked("exp_avg"), stacked("exp_avg_sq"), torch.tensor(steps, dtype=torch.float64)

    def _drop_finished(self) -> None:
        """Cut the slices of runs that are done out of the stacks and the Adam moments."""
        keep = [k for k, t in enumerate(self.live) if not t.done]
        if len(keep) == len(self.live):
            return
        idx = torch.tensor(keep, dtype=torch.long, device=self.device)
        moments = ([m[idx] for m in self.exp_avg], [m[idx] for m in self.exp_avg_sq], self.steps[keep])
        self.live = [self.live[k] for k in keep]
        for t in self.live:             # the modules keep their values, in storage of their own
            t.model = _detached_copy(t.model)
            if t.teacher is not None:
                t.teacher.module = _detached_copy(t.teacher.module)
        self._build(moments)

    @torch.no_grad()
    def _adam_step(self) -> None:
        """Adam (``torch.optim.Adam``'s update, no weight decay) over the stacked tensors, with
        each run's own step count for the bias corrections (runs resumed at different epochs
        may share a bundle)."""
        cfg = self.live[0].cfg
        b1, b2, eps, K = 0.9, cfg.beta2, 1e-8, len(self.live)
        self.steps += 1
        step_size = (cfg.lr / (1 - b1 ** self.steps)).to(torch.float32).to(self.device)[:, None]
        bc2_sqrt = (1 - b2 ** self.steps).sqrt().to(torch.float32).to(self.device)[:, None]
        for p, m, v in zip(self.student.parameters(), self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad.view(K, -1)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.view(K, -1).sub_(step_size * m / (v.sqrt() / bc2_sqrt).add_(eps))

    def _optimizer_state(self, k: int, t: Trainer) -> dict:
        """Run k's Adam state in ``torch.optim.Adam``'s format, so that its checkpoint resumes a
        single run (or another bundle)."""
        groups = t.opt.state_dict()["param_groups"]
        if float(self.steps[k]) == 0:
            return {"state": {}, "param_groups": groups}
        shapes = [p.shape for p in t.model.parameters()]
        step = torch.tensor(float(self.steps[k]))
        return {"state": {i: {"step": step.clone(), "exp_avg": m[k].view(sh).cpu().clone(),
                              "exp_avg_sq": v[k].view(sh).cpu().clone()}
                          for i, (m, v, sh) in enumerate(zip(self.exp_avg, self.exp_avg_sq, shapes))},
                "param_groups": groups}

    def _sync_teacher(self, k: int, t: Trainer) -> None:
        """A teacher that ``maybe_end_warmup`` just made (a copy of the student) becomes views of
        run k's teacher slices, with its values."""
        if t.teacher is None or id(t) in self._bound:
            return
        values = copy.deepcopy(t.teacher.module.state_dict())
        bind_views(t.teacher.module, self.teacher, k)
        t.teacher.module.load_state_dict(values)
        self._bound.add(id(t))

    # ------------------------------------------------------------------ one step
    def _layout(self, lengths):
        """Chunks of rows (see module doc): for each chunk its width and, per run, its rows."""
        B = len(lengths[0])
        order = [np.argsort(ln, kind="stable") for ln in lengths]
        parts = np.array_split(np.arange(B), min(self.chunks, B))
        out = []
        for part in parts:
            rows = [o[part] for o in order]
            W = self.maxlen if self.live[0].cfg.attend_padding else max(
                max(int(ln[r].max()) for ln, r in zip(lengths, rows)), 1)
            out.append((W, rows))
        return out

    def _encode(self, model, windows, users, seeds, layout):
        """Encode every chunk with the stacked ``model``; returns the outputs flattened to
        [rows x width, q] one chunk after the other, and per run the flat index of each (batch
        row, window column) ``[B, maxlen]`` (-1 where not encoded)."""
        L, K = self.maxlen, len(self.live)
        B = windows[0].shape[0]
        where = np.full((K, B, L), -1, dtype=np.int64)
        outs, off = [], 0
        for W, rows in layout:
            n = len(rows[0])
            r = [torch.from_numpy(x) for x in rows]
            inp = torch.cat([w[x, L - W:] for w, x in zip(windows, r)]).to(self.device)
            usr = torch.cat([u[x] for u, x in zip(users, r)]).to(self.device)
            noise = Noise(torch.cat([s.expand(n) for s in seeds]), torch.cat(r))
            h = model.encode(inp, usr, noise)
            outs.append(h.reshape(-1, h.shape[-1]))
            for k, x in enumerate(rows):
                base = off + (k * n + np.arange(n))[:, None] * W + np.arange(W)[None, :]
                where[k, x, L - W:] = base
            off += K * n * W
        return torch.cat(outs), where

    def _draw(self, users: list[torch.Tensor]) -> dict:
        """Step 1 of the module doc, per run in its generators' order (batch, noise seed,
        negatives), and each batch in the window layout: its inputs and users per batch row
        ``[B, maxlen]``, the rows' lengths, and the (batch row, window column) of each scored
        position in the batch's own order."""
        L = self.maxlen
        out = {k: [] for k in ("batches", "seeds", "cands", "windows", "users", "lengths", "pos")}
        for t, u in zip(self.live, users):
            b, noise = t.make_batch(u)
            out["cands"].append(torch.cat([b.targets[:, None], t.strategy.negatives(b)], 1))
            out["batches"].append(b)
            out["seeds"].append(noise.seeds[:1].cpu())
            win = torch.zeros(len(u), L, dtype=torch.long)
            usr = torch.zeros(len(u), dtype=torch.long)
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

    @torch.no_grad()
    def _teacher_logits(self, d: dict, layout, tgs, need, users) -> list:
        """Step 3's teacher: the logits of each run's consistency entries (``Trainer.teacher_entries``),
        None for runs that need none this step (they draw no seed)."""
        n_rows = self.teacher.item_emb.n
        seeds = [Noise.draw(len(u), t.g_noise).seeds[:1] if nd else torch.zeros(1, dtype=torch.long)
                 for t, u, nd in zip(self.live, users, need)]
        self.teacher.train()
        ht, where = self._encode(self.teacher, d["windows"], d["users"], seeds, layout)
        sel, its, us, cnt = [], [], [], []
        for k, (tg, c, (r, cc)) in enumerate(zip(tgs, d["cands"], d["pos"])):
            if not need[k]:
                cnt.append(0)
                continue
            p, col = tg.con_mask.nonzero(as_tuple=True)
            pc = p.cpu().numpy()
            sel.append(torch.from_numpy(where[k][r[pc], cc[pc]]))
            its.append(c[p, col] + k * n_rows)
            us.append(d["batches"][k].pos_users[p])
            cnt.append(len(p))
        tl = self.teacher.score(ht[torch.cat(sel).to(self.device)], torch.cat(its)[:, None], torch.cat(us))[:, 0]
        return [x if nd else None for x, nd in zip(tl.split(cnt), need)]

    def step(self, users: list[torch.Tensor]) -> list[float]:
        """One optimiser step of every live run on its batch ``users[k]``; returns their losses."""
        live = self.live
        d = self._draw(users)
        layout = self._layout(d["lengths"])
        self.student.train()
        h, where = self._encode(self.student, d["windows"], d["users"], d["seeds"], layout)
        flat = [torch.from_numpy(where[k][r, c]) for k, (r, c) in enumerate(d["pos"])]
        n_rows = self.student.item_emb.n
        items = torch.cat([c + k * n_rows for k, c in enumerate(d["cands"])])   # run k's rows of the tables
        pu = torch.cat([b.pos_users for b in d["batches"]])
        logits = self.student.score(h[torch.cat(flat).to(self.device)], items, pu).split([len(f) for f in flat])
        tgs = [t.strategy.labels(b, c, lg.detach()) for t, b, c, lg in zip(live, d["batches"], d["cands"], logits)]
        need = [t.needs_teacher(tg) for t, tg in zip(live, tgs)]
        t_logits = self._teacher_logits(d, layout, tgs, need, users) if any(need) else [None] * len(live)
        losses = []
        for t, lg, tg, tlg in zip(live, logits, tgs, t_logits):
            loss = basic_loss(lg, tg)
            if tlg is not None:
                loss = loss + t.cfg.alpha * consistency_loss(lg[tg.con_mask], tlg)
            losses.append(loss)
        self.student.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        self._adam_step()
        self._update_teachers()
        for t, b, c, lg, tg in zip(live, d["batches"], d["cands"], logits, tgs):
            t.strategy.after_step(b, c, lg.detach(), tg)
        return [float(x) for x in torch.stack(losses).detach().cpu()]

    @torch.no_grad()
    def _update_teachers(self) -> None:
        """Paper Eq. 6 per run (``train.ema_decay`` with the run's own d and update count), as
        ``AveragedModel.update_parameters`` does in a single run."""
        if self.teacher is None:
            return
        w = torch.zeros(len(self.live), device=self.device)
        for k, t in enumerate(self.live):
            if t.teacher is not None:
                n = int(t.teacher.n_averaged)
                w[k] = 1.0 - ema_decay(t.cfg.decay, n)
                t.teacher.n_averaged += 1
        if not bool((w > 0).any()):
            return
        K = len(self.live)
        for pt, ps in zip(self.teacher.parameters(), self.student.parameters()):
            pt.view(K, -1).lerp_(ps.view(K, -1), w[:, None])

    # ------------------------------------------------------------------ epochs
    def train_epoch(self) -> tuple[list[dict], list[float]]:
        """One epoch of training for every live run (warm-up end first, as a single run starts its
        epoch), without validation. Returns each run's epoch record so far (``Trainer.run_epoch``'s
        fields; ``train_seconds`` is the bundle's) and when each run's epoch started."""
        live = self.live
        t0 = time.perf_counter()
        starts = []
        for k, t in enumerate(live):
            starts.append(time.perf_counter())
            t.maybe_end_warmup()
            self._sync_teacher(k, t)
            t.model.train()
        orders = [t.epoch_users() for t in live]
        if len({len(o) for o in orders}) != 1:
            raise BundleError("bundle: runs drew epochs of different sizes (their data differ)")
        bs = live[0].cfg.batch_size
        losses = [[] for _ in live]
        for s in range(0, len(orders[0]), bs):
            for k, x in enumerate(self.step([o[s:s + bs] for o in orders])):
                losses[k].append(x)
        seconds = time.perf_counter() - t0
        recs = []
        for t, ls in zip(live, losses):
            rec = dict(epoch=t.epoch + 1, loss=float(np.sum(ls)), loss_mean=float(np.mean(ls)),
                       train_seconds=seconds)
            rec.update(t.strategy.epoch_diagnostics())
            recs.append(rec)
        return recs, starts

    def run_epoch(self) -> None:
        """``train_epoch``, then each run's validation, selection and stopping
        (``Trainer.finish_epoch``); finished runs are reported (``on_finish``) and leave the stack."""
        live = self.live
        recs, starts = self.train_epoch()
        for t, rec, t_start in zip(live, recs, starts):
            t.finish_epoch(rec, t_start)
        for t in live:
            if t.done and self.on_finish is not None:
                self.on_finish(t)
        self._drop_finished()

    def fit(self) -> "Bundle":
        """Train until every run is done (or ``stop_after_epochs`` bundle epochs). Each run's
        checkpoint (its ``Trainer.ckpt_path``, the single run's format) is written after the first
        epoch, then at most every ``checkpoint_seconds``, and at an interruption."""
        epochs = 0
        while self.live:
            self.run_epoch()
            epochs += 1
            interrupt = self.stop_after_epochs is not None and epochs >= self.stop_after_epochs and bool(self.live)
            if interrupt or self._saved_at is None or time.monotonic() - self._saved_at >= self.checkpoint_seconds:
                self.save()
            if interrupt:
                break
        return self

    def save(self) -> None:
        """Write each live run's checkpoint, as its single run would (tensors copied out of the stacks)."""
        for k, t in enumerate(self.live):
            if t.ckpt_path is not None:
                st = t.state()
                st["opt"] = self._optimizer_state(k, t)
                atomic_torch_save(_compact(st), t.ckpt_path)
        self._saved_at = time.monotonic()


def _compact(obj):
    """``obj`` with every tensor copied into storage of its own (a view of a stack would save the
    whole stack)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return type(obj)((k, _compact(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_compact(v) for v in obj)
    return obj


def _detached_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with parameters of its own storage (not views of a stack)."""
    out = copy.deepcopy(module)
    for m in out.modules():
        for name, p in list(m._parameters.items()):
            if p is not None:
                m._parameters[name] = nn.Parameter(p.detach().clone())
    return out


def check_compatible(cfgs) -> None:
    """Raise ``BundleError`` unless ``cfgs`` may share a bundle."""
    if not cfgs:
        raise BundleError("bundle: no configs")
    for f in SHARED_FIELDS:
        vals = sorted({str(getattr(c, f)) for c in cfgs})
        if len(vals) > 1:
            raise BundleError(f"bundle: the runs differ in '{f}' ({', '.join(vals)}); a bundle shares it. Fix: "
                              f"bundle only runs with the same {f} (grid.bundles groups them).")
    if any(c.l2_emb > 0 for c in cfgs):
        raise BundleError("bundle: l2_emb > 0 is not supported (the penalty is per run). Fix: train these runs singly.")
