"""Many runs in one process: K trainers of one dataset and backbone trained with stacked weights.

Each run keeps its own ``Trainer`` (``train.py``): its seeds and generators (user order,
negatives, masks, noise), strategy memory, Adam, teacher, validation, early stopping, selection
and history. Only the arithmetic is shared: a step is ``algorithm1.train_step`` over the K runs
with ``stacked.StackedWeights`` (the K models' parameters in stacked tensors; every run's own
module holds *views* of its slices, so its ``torch.optim.Adam`` and its EMA teacher update its
slices, and evaluation, selection, checkpoints and records use the single-run code unchanged).

A run's losses and record therefore equal its single run's up to float rounding (stacked matrix
products, another padding): the same standing as a GPU run. A run that stops leaves the stack
(its slices and its teacher's are cut out), so it slows the others no longer. Checkpoints are
per run, in the single run's format: a bundle resumes runs that single runs (or other bundles,
or another machine) started, and the other way round.
Runs in one bundle must agree on what the stacked arithmetic shares (``SHARED_FIELDS``).
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn

from ..files import atomic_torch_save
from .algorithm1 import train_step
from .stacked import BundleError, StackedWeights  # noqa: F401  (BundleError: raised here and in stacked)
from .train import Trainer

# config fields every run of a bundle must share: the data, shapes and batches of the stacked
# arithmetic (each run has its own Adam, so lr and beta2 may differ, and its own l2_emb)
SHARED_FIELDS = ("dataset", "backbone", "maxlen", "hidden", "blocks", "heads", "dropout", "attend_padding",
                 "batch_size", "n_neg", "epoch_mode", "mask_prob", "user_hidden", "sse_user", "sse_item")


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
        self.on_finish = None           # called with each trainer that is done (run_bundle writes its record)
        self._saved_at = None
        self.weights = StackedWeights(self.live, chunks, self.device) if self.live else None

    def _drop_finished(self) -> None:
        """Cut the slices of runs that are done out of the stacks."""
        keep = [t for t in self.live if not t.done]
        if len(keep) == len(self.live):
            return
        self.live = keep
        for t in keep:                  # the modules keep their values, in storage of their own
            t.model = _detached_copy(t.model)
            if t.teacher is not None:
                t.teacher.module = _detached_copy(t.teacher.module)
        self.weights = StackedWeights(keep, self.chunks, self.device) if keep else None

    def step(self, users: list[torch.Tensor]) -> list[float]:
        """One optimiser step of every live run on its batch ``users[k]``; returns their losses."""
        steps = train_step(self.live, users, self.weights)
        return torch.stack([s.loss.final.detach() for s in steps]).cpu().tolist()

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
            if t.teacher is not None:
                self.weights.bind_teacher(k, t)
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
        for t in self.live:
            if t.ckpt_path is not None:
                atomic_torch_save(_compact(t.state()), t.ckpt_path)
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
