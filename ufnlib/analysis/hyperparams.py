"""Figure 3 from cached records: UFNRec at each swept hyper-parameter value (one changed at a time,
the others at the profile's base), each point against SASRec on the same batch size and seeds,
how the change moves along each field, what FMR reversed at each point, the figure, and the
paper's sentences about it tested on our numbers."""
from __future__ import annotations

import math
import operator

from .. import paper
from ..experiments.profiles import base_value, sweeps
from ..experiments.store import as_record
from . import detector_tables
from .plots import LABEL
from .stats import Claim, compare, decided, effect, fmt_p, fmt_pct, missing_runs, rel_improvement

PANELS = {"alpha": "loss weight α", "m": "re-fed times m", "decay": "EMA decay d", "batch_size": "batch size"}
CLAIM_PANEL = {"alpha": "alpha", "m": "m", "decay": "d", "batch_size": "batch size"}


def _panel_of(config, profile: str):
    """(panel, value) of a Figure 3 run: the one swept field that differs from the profile's base,
    ("default", None) for a run at the base, None for a run off the figure."""
    diff = [f for f in PANELS if config[f] != base_value(profile, f)]
    if len(diff) > 1:
        return None
    return (diff[0], config[diff[0]]) if diff else ("default", None)


def hyper_frame(records, profile: str, metrics=("hr@10", "ndcg@10"), which="test", mode="sampled"):
    """One row per (panel, run): the swept field's value, strategy, seed, run key, metrics and
    whether the epoch cap ended the run while still improving (``cut``). A run that differs from the profile's
    base in one swept field belongs to that field's panel; a run at the base belongs to every panel
    (SASRec's base run is the reference line of the alpha, m and d panels, which do not change
    SASRec)."""
    import pandas as pd
    rows = []
    for r in map(as_record, records):
        c = r.config
        if c["strategy"] not in LABEL:
            continue
        where = _panel_of(c, profile)
        if where is None:
            continue
        base = where[0] == "default"
        for panel in (list(PANELS) if base else [where[0]]):
            rows.append(dict(panel=panel, value=c[panel], strategy=c["strategy"], seed=c["seed"], key=r.key,
                             base=base, cut=r.cut_by_cap, **{m: r.value(m, mode, which) for m in metrics}))
    cols = ["panel", "value", "strategy", "seed", "key", "base", "cut", *metrics]
    return pd.DataFrame(rows, columns=cols)


def hyper_summary(frame, metrics=("hr@10", "ndcg@10")):
    """Mean, sample std and seed count per (panel, strategy, value)."""
    if frame.empty:
        return frame
    g = frame.groupby(["panel", "strategy", "value"])
    out = g[list(metrics)].agg(["mean", "std", "count"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    return out.reset_index()


def hyper_versus(records, profile: str, metrics=("hr@10", "ndcg@10"), test: str = "wilcoxon", root=None):
    """Each UFNRec point of Figure 3 against SASRec at the same batch size, on the seeds both
    have: the two means, the relative change, the per-user test (as in Table 2) and the word for
    it (``stats.effect``); the change on each seed and the paired test over seeds (NaN with one
    seed); how many of the point's UFNRec runs the epoch cap ended while still
    improving (``Record.cut_by_cap``: their number may still be rising); the run keys of both arms.
    One row per (point, metric); the base point is panel "default"."""
    import pandas as pd
    recs = [as_record(r) for r in records if r.config["strategy"] in LABEL]
    sasrec, ufn = {}, {}
    for r in recs:
        where = _panel_of(r.config, profile)
        if where is None:
            continue
        if r.strategy == "uniform":
            if where[0] in ("default", "batch_size"):
                sasrec.setdefault(r.config["batch_size"], []).append(r)
        else:
            ufn.setdefault(where, []).append(r)
    order = {p: k for k, p in enumerate(["default", *PANELS])}
    rows = []
    for (panel, v), treat in sorted(ufn.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] or 0)):
        base = sasrec.get(v if panel == "batch_size" else base_value(profile, "batch_size"), [])
        seeds = sorted({r.seed for r in treat} & {r.seed for r in base})
        pick = lambda rs: [r for r in rs if r.seed in seeds]           # noqa: E731
        df = compare({"SASRec": pick(base), "UFNRec": pick(treat)}, "SASRec", metrics, "test", "sampled",
                     test, root)
        by_seed = {r.seed: r for r in pick(base)}
        for m in metrics:
            a = df[(df["arm"] == "SASRec") & (df["metric"] == m)].iloc[0]
            b = df[(df["arm"] == "UFNRec") & (df["metric"] == m)].iloc[0]
            each = {r.seed: rel_improvement(r.value(m, "sampled", "test"), by_seed[r.seed].value(m, "sampled", "test"))
                    for r in pick(treat)}
            rows.append(dict(panel=panel, value=v, metric=m, seeds=",".join(map(str, seeds)), n=len(seeds),
                             sasrec=a["mean"], ufnrec=b["mean"], rel_improv=b["rel_improv"],
                             p_users=b["p_users"], effect=effect(b["rel_improv"], b["p_users"]),
                             per_seed=", ".join(f"s{k} {fmt_pct(x)}" for k, x in sorted(each.items())),
                             p_seeds=b["p_seeds"],
                             cut=sum(r.cut_by_cap for r in pick(treat)),
                             sasrec_runs=",".join(r.key for r in pick(base)),
                             ufnrec_runs=",".join(r.key for r in pick(treat))))
    cols = ["panel", "value", "metric", "seeds", "n", "sasrec", "ufnrec", "rel_improv", "p_users", "effect",
            "per_seed", "p_seeds", "cut", "sasrec_runs", "ufnrec_runs"]
    return pd.DataFrame(rows, columns=cols)


def hyper_versus_display(versus):
    """``hyper_versus`` formatted for a Markdown table."""
    out = versus.copy()
    out["value"] = ["" if v is None or v != v else f"{v:g}" for v in out["value"]]
    for c in ("sasrec", "ufnrec"):
        out[c] = [f"{x:.4f}" if x == x else "" for x in out[c]]
    out["rel_improv"] = [fmt_pct(x) for x in out["rel_improv"]]
    out["p_users"] = [fmt_p(x) for x in out["p_users"]]
    out["p_seeds"] = [fmt_p(x) for x in out["p_seeds"]]
    for c in ("sasrec_runs", "ufnrec_runs"):
        out[c] = [", ".join(k[:8] for k in str(x).split(",")) if x == x and x else "" for x in out[c]]
    return out.rename(columns={"n": "seeds (n)", "sasrec": "SASRec", "ufnrec": "UFNRec", "rel_improv": "Improv.",
                               "p_users": "p (users)", "per_seed": "Improv. per seed", "p_seeds": "p (seeds)",
                               "cut": "UFNRec runs cut by the cap",
                               "sasrec_runs": "SASRec runs", "ufnrec_runs": "UFNRec runs"}
                      ).drop(columns=["seeds"]).set_index(["panel", "value", "metric"])


def _point(value, n, usual) -> str:
    """A swept value as the trend and mining lines name it, with its seed count where that differs
    from the panel's usual one."""
    return f"{value:g}" + (f" (n={n})" if n != usual else "")


def hyper_trends(versus, profile: str, metric: str = "ndcg@10", strong: float = 0.8):
    """How UFNRec's change against SASRec (``hyper_versus``'s ``rel_improv``) moves along each
    swept field, the base point included (on its own seeds): Spearman's rho between the value and
    the change, words for it (|rho| >= ``strong``: rises / falls as the value grows; else no clear
    trend; fewer than 3 points: too few to tell), the point closest to or above SASRec, and the points
    themselves ("value change", with the seed count where it differs from the panel's)."""
    import pandas as pd
    from scipy import stats as ss
    v = versus[versus["metric"] == metric]
    base = v[v["panel"] == "default"]
    rows = []
    for panel in PANELS:
        pts = v[v["panel"] == panel].assign(value=lambda d: d["value"].astype(float))
        if len(base):
            pts = pd.concat([pts, base.assign(panel=panel, value=float(base_value(profile, panel)))])
        pts = pts[pts["rel_improv"].notna()].sort_values("value")
        if not len(pts):
            continue
        usual = pts["n"].mode().iloc[0]
        listed = ", ".join(f"{_point(x.value, x.n, usual)} {x.rel_improv:+.1%}" for x in pts.itertuples())
        rho = float(ss.spearmanr(pts["value"], pts["rel_improv"]).statistic) if len(pts) >= 3 else math.nan
        word = ("has too few points to tell" if len(pts) < 3 else "shows no clear trend" if not abs(rho) >= strong
                else f"{'rises' if rho > 0 else 'falls'} as {CLAIM_PANEL[panel]} grows")
        top = pts.loc[pts["rel_improv"].idxmax()]
        rows.append(dict(panel=panel, points=len(pts), rho=rho, trend=word, best=float(top["value"]),
                         best_change=float(top["rel_improv"]), best_effect=top["effect"], changes=listed))
    cols = ["panel", "points", "rho", "trend", "best", "best_change", "best_effect", "changes"]
    return pd.DataFrame(rows, columns=cols)


def trends_text(trends) -> list[str]:
    """One sentence per panel of ``hyper_trends``."""
    out = []
    for t in trends.itertuples():
        rho = f", Spearman rho {t.rho:+.2f}" if t.rho == t.rho else ""
        out.append(f"{CLAIM_PANEL[t.panel]}: UFN's change {t.trend} ({t.points} point{'s' * (t.points > 1)}{rho}: "
                   f"{t.changes}); "
                   f"best at {t.best:g} ({t.best_change:+.1%}, {t.best_effect} against SASRec).")
    return out


MINING_COLUMNS = ("flagged_per_epoch", "later_share", "lift", "nfalse_at_best", "mining_epochs")
MINING_FORMATS = {"flagged_per_epoch": "{:,.0f}", "later_share": "{:.3%}", "lift": "{:.1f}x",
                  "nfalse_at_best": "{:,.0f}", "mining_epochs": "{:.0f}", "value": "{:g}"}


def hyper_mining(records, profile: str):
    """What FMR reversed at each Figure 3 point (``detector_tables.detector_runs`` on its UFNRec
    runs, over all their mining epochs: a run that collapsed early and went on mining until
    patience stopped it counts all of it): entries reversed per mining epoch, the share of them
    that are items the user came back to, its lift over random negatives, N_false at the selected
    epoch, the mining epochs; mean over seeds per (panel, value). The base point is in every panel,
    as in ``hyper_frame``."""
    import pandas as pd
    recs = [r for r in map(as_record, records) if r.strategy == "ufn"]
    runs = detector_tables.detector_runs(recs, strategies=("ufn",), upto="end")
    cols = ["panel", "value", "base", "n", *MINING_COLUMNS]
    if not len(runs):
        return pd.DataFrame(columns=cols)
    at = hyper_frame(recs, profile, metrics=())[["key", "panel", "value", "base"]].merge(runs, on="key")
    out = at.groupby(["panel", "value", "base"])[list(MINING_COLUMNS)].mean()
    out.insert(0, "n", at.groupby(["panel", "value", "base"]).size())
    order = {p: i for i, p in enumerate(PANELS)}
    return out.reset_index().sort_values(["panel", "value"], key=lambda c: c.map(order) if c.name == "panel" else c,
                                         ignore_index=True)[cols]


def mining_text(mining) -> list[str]:
    """One line per panel with 2+ points: each point's reversed entries per epoch and their lift
    over random negatives (how often a reversed entry is an item the user came back to, relative
    to a random negative)."""
    out = []
    for panel, g in mining.groupby("panel", sort=False):
        if len(g) < 2:
            continue
        usual = g["n"].mode().iloc[0]
        out.append(f"{CLAIM_PANEL[panel]}: " + "; ".join(
            f"{_point(r.value, r.n, usual)}: {r.flagged_per_epoch:,.0f} reversed per epoch "
            f"over {r.mining_epochs:.0f} mining epochs, lift {r.lift:.1f}x" for r in g.itertuples()) + ".")
    return out


def seed_matched_reference(frame, panel: str, metric: str):
    """SASRec's mean in a panel that does not change it (alpha, m, d), over only the seeds that
    every swept UFNRec point of the panel has, and those seeds: the level a point with fewer seeds
    than SASRec's band is to be read against. None when the swept points have SASRec's seeds (the
    band is that level), share none, or have seeds SASRec lacks."""
    at = frame[frame["panel"] == panel]
    swept = at[(at["strategy"] == "ufn") & ~at["base"].astype(bool)]
    ref = at[at["strategy"] == "uniform"]
    if not len(swept) or not len(ref):
        return None
    seeds = set.intersection(*(set(g["seed"]) for _, g in swept.groupby("value")))
    if not seeds or seeds == set(ref["seed"]) or not seeds <= set(ref["seed"]):
        return None
    return float(ref.loc[ref["seed"].isin(seeds), metric].mean()), sorted(seeds)


def _cut_points(frame, panel: str, strategy: str) -> set:
    """The values of a panel's points with at least one run that the epoch cap ended while still
    improving (none when the frame has no ``cut`` column)."""
    if "cut" not in frame:
        return set()
    at = frame[(frame["panel"] == panel) & (frame["strategy"] == strategy) & frame["cut"].astype(bool)]
    return set(at["value"])


def plot_hyperparameters(frame, profile: str, metrics=("hr@10", "ndcg@10")):
    """2 x 4 panels (metric x hyper-parameter): UFNRec at each value (mean ± std over seeds, the
    seed count n beside each point); SASRec as a band (alpha, m, d do not touch it) or a line
    (batch size). Where the swept points have fewer seeds than the band, a dashed line gives
    SASRec on their seeds (``seed_matched_reference``). An open marker: at least one of the
    point's runs was still improving when the epoch cap ended it. Dotted: the base value."""
    import matplotlib.pyplot as plt
    summ = hyper_summary(frame, metrics)
    fig, axes = plt.subplots(len(metrics), len(PANELS), figsize=(3.4 * len(PANELS), 2.7 * len(metrics)),
                             squeeze=False)
    for j, (panel, title) in enumerate(PANELS.items()):
        sp = summ[summ["panel"] == panel] if len(summ) else summ
        values = sorted(set(sp["value"])) if len(sp) else [base_value(profile, panel)]
        pos = {v: k for k, v in enumerate(values)}
        for i, m in enumerate(metrics):
            ax = axes[i][j]
            for s, color in (("uniform", "C0"), ("ufn", "C3")):
                d = sp[sp["strategy"] == s].sort_values("value") if len(sp) else sp
                if not len(d):
                    continue
                mu, sd = d[f"{m}_mean"].to_numpy(), d[f"{m}_std"].fillna(0).to_numpy()
                if s == "uniform" and panel != "batch_size":
                    ax.axhline(mu[0], color=color, lw=1.2,
                               label=f"{LABEL[s]} (not affected, n={d[f'{m}_count'].iloc[0]})")
                    if sd[0] > 0:
                        ax.axhspan(mu[0] - sd[0], mu[0] + sd[0], color=color, alpha=0.12)
                    ref = seed_matched_reference(frame, panel, m)
                    if ref is not None:
                        ax.axhline(ref[0], color=color, lw=1, ls="--",
                                   label=f"{LABEL[s]} on the swept points' seed{'s' * (len(ref[1]) > 1)} "
                                         f"{', '.join(map(str, ref[1]))}")
                    continue
                x = [pos[v] for v in d["value"]]
                ax.errorbar(x, mu, yerr=sd, color=color, marker="o", ms=4, capsize=3, lw=1.3, label=LABEL[s])
                cut = _cut_points(frame, panel, s)
                if any(v in cut for v in d["value"]):                # open marker: a run cut by the epoch cap
                    xc = [k for k, v in zip(x, d["value"]) if v in cut]
                    ax.plot(xc, [y for y, v in zip(mu, d["value"]) if v in cut], ls="none", marker="o", ms=6,
                            mfc="white", mec=color, mew=1.3, zorder=3, label="still improving at the epoch cap")
                for xi, yi, n in zip(x, mu, d[f"{m}_count"]):        # the seed count of each point
                    ax.annotate(f"n={n}", (xi, yi), textcoords="offset points", ha="left", va="center",
                                fontsize=6, xytext=(5, 0), color=color)
            ax.axvline(pos.get(base_value(profile, panel), -1), color="0.6", ls=":", lw=1)
            ax.set_xticks(range(len(values)))
            ax.set_xticklabels([f"{v:g}" for v in values], fontsize=8)
            ax.set_xlim(-0.5, len(values) - 0.5)
            if i == len(metrics) - 1:
                ax.set_xlabel(title)
            if j == 0:
                ax.set_ylabel(m.upper().replace("NDCG", "NDCG"))
            ax.grid(alpha=0.3)
    legend = {}                                # one entry per label, from whichever panel drew it
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(lab, h)
    fig.tight_layout()
    if legend:                                                           # below the panels, off the data
        fig.legend(legend.values(), legend.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=len(legend), fontsize=8, frameon=False)
    return fig


def _get(summ, panel, strategy, value, metric):
    if summ is None or not len(summ):
        return None
    d = summ[(summ["panel"] == panel) & (summ["strategy"] == strategy) & (summ["value"] == value)]
    return float(d[f"{metric}_mean"].iloc[0]) if len(d) else None


def _on_common_seeds(frame, points):
    """``frame``'s summary over the seeds every one of ``points`` ((panel, strategy, value)) has,
    and those seeds; (None, []) when a point has no run or the points share no seed."""
    seeds = None
    for panel, strategy, value in points:
        at = (frame["panel"] == panel) & (frame["strategy"] == strategy) & (frame["value"] == value)
        seeds = set(frame.loc[at, "seed"]) if seeds is None else seeds & set(frame.loc[at, "seed"])
    if not seeds:
        return None, []
    return hyper_summary(frame[frame["seed"].isin(seeds)]), sorted(seeds)


def hyper_claims(frame, profile: str, res=None, versus=None) -> list[Claim]:
    """Section 4.8's sentences about Figure 3, each with the test we apply on seed means. Each
    test compares its points on the seeds they all have (a swept point with seed 1 only is set
    against the others' seed 1, not their 3-seed mean), and says which. ``res``: the grid; a claim
    whose points are missing from it is not decided. ``versus``: ``hyper_versus``'s table, whose
    per-user test decides "significant" in the small-alpha claim (without it: the means only)."""
    ms = ("hr@10", "ndcg@10")
    b = {f: base_value(profile, f) for f in PANELS}
    swept = sweeps(profile)
    out = []

    def both(fn):
        vals = [fn(m) for m in ms]
        return None if any(v is None for v in vals) else all(vals)

    def cmp(a, bb, op):
        return None if a is None or bb is None else op(a, bb)

    def computed(panel, strategy):
        """The values of ``panel`` at which ``strategy`` has runs."""
        return sorted(set(frame.loc[(frame["panel"] == panel) & (frame["strategy"] == strategy), "value"]))

    def seeds_text(seeds):
        return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else ""

    def on_panel(panel, values, **want):
        """The missing runs at ``values`` of ``panel`` with the other swept fields at the base."""
        return missing_runs(res, **{f: v for f, v in b.items() if f != panel}, **{panel: set(values)}, **want)

    def need(panel, values, sasrec=True):
        """The missing runs among UFNRec at ``values`` of ``panel`` (and SASRec at the base)."""
        miss = on_panel(panel, values, strategy="ufn")
        return miss + (missing_runs(res, strategy="uniform", **b) if sasrec else [])

    def panel_text(panel, values):
        return f"UFNRec at {panel} = {', '.join(f'{v:g}' for v in values)}" if values else f"the {panel} sweep"

    def add(panel, values, text, test, ok, detail="", sasrec=True, seeds=()):
        detail = "; ".join(x for x in (seeds_text(seeds), detail) if x)
        out.append(decided(f"Figure 3, {CLAIM_PANEL[panel]}", text, test, ok, detail, "",
                           panel_text(panel, values) + (" and SASRec at the base" if sasrec else ""),
                           need(panel, values, sasrec)))

    # alpha: the smallest swept value against SASRec; 0.2 against 0.5
    a_min = min(swept.get("alpha", ()), default=None)   # the profile's smallest swept alpha (none: not computed)
    summ, seeds = _on_common_seeds(frame, [("alpha", "ufn", a_min), ("alpha", "uniform", b["alpha"])])
    ok, detail, test = None, "", f"UFNRec at the smallest swept alpha ({a_min}) above SASRec on HR@10 and NDCG@10"
    if summ is not None:
        ok = both(lambda m: cmp(_get(summ, "alpha", "ufn", a_min, m), _get(summ, "alpha", "uniform", b["alpha"], m),
                                operator.gt))
        if versus is not None and len(versus):
            at = versus[(versus["panel"] == "alpha") & (versus["value"] == a_min)]
            words = dict(zip(at["metric"], at["effect"]))
            if all(m in words for m in ms):
                ok = all(words[m] == "helps" for m in ms)
                detail = ", ".join(f"{m} {words[m]}" for m in ms)
                test += ", per-user Wilcoxon p < 0.05 on both"
    add("alpha", [a_min] if a_min is not None else [],
        "The consistency loss gives significant improvements even with a small alpha.", test, ok, detail,
        seeds=seeds)
    summ, seeds = _on_common_seeds(frame, [("alpha", "ufn", 0.2), ("alpha", "ufn", 0.5)])
    ok = None if summ is None else cmp(_get(summ, "alpha", "ufn", 0.2, "hr@10"),
                                       _get(summ, "alpha", "ufn", 0.5, "hr@10"), operator.gt)
    add("alpha", [0.2, 0.5], "With a larger alpha HR@10 decreases (alpha = 0.2 vs 0.5).",
        "UFNRec HR@10 at alpha 0.2 above alpha 0.5", ok, sasrec=False, seeds=seeds)

    # m: 1 and 2 against 3; where the best m lies
    lows = [v for v in (1, 2) if v in computed("m", "ufn")]
    summ, seeds = _on_common_seeds(frame, [("m", "ufn", v) for v in (*lows, 3)]) if lows else (None, [])

    def m_low(m):
        ref3 = _get(summ, "m", "ufn", 3, m)
        xs = [_get(summ, "m", "ufn", v, m) for v in lows]
        return None if ref3 is None or None in xs else all(x < ref3 for x in xs)
    add("m", [1, 2, 3], "m < 3 gives inferior performance.", "UFNRec at m = 1 and 2 below m = 3 on both metrics",
        None if summ is None else both(m_low), sasrec=False, seeds=seeds)
    m_values = sorted({*swept.get("m", ()), b["m"]})
    have = computed("m", "ufn")
    summ, seeds = _on_common_seeds(frame, [("m", "ufn", v) for v in have]) if len(have) >= 3 else (None, [])
    best = None
    if summ is not None:
        md = summ[(summ["panel"] == "m") & (summ["strategy"] == "ufn")]
        best = md.loc[md["ndcg@10_mean"].idxmax(), "value"]
    add("m", m_values, "Performance improves with m up to m = 6, and drops when m is too large.",
        "the best m (NDCG@10) lies in 3..6", None if best is None else bool(3 <= best <= 6),
        "" if best is None else f"best m = {best:g} of {', '.join(f'{v:g}' for v in have)}", sasrec=False,
        seeds=seeds)

    # d: the spread over the computed values, and the direction
    d_values = sorted({*swept.get("decay", ()), b["decay"]})
    have = computed("decay", "ufn")
    summ, seeds = _on_common_seeds(frame, [("decay", "ufn", v) for v in have]) if len(have) >= 2 else (None, [])
    stable = "Performance is approximately stable for d from 0.9 to 0.999."
    rises = "HR@10 and NDCG@10 increase slightly with d."
    stable_test, rises_test = ("NDCG@10 range over d within 2% of its mean",
                               "both metrics at the largest d at or above the smallest d")
    if summ is not None:
        dd = summ[(summ["panel"] == "decay") & (summ["strategy"] == "ufn")].sort_values("value")
        v, hr = dd["ndcg@10_mean"].to_numpy(), dd["hr@10_mean"].to_numpy()
        spread = (v.max() - v.min()) / v.mean()
        add("decay", d_values, stable, stable_test, bool(spread <= 0.02), f"range {spread:.2%} of the mean",
            sasrec=False, seeds=seeds)
        add("decay", d_values, rises, rises_test, bool(v[-1] >= v[0] and hr[-1] >= hr[0]), sasrec=False, seeds=seeds)
    else:                                         # fewer than two d values computed: neither is decided
        add("decay", d_values, stable, stable_test, None, sasrec=False)
        add("decay", d_values, rises, rises_test, None, sasrec=False)

    # batch size: UFNRec against SASRec at each size (each pair on its common seeds); SASRec's best size
    bs_values = sorted({*swept.get("batch_size", ()), b["batch_size"]})
    bs_needs = f"UFNRec and SASRec at batch size {', '.join(map(str, bs_values))}"
    pairs = {}
    for v in bs_values:
        summ, seeds = _on_common_seeds(frame, [("batch_size", "ufn", v), ("batch_size", "uniform", v)])
        if summ is not None:
            pairs[v] = ({m: (_get(summ, "batch_size", "ufn", v, m), _get(summ, "batch_size", "uniform", v, m))
                         for m in ms}, seeds)
    big = [v for v in paper.SWEEPS["batch_size"] if v > 64 and v in pairs]
    ok = None if not big else all(pairs[v][0][m][0] > pairs[v][0][m][1] for v in big for m in ms)
    out.append(decided("Figure 3, batch size", "UFNRec outperforms SASRec with batch size > 64.",
                       "UFNRec above SASRec on both metrics at every batch size > 64", ok,
                       "; ".join(f"{v}: {seeds_text(pairs[v][1])}" for v in big), "", bs_needs,
                       on_panel("batch_size", {v for v in bs_values if v > 64})))
    have = computed("batch_size", "uniform")
    summ, seeds = _on_common_seeds(frame, [("batch_size", "uniform", v) for v in have]) if len(have) >= 3 \
        else (None, [])
    best, detail = None, ""
    if summ is not None:
        bu = summ[(summ["panel"] == "batch_size") & (summ["strategy"] == "uniform")].set_index("value")
        nd = bu["ndcg@10_mean"]
        best = nd.idxmax()
        detail = f"{seeds_text(seeds)}; best at {best:g}" + (
            f" ({nd[best] / nd[128] - 1:+.2%} over 128)" if best != 128 and 128 in nd.index else "")
    out.append(decided("Figure 3, batch size", "SASRec is best at batch size 128.",
                       "SASRec's NDCG@10 highest at 128 (3+ batch sizes needed)",
                       None if best is None else bool(best == 128), detail, "", bs_needs,
                       on_panel("batch_size", bs_values, strategy="uniform")))
    ok = None if 32 not in pairs else all(pairs[32][0][m][0] < pairs[32][0][m][1] for m in ms)
    out.append(decided("Figure 3, batch size", "UFNRec is poorer than SASRec at batch size 32.",
                       "UFNRec below SASRec on both metrics at 32", ok,
                       seeds_text(pairs[32][1]) if 32 in pairs else "", "", "UFNRec and SASRec at batch size 32",
                       on_panel("batch_size", [32])))
    return out
