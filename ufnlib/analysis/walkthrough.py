"""A two-user toy of UFNRec's training step, for reading the paper next to the code (notebook 08).

The toy's "model" is a table of logits (``LogitTable``): its parameters are the scores
``s_{u,t} . v`` themselves, so every number in the walkthrough can be followed by hand. Each user
has one training position (one train interaction, id = the user's index). ``ToyUFN.step`` runs
Algorithm 1 lines 10-18 once on hand-made random negatives through the trainer's own step,
``training.algorithm1.train_step``, with the real ``ufn`` strategy (or ``fmr``, ``fcr``):

  ``Strategy.negatives`` (Eq. 5) -> ``Strategy.labels`` (N_false = re-fed more than m times,
  reversal) -> ``basic_loss`` (Eq. 4) + alpha x ``consistency_loss`` against the teacher (Eqs.
  7-9) -> SGD step (Eq. 10) -> teacher update (Eq. 6, ``make_teacher``) -> ``Strategy.after_step``
  (N_rec).

Only the logits differ from a real run: ``TableWeights`` reads them from the table (a position's
query is its user) where ``weights.OwnWeights`` encodes sequences. ``PlainFMR`` (the
loop-and-dict oracle) runs beside the strategy's memory on the same negatives and logits, and
every table carries its numbers next to the memory's. The toy keeps a teacher for its tables
under every strategy; only ``ufn`` and ``fcr`` use it in the loss.
"""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..negatives.oracle import PlainFMR
from ..negatives.strategies import Targets, make_strategy
from ..training.algorithm1 import Run, basic_loss, ema_decay, make_teacher, train_step, warmup_ended
from ..training.weights import OwnWeights


def source(obj) -> str:
    """The source of a ufnlib module, function, method or class, headed by its file and line numbers."""
    lines, start = inspect.getsourcelines(obj)
    start = max(start, 1)                 # a module starts at line 1 (inspect says 0)
    path = inspect.getsourcefile(obj)
    short = path[path.rfind("ufnlib"):] if "ufnlib" in path else path
    return f"# {short}, lines {start}-{start + len(lines) - 1}\n" + "".join(lines)


class LogitTable(nn.Module):
    """A model whose parameters are its logits: ``score(u, v) = table[u, v]`` (Eq. 2's
    ``s_{u,t} . v`` for a user with a single training position)."""

    def __init__(self, logits):
        super().__init__()
        self.table = nn.Parameter(torch.as_tensor(np.asarray(logits), dtype=torch.float32).clone())

    def score(self, users: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        return self.table[users[:, None], cands]


class TableWeights(OwnWeights):
    """``algorithm1.train_step``'s logits for ``LogitTable`` runs: each position's row is its user's."""

    def logits(self, runs, batches, noises, cands):
        return [r.model.score(b.pos_users, c) for r, b, c in zip(runs, batches, cands)]

    @torch.no_grad()
    def teacher_logits(self, runs, batches, cands, targets, need):
        return [r.teacher.module.score(b.pos_users, c)[tg.con_mask] if nd else None
                for r, b, c, tg, nd in zip(runs, batches, cands, targets, need)]


class HandSampler:
    """The toy's "random" negatives: the rows of ``next``, set before each step."""
    next: torch.Tensor | None = None

    def sample(self, users, n):
        return self.next.clone()


def logit_rows(n_users: int, n_items: int, values: dict, default: float = -1.0) -> np.ndarray:
    """A ``[n_users, n_items + 1]`` logit table filled with ``default`` and ``values[u][item]``."""
    t = np.full((n_users, n_items + 1), default, dtype=np.float32)
    t[:, 0] = 0.0   # padding id, never scored
    for u, row in values.items():
        for item, v in row.items():
            t[u, item] = v
    return t


def entry_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 2 for every entry: ``-y log sigma(x) - (1 - y) log(1 - sigma(x))``."""
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none")


class ToyUFN:
    """Algorithm 1 after warm-up on a ``LogitTable``: one call of ``step`` = one visit of every
    user's single training position. ``strategy``: ``ufn`` (UFNRec), ``fmr`` (reversal only) or
    ``fcr`` (consistency only)."""

    def __init__(self, logits, positives, m: int = 1, n_neg: int = 3, alpha: float = 0.3,
                 d: float = 0.9, lr: float = 1.0, strategy: str = "ufn", truth: dict | None = None):
        self.model = LogitTable(logits)
        n_users, width = self.model.table.shape
        self.n_items, self.m, self.n_neg, self.alpha, self.d = width - 1, m, n_neg, alpha, d
        self.users = torch.arange(n_users)
        self.inter = torch.arange(n_users)               # one train interaction per user
        self.pos = torch.as_tensor(positives, dtype=torch.int64)
        cfg = Config(strategy=strategy, n_neg=n_neg, m=m, alpha=alpha, decay=d)
        self.sampler = HandSampler()
        data = SimpleNamespace(n_inter=n_users, n_items=self.n_items, inter_user=self.users)
        self.strategy = make_strategy(cfg, data, self.sampler)
        if self.strategy.spec.detector != "fmr":
            raise ValueError(f"the toy mines with FMR (ufn, fmr, fcr); got {strategy!r}")
        self.strategy.activate()                         # Algorithm 1 line 9: warm-up has ended
        self.memory = self.strategy.memory
        self.teacher = make_teacher(self.model, d)
        batch = SimpleNamespace(inter=self.inter, pos_users=self.users, targets=self.pos)
        self.run = Run(cfg, self.strategy, self.model, lambda users: (batch, None),
                       torch.optim.SGD(self.model.parameters(), lr=lr), self.teacher)
        self.weights = TableWeights()
        self.oracle = PlainFMR(m)
        self.truth = truth or {}
        self.t = 0
        self.log: list[dict] = []
        self.mined_at: list[tuple[int, int, int]] = []   # (step, user, item) of every mined entry
        self.trajectory = [self._snapshot()]

    def step(self, random_negatives) -> dict:
        """One training step on the hand-made ``random_negatives`` ([users, n] item ids).
        Returns ``{"candidates", "losses", "memory"}`` tables (pandas) for this step."""
        self.t += 1
        ran = torch.as_tensor(random_negatives, dtype=torch.int64)
        o_negs, o_refed, o_counts = self.oracle.inject(self.inter.tolist(), ran.tolist())
        teacher = self.teacher.module.table.detach().clone()         # the teacher this step reads
        decay = ema_decay(self.d, int(self.teacher.n_averaged))
        self.sampler.next = ran
        st = train_step([self.run], [self.users], self.weights)[0]   # Algorithm 1, lines 10-18
        cands, logits, labels = st.cands, st.logits, st.targets.labels
        refed, counts, mined = self.strategy.fed, self.strategy.detector.counts, self.strategy.mined
        t_logits = teacher[self.users[:, None], cands]
        self.oracle.record(self.inter.tolist(), cands.tolist(), logits.tolist(), labels.tolist())
        l_con = st.loss.con if st.loss.con is not None else torch.zeros(())
        l_unreversed = basic_loss(logits, Targets((cands == self.pos[:, None]).float(), None, None))
        losses = dict(step=self.t, L_basic=st.loss.basic.item(), L_con=l_con.item(), L_final=st.loss.final.item(),
                      L_basic_without_reversal=l_unreversed.item(), teacher_decay=decay,
                      mined=int(mined.sum()))
        self.log.append(losses)
        p, k = mined.nonzero(as_tuple=True)
        self.mined_at += [(self.t, int(u), int(i)) for u, i in zip(p.tolist(), cands[p, k].tolist())]
        self.trajectory.append(self._snapshot())
        self.last = dict(random=ran, cands=cands, logits=logits, labels=labels, mined=mined,
                         recorded=st.recorded, refed=refed, counts=counts)
        return {"candidates": self._candidates(cands, logits, t_logits, labels, refed, counts,
                                               o_refed, o_counts, mined, st.recorded),
                "losses": pd.DataFrame([losses]).set_index("step"),
                "memory": self.memory_table()}

    # ------------------------------------------------------------------------------ tables
    def _candidates(self, cands, logits, t_logits, labels, refed, counts, o_refed, o_counts,
                    mined, recorded) -> pd.DataFrame:
        """One row per (user, slot), logits at full precision (round them when displaying)."""
        rows = []
        for p, u in enumerate(self.users.tolist()):
            for s in range(cands.shape[1]):
                item = int(cands[p, s])
                neg = s > 0
                rows.append(dict(
                    user="AB"[u] if u < 2 else str(u), slot="v+" if not neg else f"neg {s}", item=item,
                    source="positive" if not neg else ("N_rec (re-fed)" if refed[p, s - 1] else "N_ran"),
                    count=int(counts[p, s - 1]) if neg else None,
                    count_oracle=int(o_counts[p][s - 1]) if neg else None,
                    in_N_false=bool(mined[p, s]), label=float(labels[p, s]),
                    logit=float(logits[p, s]), teacher_logit=float(t_logits[p, s]),
                    soft_label=float(torch.sigmoid(t_logits[p, s])) if mined[p, s] else None,
                    above_positive=bool(neg and logits[p, s] > logits[p, 0]),
                    recorded=bool(neg and recorded[p, s - 1]),
                    true_false_negative=bool(neg and item in self.truth.get(u, ()))))
        df = pd.DataFrame(rows).astype({"count": "Int64", "count_oracle": "Int64"})
        return df.set_index(["user", "slot"])

    def memory_table(self) -> pd.DataFrame:
        """Per user: N_rec and the re-feed counters, in the memory and in the oracle."""
        rows = []
        for u in self.users.tolist():
            n = int(self.memory.rec_len[u])
            rec = self.memory.rec_items[u, :n].tolist()
            hist = {int(i): int(c) for i, c in zip(self.memory.hist_items[u].tolist(),
                                                   self.memory.hist_count[u].tolist()) if i}
            o_hist = {item: c for (i, item), c in self.oracle.count.items() if i == u}
            rows.append(dict(user="AB"[u] if u < 2 else str(u), N_rec=rec,
                             N_rec_oracle=list(self.oracle.n_rec.get(u, [])),
                             counters=dict(sorted(hist.items())), counters_oracle=dict(sorted(o_hist.items())),
                             N_false=sorted(i for i, c in hist.items() if c > self.m),
                             agree=rec == list(self.oracle.n_rec.get(u, [])) and hist == o_hist))
        return pd.DataFrame(rows).set_index("user")

    def _snapshot(self) -> dict:
        return {"step": self.t, "student": self.model.table.detach().clone(),
                "teacher": self.teacher.module.table.detach().clone()}

    def losses_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.log).set_index("step")

    def logits_table(self) -> pd.DataFrame:
        """Student and teacher logits of every (user, item), items as columns."""
        s = self.model.table.detach()[:, 1:].numpy()
        t = self.teacher.module.table.detach()[:, 1:].numpy()
        idx = pd.MultiIndex.from_product([["student", "teacher"], ["AB"[u] if u < 2 else str(u)
                                                                   for u in self.users.tolist()]])
        return pd.DataFrame(np.vstack([s, t]).round(3), index=idx, columns=range(1, self.n_items + 1))


def plot_trajectories(toy: ToyUFN, pairs):
    """Student (solid) and teacher (dashed) logits of (user letter, item) ``pairs`` at the start
    of each step (the last point: after the last step); a ring marks the steps where the entry
    was in N_false."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    xs = [s["step"] + 1 for s in toy.trajectory]
    for j, (user, item) in enumerate(pairs):
        u = "AB".index(user) if isinstance(user, str) else int(user)
        c = f"C{j}"
        ax.plot(xs, [float(s["student"][u, item]) for s in toy.trajectory], "o-", color=c, ms=3,
                label=f"{user}, item {item}")
        ax.plot(xs, [float(s["teacher"][u, item]) for s in toy.trajectory], "--", color=c, alpha=0.7)
        for t, mu, mi in toy.mined_at:
            if (mu, mi) == (u, item):
                ax.plot([t], [float(toy.trajectory[t - 1]["student"][u, item])], "o", ms=11, mfc="none", color=c)
    ax.set(xlabel="step (logits at its start)", ylabel="logit")
    ax.set_title("Toy logits: student (solid), teacher (dashed); ring = in N_false at that step", fontsize=9)
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def ema_reaches(d: float) -> int:
    """The first update k at which ``ema_decay(d, k)`` equals d (the warm start is over):
    ``(1 + k) / (10 + k) >= d``, i.e. k >= (10 d - 1) / (1 - d). Before it, the rate does not
    depend on d."""
    if d >= 1:
        raise ValueError("d must be below 1: the warm-start rate never reaches 1")
    k = max(1, int(np.ceil((10 * d - 1) / (1 - d) - 1e-9)))
    while ema_decay(d, k) < d:          # guard against float rounding of the bound
        k += 1
    return k


def ema_schedule(d: float, updates: int = 8) -> pd.DataFrame:
    """The teacher's smoothing rate at update k = 1..updates (``train.ema_decay``)."""
    return pd.DataFrame({"k": range(1, updates + 1),
                         "decay": [ema_decay(d, k) for k in range(1, updates + 1)]}).set_index("k")


def warmup_table(losses, cfg) -> pd.DataFrame:
    """``train.warmup_ended`` evaluated after each epoch of a list of per-epoch summed losses."""
    rows = []
    for e in range(1, len(losses) + 1):
        L = list(losses[:e])
        rows.append(dict(epoch=e, loss=L[-1], last_drop=(L[-2] - L[-1]) if e > 1 else None,
                         threshold=(L[0] - L[5]) / 200 if e > 5 else None,
                         warmup_ended=warmup_ended(L, cfg)))
    return pd.DataFrame(rows).set_index("epoch")
