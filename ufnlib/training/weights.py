"""Where ``algorithm1.train_step`` takes the logits of K runs: each run's own module.

A *weights* object has four methods, each given the step's runs (``algorithm1.Run`` or
``train.Trainer``):

* ``logits(runs, batches, noises, cands)`` -> per run the student's logits [P, C] (with grad);
* ``teacher_logits(runs, batches, cands, targets, need)`` -> per run the teacher's logits of the
  entries ``targets[k].con_mask`` marks, row-major (None where ``need[k]`` is False);
* ``penalty(runs, k)`` -> run k's ``model.l2_reg()``;
* ``backward(runs, losses)`` -> every run's gradient on its own parameters (for its ``opt``).

``OwnWeights`` here: each run computes with its own module, one after the other (a single run
is K = 1). ``stacked.StackedWeights``: the K runs' weights stacked in one module (a bundle).
"""
from __future__ import annotations

import torch

from ..data.batches import Group
from ..models.layers import Noise


class OwnWeights:
    def logits(self, runs, batches, noises, cands) -> list[torch.Tensor]:
        """The student's logits of each run's candidates: its batch's scored positions encoded
        (``encode_groups``; a model in eval mode ignores ``noises``) and scored."""
        return [r.model.score(r.model.encode_groups(b.groups, n), c, b.pos_users)
                for r, b, n, c in zip(runs, batches, noises, cands)]

    @torch.no_grad()
    def teacher_logits(self, runs, batches, cands, targets, need) -> list:
        return [teacher_entries(r, b, c, tg.con_mask) if nd else None
                for r, b, c, tg, nd in zip(runs, batches, cands, targets, need)]

    def penalty(self, runs, k: int) -> torch.Tensor:
        return runs[k].model.l2_reg()

    def backward(self, runs, losses) -> None:
        for r in runs:
            r.opt.zero_grad(set_to_none=True)
        torch.autograd.backward(losses)


@torch.no_grad()
def teacher_entries(run, b, cands, mask: torch.Tensor) -> torch.Tensor:
    """Teacher logits of the entries ``mask`` [P, C] marks (the consistency targets), in
    row-major order, i.e. aligned with ``logits[mask]``. Only the sequences that hold such an
    entry are encoded and only those entries are scored: the consistency loss reads nothing
    else. The teacher runs in training mode (dropout on, its seed drawn from the run's
    ``g_noise``), as the reference computes it."""
    pos, col = mask.nonzero(as_tuple=True)
    idx, h = teacher_positions(run, b, mask.any(1))
    row = torch.full((len(cands),), -1, dtype=torch.long, device=cands.device)
    row[idx] = torch.arange(len(idx), device=cands.device)
    return run.teacher.module.score(h[row[pos]], cands[pos, col][:, None], b.pos_users[pos])[:, 0]


@torch.no_grad()
def teacher_positions(run, b, need: torch.Tensor):
    """Teacher vectors of the positions ``need`` [P] marks, encoding only the sequences that
    hold them (a sequence's outputs do not depend on the other rows of its batch).
    Returns (position indices, vectors [len(indices), q]), all positions of those sequences."""
    t = run.teacher.module
    t.train()
    noise = Noise.draw(sum(len(g.users) for g in b.groups), run.g_noise)
    idx, sub, off = [], [], 0
    for g in b.groups:
        n = int(g.real.sum())
        sel = need[off:off + n]
        if bool(sel.any()):
            row = g.real.nonzero()[:, 0]                  # row of each position, row-major
            rows = torch.unique(row[sel])
            in_rows = torch.isin(row, rows)
            sub.append(Group(g.users[rows], g.inputs[rows], g.real[rows], g.rows[rows]))
            idx.append(off + in_rows.nonzero()[:, 0])
        off += n
    return torch.cat(idx), t.encode_groups(sub, noise)
