"""The protocol study's report (notebook 09): readings of the fixed-budget runs as tables, the
paper's Table 3 statements under each reading, the warm-up comparison, the held-out-item split,
the curves and the verdict in words. The runs and their logs: ``ufnlib.training.protocol``."""
from __future__ import annotations

from ..experiments.store import load_ranks
from ..training.evaluate import per_user_metric
from ..training.protocol import OPTIMISTIC, READINGS, readings
from .stats import decided, fmt_mean_std, fmt_p, fmt_pct, missing_runs


def _by_strategy(records, **want) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        if all(r.config.get(k) == v for k, v in want.items()):
            out.setdefault(r.strategy, []).append(r)
    return {s: sorted(v, key=lambda r: r.seed) for s, v in out.items()}


def readings_frame(records, metrics=("hr@10", "ndcg@10")):
    """Long frame, one row per (run, reading, metric): the logged runs' test values."""
    import pandas as pd
    rows = []
    for r in records:
        for name, rd in readings(r).items():
            for m in metrics:
                rows.append(dict(strategy=r.strategy, seed=r.seed, reading=name,
                                 epoch=rd["epoch"], metric=m, value=rd["sampled"][m],
                                 full=(rd["full"] or {}).get(m)))
    return pd.DataFrame(rows, columns=["strategy", "seed", "reading", "epoch", "metric", "value", "full"])


def readings_table(frame, baseline: str = "uniform", metric: str = "ndcg@10"):
    """Strategy x reading: mean ± std over seeds of test ``metric`` (sampled-100), the mean
    epoch read, the relative change against ``baseline`` under the same reading over the seeds
    both have, and the paired t-test over those seeds."""
    import pandas as pd
    from scipy import stats as st

    f = frame[frame["metric"] == metric]
    rows = []
    for (reading, strategy), g in f.groupby(["reading", "strategy"], sort=False):
        b = f[(f["reading"] == reading) & (f["strategy"] == baseline)].set_index("seed")["value"]
        v = g.set_index("seed")["value"]
        common = v.index.intersection(b.index)
        # against the baseline over the seeds both have (paired), never a mean over other seeds
        rel = ((v[common].mean() - b[common].mean()) / b[common].mean()
               if strategy != baseline and len(common) else float("nan"))
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


EMA_LABEL = "SASRec, EMA weights (control)"
SASREC_LABEL = "SASRec (no warm-up)"


def warmup_frame(records, variants: dict, plateau_records=(), default_label: str = "plateau (reference)"):
    """UFN under each warm-up rule (and the profile's default rule, ``plateau_records``, labelled
    ``default_label``) beside SASRec: test (sampled) NDCG@10 and HR@10 per run, the warm-up end and
    the selected epoch."""
    import pandas as pd
    rows = []

    def add(rule, r):
        t = r["metrics"]["test"]["sampled"]
        rows.append(dict(rule=rule, strategy=r.strategy, seed=r.seed,
                         warmup_end=r.warmup_end,
                         best_epoch=r.best_epoch, **{"hr@10": t["hr@10"], "ndcg@10": t["ndcg@10"]}))
    labels = {"ufn": default_label, "uniform": SASREC_LABEL, "ema_eval": EMA_LABEL}
    for r in plateau_records:
        if r.strategy in labels:
            add(labels[r.strategy], r)
    for rule, kw in variants.items():
        for r in records:
            c = r.config
            if c["strategy"] == "ufn" and all(c.get(k) == v for k, v in kw.items()):
                add(rule, r)
    return pd.DataFrame(rows, columns=["rule", "strategy", "seed", "warmup_end", "best_epoch", "hr@10", "ndcg@10"])


def heldout_split(records, root=None):
    """For each fixed-budget UFN run and the SASRec run of the same seed: users whose validation /
    test item was in N_false at the reported epoch, and UFN's per-user gain (sampled NDCG@10) on
    validation and test, split by whether that user's held-out item had been reversed."""
    import pandas as pd

    by = _by_strategy(records)
    base = {r.seed: r for r in by.get("uniform", [])}
    rows = []
    for r in by.get("ufn", []):
        b = base.get(r.seed)
        if b is None:
            continue
        ru, rb = load_ranks(r.key, root), load_ranks(b.key, root)
        for which in ("valid", "test"):
            flags = ru.get(f"heldout_in_nfalse/{which}")
            if flags is None:
                continue
            flags = flags.astype(bool)
            gain = (per_user_metric(ru[f"{which}/sampled"], "ndcg@10")
                    - per_user_metric(rb[f"{which}/sampled"], "ndcg@10"))
            for grp, mask in (("reversed", flags), ("not reversed", ~flags)):
                rows.append(dict(seed=r.seed, split=which, group=grp, users=int(mask.sum()),
                                 share=float(mask.mean()),
                                 gain=float(gain[mask].mean()) if mask.any() else float("nan"),
                                 gain_all=float(gain.mean())))
    return pd.DataFrame(rows, columns=["seed", "split", "group", "users", "share", "gain", "gain_all"])


def plot_curves(records, seed: int | None = None):
    """Validation and logged test NDCG@10 (sampled) over epochs, one panel per strategy of one
    seed's fixed-budget runs, with the epoch each reading chooses marked."""
    import matplotlib.pyplot as plt
    by = {s: [r for r in rs if seed is None or r.seed == seed][:1] for s, rs in _by_strategy(records).items()}
    by = {s: rs[0] for s, rs in by.items() if rs}
    fig, axes = plt.subplots(1, max(len(by), 1), figsize=(3.6 * max(len(by), 1), 3.2), sharey=True, squeeze=False)
    marks = {"validation": ("o", "C0"), "last": ("s", "0.3"), "full_validation": ("^", "C2"), "test_best": ("*", "C3")}
    for ax, (s, r) in zip(axes[0], by.items()):
        h = [e for e in r.history if "valid" in e]
        ax.plot([e["epoch"] for e in h], [e["valid"]["ndcg@10"] for e in h], color="C0", lw=1, label="validation")
        log = r["protocol"]["log"]
        ax.plot([e["epoch"] for e in log], [e["test"]["sampled"]["ndcg@10"] for e in log], color="C3", lw=1,
                label="test (logged)")
        for name, rd in readings(r).items():
            if name in marks:
                mk, col = marks[name]
                ax.plot(rd["epoch"], rd["sampled"]["ndcg@10"], mk, color=col, ms=7, label=READINGS[name])
        if r.warmup_end:
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

    rows = []
    for k, g in frame.groupby(by, sort=False):
        row = {by: k, "seeds": len(g)}
        for c in cols:
            row[c] = fmt_mean_std(g[c].mean(), g[c].std(ddof=1), len(g))
        rows.append(row)
    return pd.DataFrame(rows)


def warmup_comparison(warm, seeds_wanted: int, base: str = SASREC_LABEL,
                      default: str = "plateau (reference)"):
    """Each warm-up rule of ``warmup_frame`` against SASRec and against the default rule: test
    NDCG@10 (sampled) relative difference of the means and Welch's p over seeds (2+ seeds a side),
    and a status: "k of N seeds" while a rule has fewer than ``seeds_wanted``, else whether its
    means of HR@10 and NDCG@10 are both above SASRec's."""
    import numpy as np
    import pandas as pd
    from scipy import stats as ss

    def rel_p(a, b):
        rel = a.mean() / b.mean() - 1 if len(a) and len(b) else np.nan
        p = float(ss.ttest_ind(a, b, equal_var=False).pvalue) if len(a) > 1 and len(b) > 1 else np.nan
        return rel, p
    groups = {k: g for k, g in warm.groupby("rule", sort=False)}
    if base not in groups:
        return pd.DataFrame()
    b = groups[base]
    rows = []
    for rule, g in groups.items():
        if rule == base:
            continue
        r_base, p_base = rel_p(g["ndcg@10"], b["ndcg@10"])
        row = {"rule": rule, "seeds": len(g), "ndcg@10": g["ndcg@10"].mean(), "vs SASRec": r_base,
               "p vs SASRec": p_base}
        if rule != default and default in groups:
            row["vs default rule"], row["p vs default rule"] = rel_p(g["ndcg@10"], groups[default]["ndcg@10"])
        if rule not in (EMA_LABEL, default) and EMA_LABEL in groups:
            row["vs EMA control"], row["p vs EMA control"] = rel_p(g["ndcg@10"], groups[EMA_LABEL]["ndcg@10"])
        above = all(g[c].mean() > b[c].mean() for c in ("hr@10", "ndcg@10"))
        row["status"] = (f"{len(g)} of {seeds_wanted} seeds: not decided" if len(g) < seeds_wanted
                         else "above SASRec" if above else "not above SASRec")
        rows.append(row)
    out = pd.DataFrame(rows)
    return out[[c for c in out.columns if c != "status"] + ["status"]] if len(out) else out


def size_text(table, baseline: str = "uniform", metric: str = "ndcg@10") -> list[str]:
    """Does any reading reach the size of the paper's Table 3 gain (+UFN, +FMR over SASRec)? One
    sentence per strategy, with the largest gain over the readings computed."""
    from ..paper import TABLE3
    out = []
    for strategy, label in (("ufn", "+UFN"), ("fmr", "+FMR")):
        paper = TABLE3[metric][strategy] / TABLE3[metric][baseline] - 1
        t = table[table["strategy"] == strategy]
        if not len(t):
            continue
        top = t.loc[t["_rel"].idxmax()]
        reach = [r for r, v in zip(t["reading"], t["_rel"]) if v >= paper]
        out.append(f"Size: the paper's {label} gain in test NDCG@10 is {paper:+.1%}; "
                   + (f"reached under {'; '.join(reach)}" if reach else "no reading reaches it")
                   + f" (largest here: {top['_rel']:+.1%}, {top['reading']}).")
    return out


def verdict_text(table, warm=None, baseline: str = "uniform", seeds_wanted: int = 3,
                 default: str = "plateau (reference)") -> list[str]:
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
    out += size_text(table, baseline)
    comp = warmup_comparison(warm, seeds_wanted, default=default) if warm is not None and len(warm) else None
    if comp is not None and len(comp):
        parts = []
        for _, r in comp.iterrows():
            p = f", p {fmt_p(r['p vs SASRec'])}" if r["p vs SASRec"] == r["p vs SASRec"] else ""
            parts.append(f"{r['rule']} {r['vs SASRec']:+.1%}{p} ({r['status']})")
        out.append("Warm-up (default protocol, epoch chosen on validation), test NDCG@10 against SASRec: "
                   + "; ".join(parts) + ".")
        by_rule = comp.set_index("rule")
        st = by_rule["status"]
        if "validation" in st.index and not st["validation"].endswith("not decided"):
            plateau = st.get(default)
            changes = plateau is not None and (plateau == "above SASRec") != (st["validation"] == "above SASRec")
            ema = ""
            v = by_rule.loc["validation"]
            if "vs EMA control" in v.index and v["vs EMA control"] == v["vs EMA control"]:     # not NaN
                ema = (f"; against the EMA control (SASRec evaluated with EMA weights, no mining) the validation "
                       f"rule is {v['vs EMA control']:+.1%} (p {fmt_p(v['p vs EMA control'])})")
            out.append(f"The validation warm-up rule {'changes' if changes else 'does not change'} the verdict on "
                       f"'+UFN beats SASRec' under our protocol (epoch chosen on validation): with the reference's "
                       f"rule UFN is {plateau or 'not computed'}, with the validation rule {st['validation']}{ema}.")
    return out or ["Not computed: the runs of SASRec and its variants under one reading are not all there."]
