"""Algorithm 1 of the paper (UFNRec training), end to end, and the only training step there is.

| line | what | where |
|---|---|---|
| 1-2 | model, empty N_rec | ``train.Trainer``; the strategy's memory starts empty (``negatives.fmr``) |
| 3-8 | warm-up: random negatives, L_basic only | ``warmup_ended``; strategies are uniform until ``activate`` |
| 9 | teacher = a copy of the student | ``make_teacher`` |
| 10 | s_{u,t} ~ D | ``train_step``: each run's batch (``make_batch``) |
| 11 | negatives from N_rec, then random (Eq. 5) | ``train_step``: ``strategy.negatives`` |
| 12 | N_rec = negatives above the positive | ``train_step``: ``strategy.after_step`` |
| 13 | N_false = re-fed more than m times | ``train_step``: ``strategy.labels`` |
| 14 | L_basic with N_false reversed (Eq. 4) | ``basic_loss`` |
| 15 | teacher update (Eq. 6) | ``train_step``: ``teacher.update_parameters``, ``ema_decay`` |
| 16 | L_con on N_false (Eqs. 7-8) | ``consistency_loss`` |
| 17-18 | gradient step on L_final (Eqs. 9-10) | ``final_loss``, ``weights.backward``, ``opt.step`` (Adam) |

``train_step`` runs lines 10-18 once for K runs (K = 1: a single run). Each run brings its own
batch, generators, strategy, optimizer (``torch.optim``) and teacher; a *weights* object says
where the K runs' logits come from and puts each run's gradient on its own parameters:
``weights.OwnWeights`` (each run its own module: ``train.Trainer``, the case-study replay),
``stacked.StackedWeights`` (one stacked module: ``bundle.Bundle``), the walkthrough's logit
table. Mining (lines 11-13) is the strategy's (``negatives.strategies``): candidates, logits
and labels in, tensors out. docs/design.md says why each choice.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..negatives.diagnostics import chance_level

WARMUP_MIN_LIFT = 2.0   # warmup="validation": the backbone's best validation must exceed this x chance


# ------------------------------------------------------------------ lines 3-8: warm-up
def warmup_ended(losses: list[float], cfg, valid: list[float] | None = None) -> bool:
    """Warm-up end, "while L_basic descending rapidly" of Algorithm 1, decided on the list of
    summed per-epoch losses ``L`` of the epochs completed so far (and, for ``validation``, the
    backbone's validation scores ``valid`` so far, in order).

    ``plateau`` (reference code): more than 7 epochs done and the last per-epoch decrease
    ``L[-2] - L[-1]`` is below 1/200 of the decrease over the first five epochs ``L[0] - L[5]``.
    ``fixed``: ``cfg.warmup_epochs`` epochs done.
    ``validation`` (ours, for the protocol study): the backbone has converged on validation, i.e.
    it has learnt something (its best is above ``WARMUP_MIN_LIFT`` x the chance level of the
    selection metric: a curve's flat start is not convergence) and its last
    ``cfg.warmup_patience`` validations brought no new best.
    """
    if cfg.warmup == "fixed":
        return len(losses) >= cfg.warmup_epochs
    if cfg.warmup == "validation":
        v, k = list(valid or []), cfg.warmup_patience
        return (len(v) > k and max(v) > WARMUP_MIN_LIFT * chance_level(cfg.select_metric, cfg.eval_neg)
                and max(v[-k:]) <= max(v[:-k]))
    return len(losses) > 7 and losses[-2] - losses[-1] < (losses[0] - losses[5]) / 200


# ------------------------------------------------------------------ lines 9 and 15: the teacher (Eq. 6)
def ema_decay(d: float, k: int) -> float:
    """EMA smoothing rate at the k-th update (k >= 1): ``min(d, (1 + k) / (10 + k))``, the
    schedule of the ``torch-ema`` package that the reference uses (paper Eq. 6 with a warm start)."""
    return min(d, (1.0 + k) / (10.0 + k))


def make_teacher(model, d: float):
    """An EMA copy of ``model`` (``torch.optim.swa_utils.AveragedModel``), started as an exact
    copy; every ``update_parameters(model)`` then applies paper Eq. 6 with ``ema_decay``."""
    from torch.optim.swa_utils import AveragedModel

    def ema(avg, cur, n_averaged):
        torch._foreach_lerp_(avg, cur, 1.0 - ema_decay(d, int(n_averaged)))
    teacher = AveragedModel(model, multi_avg_fn=ema)
    teacher.update_parameters(model)          # n_averaged 0 -> 1: a plain copy
    return teacher


# ------------------------------------------------------------------ lines 14, 16, 17: the losses
def basic_loss(logits, targets) -> torch.Tensor:
    """Eq. 4 as the reference computes it: 2 x mean BCE with logits over the entries in
    ``targets.loss_mask`` (all entries if None), against ``targets.labels`` (N_false reversed)."""
    if targets.loss_mask is None:
        return 2.0 * F.binary_cross_entropy_with_logits(logits, targets.labels)
    m = targets.loss_mask
    return 2.0 * F.binary_cross_entropy_with_logits(logits[m], targets.labels[m])


def consistency_loss(logits, teacher_logits, mask=None) -> torch.Tensor:
    """Paper Eqs. 7-8: BCE of the student's logits against the teacher's probabilities, averaged
    over the entries in ``mask`` (the mined false negatives; all entries if None)."""
    if mask is not None:
        logits, teacher_logits = logits[mask], teacher_logits[mask]
    return F.binary_cross_entropy_with_logits(logits, torch.sigmoid(teacher_logits))


@dataclass
class Loss:
    """One run's losses in a step: L_basic, L_con (None: no entry to match) and L_final."""
    basic: torch.Tensor
    con: torch.Tensor | None
    final: torch.Tensor


def final_loss(cfg, logits, targets, teacher_logits, penalty: Callable[[], torch.Tensor]) -> Loss:
    """Eq. 9: ``L_basic + alpha L_con``, L_con on the entries of ``targets.con_mask`` against
    ``teacher_logits`` (those entries' teacher logits, row-major; None: no L_con), plus
    ``cfg.l2_emb x penalty()`` (the backbone's ``l2_reg``) when ``l2_emb > 0``."""
    basic = basic_loss(logits, targets)
    con = None if teacher_logits is None else consistency_loss(logits[targets.con_mask], teacher_logits)
    final = basic if con is None else basic + cfg.alpha * con
    if cfg.l2_emb > 0:
        final = final + cfg.l2_emb * penalty()
    return Loss(basic, con, final)


def needs_teacher(run, targets) -> bool:
    """Does this step's L_con of ``run`` need its teacher (a teacher and some entry to match)?"""
    return run.teacher is not None and targets.con_mask is not None and bool(targets.con_mask.any())


# ------------------------------------------------------------------ lines 10-18: one step
@dataclass
class Run:
    """What ``train_step`` reads of a run: ``cfg`` (alpha, l2_emb), ``strategy``, ``model``,
    ``make_batch(users) -> (batch, noise)``, ``opt`` (None: no update) and ``teacher`` (None:
    none yet). ``train.Trainer`` has them all; this holds them for the replay and the toy."""
    cfg: Any
    strategy: Any
    model: Any
    make_batch: Callable
    opt: Any = None
    teacher: Any = None


@dataclass
class Step:
    """What one run's step saw and computed (``logits`` detached, before the update)."""
    batch: Any
    cands: torch.Tensor         # [P, 1 + n], column 0 the positive
    logits: torch.Tensor
    targets: Any                # strategies.Targets
    loss: Loss
    recorded: torch.Tensor | None = None   # N_rec entries recorded for the next visit


def train_step(runs, users, weights) -> list[Step]:
    """Algorithm 1, lines 10-18, once for each run ``runs[k]`` on its batch of users ``users[k]``;
    ``weights`` computes the K runs' logits (see the module doc). Runs without ``opt`` (the
    replay's, called under ``torch.no_grad``) are not updated."""
    # line 10: the batches, each drawn from its run's own generators (cloze masks, dropout seed)
    drawn = [run.make_batch(u) for run, u in zip(runs, users)]
    batches = [b for b, _ in drawn]
    # line 11, Eq. 5: candidates = [positive, N_rec (first slots), random negatives]
    cands = [torch.cat([b.targets[:, None], run.strategy.negatives(b)], 1) for run, b in zip(runs, batches)]
    logits = weights.logits(runs, batches, [noise for _, noise in drawn], cands)
    # line 13, Eq. 4: N_false = re-fed more than m times; the strategy's labels (reversal) and masks
    targets = [run.strategy.labels(b, c, lg.detach()) for run, b, c, lg in zip(runs, batches, cands, logits)]
    # line 16, Eq. 7: the teacher's logits of the N_false entries (soft labels)
    need = [needs_teacher(run, tg) for run, tg in zip(runs, targets)]
    t_logits = weights.teacher_logits(runs, batches, cands, targets, need) if any(need) else [None] * len(runs)
    # lines 14, 16, 17, Eqs. 4, 8, 9: L_final of each run
    losses = [final_loss(run.cfg, lg, tg, tl, lambda k=k: weights.penalty(runs, k))
              for k, (run, lg, tg, tl) in enumerate(zip(runs, logits, targets, t_logits))]
    # line 18, Eq. 10: the gradient step (each run's own optimizer, Adam in training, on its own parameters)
    if runs[0].opt is not None:
        weights.backward(runs, [x.final for x in losses])
        for run in runs:
            run.opt.step()
    # line 15, Eq. 6: the teacher follows the updated student
    for run in runs:
        if run.teacher is not None:
            run.teacher.update_parameters(run.model)
    # line 12: N_rec for the next visit (negatives above the positive, not reversed)
    steps = []
    for run, b, c, lg, tg, loss in zip(runs, batches, cands, logits, targets, losses):
        recorded = run.strategy.after_step(b, c, lg.detach(), tg)
        steps.append(Step(b, c, lg.detach(), tg, loss, recorded))
    return steps
