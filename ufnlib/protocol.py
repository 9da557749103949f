"""The protocol study (notebook 09): what a run's test numbers are under other readings than ours.

A run with ``log_test_every = k > 0`` logs, every k epochs and at its last one, the reported
model's test metrics (sampled-100 and full ranking), its full-ranking validation metrics, and the
reference code's own estimate: test on 10,000 randomly drawn users with freshly drawn negatives
(seeded per run and epoch). ``ProtocolLog`` writes these beside the history, never into it:
selection (``train.Trainer.fit``) reads ``history[...]["valid"]`` only, and a test checks that
the logged test numbers cannot move it.

``readings(rec)`` then gives one test value per way of reading such a run:

* ``validation``: the epoch with the best sampled validation NDCG@10 (ours, the honest one);
* ``last``: the last epoch (a fixed budget, as the reference trains);
* ``test_best``: the best test over the logged epochs (test-selected, optimistic);
* ``reference_last`` / ``reference_best``: the reference's 10,000-user estimate at the last
  logged epoch / its best over the logged epochs (the latter test-selected, optimistic);
* ``full_validation``: the logged epoch with the best full-ranking validation NDCG@10.
"""
from __future__ import annotations

import numpy as np
import torch

from .batches import NegativeSampler, membership_keys
from .evaluate import metrics_from_ranks

REFERENCE_USERS = 10_000   # the reference evaluates this many randomly drawn users
READINGS = {
    "validation": "epoch chosen on sampled validation (ours)",
    "last": "last epoch (fixed budget)",
    "full_validation": "epoch chosen on full-ranking validation",
    "test_best": "best logged test (test-selected, optimistic)",
    "reference_last": "reference estimate at the last epoch (10,000 users, fresh negatives)",
    "reference_best": "best logged reference estimate (test-selected, optimistic)",
}
OPTIMISTIC = ("test_best", "reference_best")


@torch.no_grad()
def sampled_ranks(evaluator, model, which: str, idx: torch.Tensor, negatives: torch.Tensor) -> np.ndarray:
    """0-based ranks of the target of the evaluator's users ``idx`` against ``negatives`` [len(idx), n]."""
    was = model.training
    model.eval()
    dev = next(model.parameters(), torch.empty(0)).device
    out = np.empty(len(idx), dtype=np.int64)
    users_t = torch.from_numpy(evaluator.users)
    for s in range(0, len(idx), evaluator.bs):
        j = idx[s:s + evaluator.bs]
        seq = evaluator.inputs[which][j]
        if not getattr(model, "attend_padding", False):
            seq = seq[:, -max(int((seq > 0).sum(1).max()), 1):]
        u = users_t[j].to(dev)
        h = model.final(seq.to(dev), u)
        cand = torch.cat([evaluator.targets[which][j][:, None], negatives[s:s + evaluator.bs]], 1).to(dev)
        sc = model.score(h, cand, u)
        out[s:s + len(j)] = (sc[:, 1:] >= sc[:, :1]).sum(1).cpu().numpy()
    model.train(was)
    return out


class ReferenceEstimate:
    """The reference's evaluation: ``n_users`` users drawn without replacement and 100 fresh
    negatives each (never an item of the user), from a generator seeded by (run seed, draw)."""

    def __init__(self, evaluator, split, seed: int, n_users: int = REFERENCE_USERS, n_neg: int = 100):
        self.ev, self.seed, self.n_neg = evaluator, seed, n_neg
        self.n_users = min(n_users, evaluator.n)
        self.keys = membership_keys(split, "all")
        self.n_items = split.n_items

    def draw(self, model, which: str, draw: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * (draw + 1))
        idx = torch.randperm(self.ev.n, generator=g)[: self.n_users]
        negs = NegativeSampler(self.keys, self.n_items, g).sample(torch.from_numpy(self.ev.users)[idx], self.n_neg)
        return metrics_from_ranks(sampled_ranks(self.ev, model, which, idx, negs))

    def spread(self, model, which: str = "test", draws: int = 20, first: int = 10_000) -> dict:
        """Mean, std, min and max of the estimate over ``draws`` independent draws."""
        vals = [self.draw(model, which, first + d) for d in range(draws)]
        out = {}
        for m in ("hr@10", "ndcg@10"):
            v = np.array([x[m] for x in vals])
            out[m] = dict(mean=float(v.mean()), std=float(v.std(ddof=1)), min=float(v.min()), max=float(v.max()))
        out["draws"] = draws
        return out


def heldout_in_nfalse(strategy, split) -> dict | None:
    """Per evaluated user: is the validation item / the test item among the user's mined false
    negatives (N_false, any of the user's training interactions)? None without an FMR memory."""
    memory = getattr(strategy, "memory", None)
    if memory is None or not hasattr(memory, "false_negatives"):
        return None
    users = np.flatnonzero(split.has_eval)
    out = {"valid": np.zeros(len(users), dtype=bool), "test": np.zeros(len(users), dtype=bool)}
    if getattr(strategy, "active", False) and memory.n_false():   # before mining starts: nothing mined
        i, items = memory.false_negatives()
        u = strategy.data.inter_user[i.cpu()].numpy()
        items = items.cpu().numpy()
        pos = np.full(split.n_users + 1, -1)
        pos[users] = np.arange(len(users))
        for which in ("valid", "test"):
            held = getattr(split, which)
            hit = items == held[u]
            out[which][pos[u[hit]]] = True
    return out


class ProtocolLog:
    """What a fixed-budget run logs beside its history (see the module docstring)."""

    def __init__(self, cfg, split, evaluator):
        self.every, self.split, self.ev = cfg.log_test_every, split, evaluator
        self.ref = ReferenceEstimate(evaluator, split, cfg.seed)
        self.entries: list[dict] = []
        self.heldout_best = None     # per-user held-out flags at the selected epoch

    def due(self, epoch: int, last: bool) -> bool:
        return self.every > 0 and (epoch % self.every == 0 or last)

    def log(self, epoch: int, model, strategy) -> dict:
        ev = self.ev
        valid = ev.evaluate(model, "valid", modes=("full",))[0]["full"]
        test = ev.evaluate(model, "test", modes=("sampled", "full"))[0]
        e = {"epoch": epoch, "valid_full": valid, "test": test,
             "reference_test": self.ref.draw(model, "test", epoch)}
        flags = heldout_in_nfalse(strategy, self.split)
        if flags is not None:
            e["heldout_in_nfalse"] = {k: int(v.sum()) for k, v in flags.items()}
        self.entries.append(e)
        return e

    def new_best(self, strategy) -> None:
        """At a new validation best: keep the held-out flags of that epoch."""
        if self.every > 0:
            self.heldout_best = heldout_in_nfalse(strategy, self.split)

    def state_dict(self) -> dict:
        return {"entries": self.entries, "heldout_best": self.heldout_best}

    def load_state_dict(self, st: dict) -> None:
        self.entries, self.heldout_best = list(st["entries"]), st["heldout_best"]


# ------------------------------------------------------------------------------- readings
def readings(rec: dict, metric: str = "ndcg@10") -> dict:
    """One test value per reading of a logged run (``READINGS``), each as {"epoch", "sampled"
    (metrics), "full" (metrics, where logged)}; {} for a run without a protocol log."""
    log = (rec.get("protocol") or {}).get("log") or []
    if not log:
        return {}
    last = max(log, key=lambda e: e["epoch"])
    out = {"validation": {"epoch": rec["selection"]["best_epoch"], "sampled": rec["metrics"]["test"]["sampled"],
                          "full": rec["metrics"]["test"]["full"]},
           "last": {"epoch": last["epoch"], "sampled": last["test"]["sampled"], "full": last["test"]["full"]}}
    fv = max(log, key=lambda e: e["valid_full"][metric])
    out["full_validation"] = {"epoch": fv["epoch"], "sampled": fv["test"]["sampled"], "full": fv["test"]["full"]}
    tb = max(log, key=lambda e: e["test"]["sampled"][metric])
    out["test_best"] = {"epoch": tb["epoch"], "sampled": tb["test"]["sampled"], "full": tb["test"]["full"]}
    out["reference_last"] = {"epoch": last["epoch"], "sampled": last["reference_test"], "full": None}
    rb = max(log, key=lambda e: e["reference_test"][metric])
    out["reference_best"] = {"epoch": rb["epoch"], "sampled": rb["reference_test"], "full": None}
    return out


# ------------------------------------------------------------------------------- analysis
def _by_strategy(records, **want) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        if all(r["config"].get(k) == v for k, v in want.items()):
            out.setdefault(r["config"]["strategy"], []).append(r)
    return {s: sorted(v, key=lambda r: r["seed"]) for s, v in out.items()}


def readings_frame(records, metrics=("hr@10", "ndcg@10")):
    """Long frame, one row per (run, reading, metric): the logged runs' test values."""
    import pandas as pd
    rows = []
    for r in records:
        for name, rd in readings(r).items():
            for m in metrics:
                rows.append(dict(strategy=r["config"]["strategy"], seed=r["seed"], reading=name,
                                 epoch=rd["epoch"], metric=m, value=rd["sampled"][m],
                                 full=(rd["full"] or {}).get(m)))
    return pd.DataFrame(rows, columns=["strategy", "seed", "reading", "epoch", "metric", "value", "full"])


def readings_table(frame, baseline: str = "uniform", metric: str = "ndcg@10"):
    """Strategy x reading: mean ± std over seeds of test ``metric`` (sampled-100), the mean
    epoch read, the relative change against ``baseline`` under the same reading and the paired
    t-test over seeds (matched by seed)."""
    import pandas as pd
    from scipy import stats as st

    from .stats import fmt_mean_std, fmt_p, fmt_pct
    f = frame[frame["metric"] == metric]
    rows = []
    for (reading, strategy), g in f.groupby(["reading", "strategy"], sort=False):
        b = f[(f["reading"] == reading) & (f["strategy"] == baseline)].set_index("seed")["value"]
        v = g.set_index("seed")["value"]
        common = v.index.intersection(b.index)
        rel = (v.mean() - b.mean()) / b.mean() if strategy != baseline and len(b) else float("nan")
        p = (st.ttest_rel(v[common], b[common]).pvalue
             if strategy != baseline and len(common) >= 2 else float("nan"))
        rows.append({"reading": READINGS[reading], "strategy": strategy, "seeds": len(v),
                     f"test {metric}": fmt_mean_std(v.mean(), v.std(ddof=1), len(v)),
                     "mean epoch": f"{g['epoch'].mean():.0f}", "vs " + baseline: fmt_pct(rel),
                     "p (seeds)": fmt_p(p), "_mean": v.mean(), "_rel": rel})
    df = pd.DataFrame(rows)
    if len(df):
        order = {k: i for i, k in enumerate(READINGS.values())}
        df = df.sort_values(["reading", "strategy"], key=lambda c: c.map(order) if c.name == "reading" else c)
    return df


def reading_claims(frame, res=None) -> list:
    """The paper's Table 3 statements, and the EMA control's, decided under each reading
    (means over seeds of test NDCG@10 and HR@10; sampled-100)."""
    from .stats import decided, missing_runs
    out = []
    means = frame.groupby(["reading", "strategy", "metric"])["value"].mean() if len(frame) else None

    def above(reading, a, b):
        try:
            return all(means[(reading, a, m)] > means[(reading, b, m)] for m in ("hr@10", "ndcg@10"))
        except (KeyError, TypeError):
            return None
    for reading, label in READINGS.items():
        tag = " (test-selected)" if reading in OPTIMISTIC else ""
        for a, b, text in (("ufn", "uniform", "+UFN beats SASRec."), ("fmr", "uniform", "+FMR beats SASRec."),
                           ("ufn", "ema_eval", "+UFN beats SASRec evaluated with EMA weights (the control).")):
            out.append(decided(f"Reading: {label}{tag}", text, "mean test HR@10 and NDCG@10 (sampled) above",
                               above(reading, a, b), "", "",
                               f"{a} and {b} fixed-budget runs, every seed",
                               missing_runs(res, strategy={a, b}, log_test_every=(2, 4))))
    return out


def warmup_frame(records, variants: dict, plateau_records=(), default_label: str = "plateau (reference)"):
    """UFN under each warm-up rule (and the profile's default rule, ``plateau_records``, labelled
    ``default_label``) beside SASRec: test (sampled) NDCG@10 and HR@10 per run, the warm-up end and
    the selected epoch."""
    import pandas as pd
    rows = []

    def add(rule, r):
        t = r["metrics"]["test"]["sampled"]
        rows.append(dict(rule=rule, strategy=r["config"]["strategy"], seed=r["seed"],
                         warmup_end=r.get("warmup_end_epoch"),
                         best_epoch=r["selection"]["best_epoch"], **{"hr@10": t["hr@10"], "ndcg@10": t["ndcg@10"]}))
    for r in plateau_records:
        add(default_label if r["config"]["strategy"] == "ufn" else "SASRec (no warm-up)", r)
    for rule, kw in variants.items():
        for r in records:
            c = r["config"]
            if c["strategy"] == "ufn" and all(c.get(k) == v for k, v in kw.items()):
                add(rule, r)
    return pd.DataFrame(rows, columns=["rule", "strategy", "seed", "warmup_end", "best_epoch", "hr@10", "ndcg@10"])


def heldout_split(records, root=None):
    """For each fixed-budget UFN run and the SASRec run of the same seed: users whose validation /
    test item was in N_false at the reported epoch, and UFN's per-user gain (sampled NDCG@10) on
    validation and test, split by whether that user's held-out item had been reversed."""
    import pandas as pd

    from .evaluate import per_user_metric
    from .experiments import load_ranks
    by = _by_strategy(records)
    base = {r["seed"]: r for r in by.get("uniform", [])}
    rows = []
    for r in by.get("ufn", []):
        b = base.get(r["seed"])
        if b is None:
            continue
        ru, rb = load_ranks(r["key"], root), load_ranks(b["key"], root)
        for which in ("valid", "test"):
            flags = ru.get(f"heldout_in_nfalse/{which}")
            if flags is None:
                continue
            flags = flags.astype(bool)
            gain = (per_user_metric(ru[f"{which}/sampled"], "ndcg@10")
                    - per_user_metric(rb[f"{which}/sampled"], "ndcg@10"))
            for grp, mask in (("reversed", flags), ("not reversed", ~flags)):
                rows.append(dict(seed=r["seed"], split=which, group=grp, users=int(mask.sum()),
                                 share=float(mask.mean()),
                                 gain=float(gain[mask].mean()) if mask.any() else float("nan"),
                                 gain_all=float(gain.mean())))
    return pd.DataFrame(rows, columns=["seed", "split", "group", "users", "share", "gain", "gain_all"])


def plot_curves(records, seed: int | None = None):
    """Validation and logged test NDCG@10 (sampled) over epochs, one panel per strategy of one
    seed's fixed-budget runs, with the epoch each reading chooses marked."""
    import matplotlib.pyplot as plt
    by = {s: [r for r in rs if seed is None or r["seed"] == seed][:1] for s, rs in _by_strategy(records).items()}
    by = {s: rs[0] for s, rs in by.items() if rs}
    fig, axes = plt.subplots(1, max(len(by), 1), figsize=(3.6 * max(len(by), 1), 3.2), sharey=True, squeeze=False)
    marks = {"validation": ("o", "C0"), "last": ("s", "0.3"), "full_validation": ("^", "C2"), "test_best": ("*", "C3")}
    for ax, (s, r) in zip(axes[0], by.items()):
        h = [e for e in r["history"] if "valid" in e]
        ax.plot([e["epoch"] for e in h], [e["valid"]["ndcg@10"] for e in h], color="C0", lw=1, label="validation")
        log = r["protocol"]["log"]
        ax.plot([e["epoch"] for e in log], [e["test"]["sampled"]["ndcg@10"] for e in log], color="C3", lw=1,
                label="test (logged)")
        for name, rd in readings(r).items():
            if name in marks:
                mk, col = marks[name]
                ax.plot(rd["epoch"], rd["sampled"]["ndcg@10"], mk, color=col, ms=7, label=READINGS[name])
        if r.get("warmup_end_epoch"):
            ax.axvline(r["warmup_end_epoch"], color="0.6", ls=":", lw=1)
        ax.set_title(f"{s} (seed {r['seed']})", fontsize=9)
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel("NDCG@10 (sampled-100)")
    if by:
        axes[0][-1].legend(fontsize=6, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def summary_table(frame, cols=("hr@10", "ndcg@10"), by="rule"):
    """Mean ± std over seeds of ``cols`` per ``by`` (and the seed count)."""
    import pandas as pd

    from .stats import fmt_mean_std
    rows = []
    for k, g in frame.groupby(by, sort=False):
        row = {by: k, "seeds": len(g)}
        for c in cols:
            row[c] = fmt_mean_std(g[c].mean(), g[c].std(ddof=1), len(g))
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_text(table, warm=None, baseline: str = "uniform") -> list[str]:
    """Plain sentences from ``readings_table`` (and ``warmup_frame``): under which reading +UFN,
    +FMR and the EMA control are above SASRec, and by how much; what the warm-up rules change."""
    out = []
    if table is None or not len(table):
        return ["Not computed: no fixed-budget run is in the cache yet."]
    for reading in READINGS.values():
        t = table[table["reading"] == reading].set_index("strategy")
        if baseline not in t.index or len(t) < 2:
            continue
        parts = [f"{s} {t.loc[s, '_rel']:+.1%}" for s in ("ufn", "fmr", "ema_eval") if s in t.index]
        seeds = int(t["seeds"].min())
        out.append(f"{reading}: against SASRec, NDCG@10 " + ", ".join(parts) + f" ({seeds}+ seed(s)).")
    if warm is not None and len(warm):
        m = warm.groupby("rule", sort=False)["ndcg@10"].mean()
        if len(m) > 1:
            best = m.idxmax()
            out.append("Warm-up: test NDCG@10 by rule " + ", ".join(f"{k} {v:.4f}" for k, v in m.items())
                       + f"; highest: {best}.")
    return out or ["Not computed: the runs of SASRec and its variants under one reading are not all there."]
