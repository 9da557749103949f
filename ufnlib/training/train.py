"""One run's training loop around ``algorithm1.train_step``: epochs, the warm-up end, the
teacher's start, validation, selection, early stopping, checkpoint and resume. Nothing here is
specific to a backbone or a negative strategy.

Selection: the state with the best validation metric (``cfg.select_metric`` on sampled
validation) is kept; training stops after ``cfg.patience`` validations without improvement.
Test is never looked at here.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from ..data.batches import NegativeSampler, training_keys
from ..files import atomic_torch_save
from ..models import make_data, make_model
from ..models.layers import Noise
from ..negatives.diagnostics import runaway, runaway_epoch
from ..negatives.strategies import make_strategy
from .algorithm1 import (  # noqa: F401  (the losses, ema_decay, WARMUP_MIN_LIFT: also importable from here)
    WARMUP_MIN_LIFT,
    basic_loss,
    consistency_loss,
    ema_decay,
    make_teacher,
    train_step,
    warmup_ended,
)
from .evaluate import Evaluator
from .protocol import ProtocolLog
from .weights import OwnWeights

CHECKPOINT_SECONDS = 60.0   # a checkpoint after the first epoch, then at most one per this many seconds
OWN = OwnWeights()          # a single run computes with its own module


def counts_toward_patience(steps: int, teacher_steps: int | None, cfg) -> bool:
    """Does a validation without a new best count toward early stopping? With the default
    ``patience_min_steps = 0`` always (patience counted in validations). Otherwise only once
    ``steps`` optimizer steps reach ``patience_min_steps``, and, for a run whose reported model is
    an EMA teacher started ``teacher_steps`` steps ago, once that teacher has had ``1 / (1 - d)``
    steps to catch up with the student (its averaging horizon). A dataset with few steps per
    epoch then cannot stop a run in the flat start of its learning curve."""
    if cfg.patience_min_steps <= 0:
        return True
    if steps < cfg.patience_min_steps:
        return False
    return teacher_steps is None or teacher_steps >= 1.0 / (1.0 - cfg.decay)


def stopped_after_few_steps(history: list[dict], cfg, steps_per_epoch: int, few_steps: int = 3000) -> bool:
    """Did early stopping end a run after fewer than ``few_steps`` optimizer steps? On a dataset
    with few steps per epoch, ``patience`` validations can pass inside the flat start of a noisy
    learning curve, and the run stops before it learns (a warning sign, not a proof: compare with
    ``patience_min_steps``). Beauty's runs take 175 steps per epoch and stop after 10,000 or more."""
    return len(history) < cfg.max_epochs and len(history) * steps_per_epoch < few_steps


class Trainer:
    def __init__(self, cfg, split, evaluator: Evaluator | None = None, ckpt_path=None,
                 progress: bool = True, stop_after_epochs: int | None = None, device="cpu",
                 checkpoint_seconds: float = CHECKPOINT_SECONDS):
        """``device``: where the model, the teacher and the mining memories live. Batches,
        negative samples and masks are always drawn on the CPU generators and then moved, so
        a run consumes the same random streams on any device (float results still differ).
        ``checkpoint_seconds``: the checkpoint is written after the first epoch, then after an
        epoch only when this many seconds have passed since the last one (a UFN checkpoint on
        Beauty is 260 MB), and always before ``stop_after_epochs`` interrupts the run. A resumed
        run recomputes the epochs after its checkpoint and gives the same numbers."""
        self.cfg, self.split = cfg, split
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.g_sample = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 1)
        self.g_order = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 2)
        self.g_noise = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 3)   # dropout, SSE (layers.Noise)
        self.data = make_data(cfg, split, self.g_sample)
        self.sampler = NegativeSampler(training_keys(split, cfg), split.n_items, self.g_sample)
        self.model = make_model(cfg, split.n_items, split.n_users).to(self.device)
        self.opt = self.make_optimizer()
        self.strategy = make_strategy(cfg, self.data, self.sampler, split, self.device)
        self.teacher = None
        self.warmup_epoch = None
        self.evaluator = evaluator or Evaluator(split, cfg.maxlen, cfg.eval_neg, cfg.eval_seed)
        self.ckpt_path = Path(ckpt_path) if ckpt_path else None
        self.progress = progress
        self.stop_after_epochs = stop_after_epochs   # for tests: simulate an interruption
        self.checkpoint_seconds = checkpoint_seconds
        self._saved_at = None                        # time.monotonic() of the last checkpoint
        self.epoch = 0
        self.history: list[dict] = []
        self.best = {"score": -1.0, "epoch": 0, "state": None}
        self.bad_evals = 0
        self.elapsed = 0.0
        self.done = False
        self.protocol = None
        if cfg.log_test_every:
            self.protocol = ProtocolLog(cfg, split, self.evaluator)

    def make_optimizer(self, state: dict | None = None):
        """Adam over the model's parameters (Algorithm 1 line 18), continuing ``state`` (an Adam
        state in ``torch.optim``'s format) if given. fused: one kernel per parameter for the
        whole update (its floats differ from the multi-tensor implementation's in the last bits)."""
        opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, betas=(0.9, self.cfg.beta2), fused=True)
        if state is not None:
            opt.load_state_dict(state)
            for group in opt.param_groups:      # the implementation is this code's, not the checkpoint's
                group["foreach"], group["fused"] = opt.defaults["foreach"], opt.defaults["fused"]
        return opt

    # ------------------------------------------------------------------ checkpointing
    def state(self) -> dict:
        return dict(epoch=self.epoch, model=self.model.state_dict(), opt=self.opt.state_dict(),
                    teacher=self.teacher.state_dict() if self.teacher is not None else None,
                    warmup_epoch=self.warmup_epoch,
                    strategy=self.strategy.state_dict(), history=self.history, best=self.best,
                    bad_evals=self.bad_evals, elapsed=self.elapsed, done=self.done,
                    protocol=self.protocol.state_dict() if self.protocol is not None else None,
                    rng=torch.get_rng_state(), g_sample=self.g_sample.get_state(),
                    g_order=self.g_order.get_state(), g_noise=self.g_noise.get_state(),
                    cuda_rng=(torch.cuda.get_rng_state(self.device)
                              if self.device.type == "cuda" else None))

    def load_state(self, st: dict) -> None:
        self.epoch, self.history, self.best = st["epoch"], list(st["history"]), dict(st["best"])
        self.bad_evals, self.elapsed, self.done = st["bad_evals"], st["elapsed"], st["done"]
        self.model.load_state_dict(st["model"])
        # the optimizer keeps the tensors it is given (same dtype and device): copy them, so that
        # training never writes into the caller's dict (or into another trainer's optimizer)
        self.opt = self.make_optimizer(copy.deepcopy(st["opt"]))
        self.strategy.load_state_dict(st["strategy"])
        self.warmup_epoch = st.get("warmup_epoch")
        if self.protocol is not None and st.get("protocol") is not None:
            self.protocol.load_state_dict(st["protocol"])
        if st.get("teacher") is not None:
            self.teacher = make_teacher(self.model, self.cfg.decay)
            self.teacher.load_state_dict(st["teacher"])
        torch.set_rng_state(st["rng"])
        if st.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda_rng"], self.device)
        self.g_sample.set_state(st["g_sample"])
        self.g_order.set_state(st["g_order"])
        self.g_noise.set_state(st["g_noise"])

    def save(self) -> None:
        if self.ckpt_path:
            atomic_torch_save(self.state(), self.ckpt_path)
            self._saved_at = time.monotonic()

    def maybe_save(self, now: bool = False) -> None:
        """Checkpoint if ``now``, if none was written yet, or if ``checkpoint_seconds`` have passed."""
        if now or self._saved_at is None or time.monotonic() - self._saved_at >= self.checkpoint_seconds:
            self.save()

    def try_resume(self) -> bool:
        if self.ckpt_path and self.ckpt_path.is_file():
            st = torch.load(self.ckpt_path, weights_only=False, map_location="cpu")
            if "g_noise" not in st:
                import warnings
                warnings.warn(f"{self.ckpt_path}: a checkpoint of code older than the layout-free noise "
                              f"(layers.Noise); resuming would mix two float generations in one run, so the "
                              f"run starts again.", RuntimeWarning, stacklevel=2)
                return False
            self.load_state(st)
            return True
        return False

    # ------------------------------------------------------------------ one epoch
    def epoch_users(self) -> torch.Tensor:
        users = torch.from_numpy(self.data.train_users)
        if self.cfg.epoch_mode == "replacement":   # reference: n_users // batch draws with replacement
            nb = self.steps_per_epoch
            return users[torch.randint(len(users), (nb * self.cfg.batch_size,), generator=self.g_order)]
        return users[torch.randperm(len(users), generator=self.g_order)]

    def make_batch(self, users: torch.Tensor):
        """The batch of ``users`` (on the model's device) and the noise of its student encode."""
        b = self.data.batch(users, trim=not self.cfg.attend_padding)
        if self.device.type != "cpu":
            b = b.to(self.device)
        return b, Noise.draw(len(users), self.g_noise)

    def train_step(self, users: torch.Tensor) -> float:
        """Algorithm 1, lines 10-18, on the batch ``users`` (``algorithm1.train_step``, K = 1)."""
        return train_step([self], [users], OWN)[0].loss.final.item()

    def maybe_end_warmup(self) -> None:
        """At an epoch start: switch mining / the teacher on once ``warmup_ended``."""
        st = self.strategy
        if not st.needs_warmup or self.warmup_epoch is not None:
            return
        valid = [h["valid"][self.cfg.select_metric] for h in self.history if "valid" in h]
        if warmup_ended([h["loss"] for h in self.history], self.cfg, valid):
            self.warmup_epoch = self.epoch      # epochs completed before mining starts
            st.activate()
            if st.uses_teacher:
                self.teacher = make_teacher(self.model, self.cfg.decay)

    @property
    def steps_per_epoch(self) -> int:
        n = len(self.data.train_users)
        if self.cfg.epoch_mode == "replacement":
            return max(n // self.cfg.batch_size, 1)
        return -(-n // self.cfg.batch_size)

    def teacher_steps(self) -> int | None:
        """Optimizer steps since the teacher started (None: no teacher)."""
        if self.teacher is None or self.warmup_epoch is None:
            return None
        return (self.epoch - self.warmup_epoch) * self.steps_per_epoch

    def reported_model(self):
        """The model whose validation selects the epoch: the teacher once it exists (the
        reference evaluates with the EMA weights after warm-up), the student otherwise."""
        return self.teacher.module if self.teacher is not None else self.model

    def check_runaway(self, rec: dict) -> None:
        """Flag runaway mining (``diagnostics.runaway``) in the epoch's record; warn the first time."""
        if not self.strategy.active or not runaway(self.history + [rec], self.cfg.eval_neg, self.cfg.select_metric):
            return
        if runaway_epoch(self.history) is None:
            import warnings
            warnings.warn(f"{self.cfg.dataset}/{self.cfg.backbone}/{self.cfg.strategy}/s{self.cfg.seed}: runaway "
                          f"mining at epoch {self.epoch}: mined entries per position rise every epoch while "
                          f"validation stays near chance or falls. Fix: end warm-up later (warmup='fixed' "
                          f"with more warmup_epochs, or warmup='validation').", RuntimeWarning, stacklevel=2)
        rec["runaway"] = True

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

    def finish_epoch(self, rec: dict, t0: float) -> None:
        """After an epoch's training (``rec`` from ``run_epoch``, started at ``t0``): validation,
        selection, early stopping, the protocol log, the history."""
        cfg = self.cfg
        self.epoch += 1
        if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.max_epochs:
            t1 = time.perf_counter()
            rep = self.reported_model()
            m, _ = self.evaluator.evaluate(rep, "valid", modes=("sampled",))
            rec["valid"] = m["sampled"]
            if rep is not self.model:
                rec["valid_student"] = self.evaluator.evaluate(self.model, "valid",
                                                               modes=("sampled",))[0]["sampled"]
            rec["eval_seconds"] = time.perf_counter() - t1
            score = m["sampled"][cfg.select_metric]
            if score > self.best["score"]:
                self.best = {"score": score, "epoch": self.epoch,
                             "state": copy.deepcopy(rep.state_dict()),
                             "student_state": (copy.deepcopy(self.model.state_dict())
                                               if rep is not self.model else None)}
                self.bad_evals = 0
                if self.protocol is not None:
                    self.protocol.new_best(self.strategy)
            elif counts_toward_patience(self.epoch * self.steps_per_epoch, self.teacher_steps(), cfg):
                self.bad_evals += 1
            if self.bad_evals >= cfg.patience:
                self.done = True
            self.check_runaway(rec)
        if self.epoch >= cfg.max_epochs:
            self.done = True
        self.elapsed += time.perf_counter() - t0
        if self.protocol is not None and self.protocol.due(self.epoch, self.done):
            self.protocol.log(self.epoch, self.reported_model(), self.strategy)   # not timed, never selects
        self.history.append(rec)

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = True) -> "Trainer":
        cfg = self.cfg
        if resume:
            self.try_resume()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=cfg.max_epochs, initial=self.epoch,
                       desc=f"{cfg.dataset}/{cfg.backbone}/{cfg.strategy}/s{cfg.seed}", leave=False)
        stopped_early = 0
        while not self.done and self.epoch < cfg.max_epochs:
            t0 = time.perf_counter()
            self.maybe_end_warmup()
            rec = self.run_epoch()
            self.finish_epoch(rec, t0)
            stopped_early += 1
            interrupt = (self.stop_after_epochs is not None and stopped_early >= self.stop_after_epochs
                         and not self.done)
            self.maybe_save(now=interrupt or self.done)
            if bar is not None:
                bar.update(1)
                v = rec.get("valid", {}).get(cfg.select_metric)
                bar.set_postfix(loss=f"{rec['loss_mean']:.4f}", **({"val": f"{v:.4f}"} if v is not None else {}),
                                best=self.best["epoch"])
            if interrupt:
                break
        if bar is not None:
            bar.close()
        return self
