"""The training loop: batches, basic BCE, warm-up rule, teacher, validation, early stopping,
checkpoint and resume. Nothing here is specific to a backbone or a negative strategy.

Basic loss (paper Eq. 4/5), as the reference computes it: binary cross-entropy with logits,
averaged over every scored (positive and negative) entry of every real position, times 2.
Selection: the state with the best validation metric (``cfg.select_metric`` on sampled
validation) is kept; training stops after ``cfg.patience`` validations without improvement.
Test is never looked at here.
"""
from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .batches import NegativeSampler, NextItemData, membership_keys
from .evaluate import Evaluator
from .models import make_model
from .strategies import make_strategy


def basic_loss(logits, targets) -> torch.Tensor:
    """2 x mean BCE over the entries in ``targets.loss_mask`` (all entries if None)."""
    if targets.loss_mask is None:
        return 2.0 * F.binary_cross_entropy_with_logits(logits, targets.labels)
    m = targets.loss_mask
    return 2.0 * F.binary_cross_entropy_with_logits(logits[m], targets.labels[m])


def atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Trainer:
    def __init__(self, cfg, split, evaluator: Evaluator | None = None, ckpt_path=None,
                 progress: bool = True, stop_after_epochs: int | None = None):
        self.cfg, self.split = cfg, split
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.g_sample = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 1)
        self.g_order = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 2)
        self.data = NextItemData(split, cfg.maxlen)
        self.sampler = NegativeSampler(membership_keys(split, "train"), split.n_items, self.g_sample)
        self.model = make_model(cfg, split.n_items, split.n_users)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2))
        self.strategy = make_strategy(cfg, self.data, self.sampler)
        self.evaluator = evaluator or Evaluator(split, cfg.maxlen, cfg.eval_neg, cfg.eval_seed)
        self.ckpt_path = Path(ckpt_path) if ckpt_path else None
        self.progress = progress
        self.stop_after_epochs = stop_after_epochs   # for tests: simulate an interruption
        self.epoch = 0
        self.history: list[dict] = []
        self.best = {"score": -1.0, "epoch": 0, "state": None}
        self.bad_evals = 0
        self.elapsed = 0.0
        self.done = False

    # ------------------------------------------------------------------ checkpointing
    def state(self) -> dict:
        return dict(epoch=self.epoch, model=self.model.state_dict(), opt=self.opt.state_dict(),
                    strategy=self.strategy.state_dict(), history=self.history, best=self.best,
                    bad_evals=self.bad_evals, elapsed=self.elapsed, done=self.done,
                    rng=torch.get_rng_state(), g_sample=self.g_sample.get_state(),
                    g_order=self.g_order.get_state())

    def load_state(self, st: dict) -> None:
        self.epoch, self.history, self.best = st["epoch"], st["history"], st["best"]
        self.bad_evals, self.elapsed, self.done = st["bad_evals"], st["elapsed"], st["done"]
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.strategy.load_state_dict(st["strategy"])
        torch.set_rng_state(st["rng"])
        self.g_sample.set_state(st["g_sample"])
        self.g_order.set_state(st["g_order"])

    def save(self) -> None:
        if self.ckpt_path:
            atomic_torch_save(self.state(), self.ckpt_path)

    def try_resume(self) -> bool:
        if self.ckpt_path and self.ckpt_path.is_file():
            self.load_state(torch.load(self.ckpt_path, weights_only=False))
            return True
        return False

    # ------------------------------------------------------------------ one epoch
    def epoch_users(self) -> torch.Tensor:
        users = torch.from_numpy(self.data.train_users)
        if self.cfg.epoch_mode == "replacement":   # reference: n_users // batch draws with replacement
            nb = max(len(users) // self.cfg.batch_size, 1)
            return users[torch.randint(len(users), (nb * self.cfg.batch_size,), generator=self.g_order)]
        return users[torch.randperm(len(users), generator=self.g_order)]

    def train_step(self, users: torch.Tensor) -> float:
        cfg, model = self.cfg, self.model
        b = self.data.batch(users, trim=not cfg.attend_padding)
        h = torch.cat([model.encode(g.inputs, g.users)[g.real] for g in b.groups])  # [P, d]
        negs = self.strategy.negatives(b)
        cands = torch.cat([b.targets[:, None], negs], 1)              # [P, 1 + n]
        logits = model.score(h, cands, b.pos_users)
        tg = self.strategy.labels(b, cands, logits.detach())
        loss = basic_loss(logits, tg)
        if cfg.l2_emb > 0:
            loss = loss + cfg.l2_emb * model.l2_reg()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def run_epoch(self) -> dict:
        t0 = time.perf_counter()
        self.model.train()
        users = self.epoch_users()
        bs = self.cfg.batch_size
        losses = [self.train_step(users[s:s + bs]) for s in range(0, len(users), bs)]
        rec = dict(epoch=self.epoch + 1, loss=float(np.sum(losses)), loss_mean=float(np.mean(losses)),
                   train_seconds=time.perf_counter() - t0)
        rec.update(self.strategy.epoch_diagnostics())
        return rec

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = True) -> "Trainer":
        cfg = self.cfg
        if resume:
            self.try_resume()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=cfg.max_epochs, initial=self.epoch, desc=f"{cfg.dataset}/{cfg.backbone}/{cfg.strategy}/s{cfg.seed}",
                       leave=False)
        stopped_early = 0
        while not self.done and self.epoch < cfg.max_epochs:
            t0 = time.perf_counter()
            rec = self.run_epoch()
            self.epoch += 1
            if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.max_epochs:
                t1 = time.perf_counter()
                m, _ = self.evaluator.evaluate(self.model, "valid", modes=("sampled",))
                rec["valid"] = m["sampled"]
                rec["eval_seconds"] = time.perf_counter() - t1
                score = m["sampled"][cfg.select_metric]
                if score > self.best["score"]:
                    self.best = {"score": score, "epoch": self.epoch,
                                 "state": copy.deepcopy(self.model.state_dict())}
                    self.bad_evals = 0
                else:
                    self.bad_evals += 1
                if self.bad_evals >= cfg.patience:
                    self.done = True
            if self.epoch >= cfg.max_epochs:
                self.done = True
            self.elapsed += time.perf_counter() - t0
            self.history.append(rec)
            self.save()
            if bar is not None:
                bar.update(1)
                v = rec.get("valid", {}).get(cfg.select_metric)
                bar.set_postfix(loss=f"{rec['loss_mean']:.4f}", **({"val": f"{v:.4f}"} if v is not None else {}),
                                best=self.best["epoch"])
            stopped_early += 1
            if self.stop_after_epochs is not None and stopped_early >= self.stop_after_epochs and not self.done:
                break
        if bar is not None:
            bar.close()
        return self
