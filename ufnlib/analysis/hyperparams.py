"""Figure 3 from cached records: UFNRec at each swept hyper-parameter value (one changed at a time,
the others at the profile's base), each point against SASRec on the same batch size (the
comparison model, corrected for the number of values swept), how the change moves along each
field, what FMR reversed at each point, and the figure. The paper's sentences about it:
``figure3_claims``."""
from __future__ import annotations

import math

from ..experiments.profiles import base_value
from ..experiments.store import as_record
from . import detector_tables
from .comparison import ONE_SEED, compare_runs, holm, shared_seeds
from .plots import LABEL
from .stats import fmt_p, fmt_pct
from .tables import fmt_interval, is_true

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


def figure3_points(records, profile: str):
    """The runs of Figure 3 by point: ``(sasrec, ufn)``, SASRec's runs by batch size (at the base
    and along the batch-size panel) and UFNRec's by (panel, value) ("default", None at the base)."""
    sasrec, ufn = {}, {}
    for r in (as_record(r) for r in records if r.config["strategy"] in LABEL):
        where = _panel_of(r.config, profile)
        if where is None:
            continue
        if r.strategy == "uniform":
            if where[0] in ("default", "batch_size"):
                sasrec.setdefault(r.config["batch_size"], []).append(r)
        else:
            ufn.setdefault(where, []).append(r)
    return sasrec, ufn


CORRECTION = ("Holm's step-down correction over the figure's swept values, per metric (a value with one seed has "
              "no test and counts in the family as p = 1)")


def hyper_versus(records, profile: str, metrics=("hr@10", "ndcg@10"), test: str = "wilcoxon", root=None):
    """Each UFNRec point of Figure 3 against SASRec at the same batch size (``comparison.compare_runs``:
    the seeds compared, both means, the relative change, its interval, the per-user and per-seed
    tests, the change on each seed, the code generations and the word), the word again after
    ``CORRECTION`` (``p_holm``, ``effect_holm``), how many of the compared UFNRec runs the epoch cap
    ended while still improving (``Record.cut_by_cap``: their number may still be rising) and the
    run keys of both arms. One row per (point, metric); the base point is panel "default" (Table 2's
    SASRec cell on Beauty, not in the correction's family)."""
    import numpy as np
    import pandas as pd
    sasrec, ufn = figure3_points(records, profile)
    order = {p: k for k, p in enumerate(["default", *PANELS])}
    rows = []
    for (panel, v), treat in sorted(ufn.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] or 0)):
        base = sasrec.get(v if panel == "batch_size" else base_value(profile, "batch_size"), [])
        for m in metrics:
            c = compare_runs(base, treat, m, "test", "sampled", test, root)
            runs = c.alignment.pairs
            row = c.row()
            rows.append(dict(panel=panel, value=v, metric=m, seeds=row["compared"], n=c.n, sasrec=c.base,
                             ufnrec=c.treat, **{k: row[k] for k in ("rel_improv", "ci_low", "ci_high", "p_both",
                                                                    "p_users", "p_seeds", "effect", "per_seed",
                                                                    "generations", "mixed", "note")},
                             cut=sum(t.run.cut_by_cap for _, t in runs),
                             sasrec_runs=",".join(b.run.key for b, _ in runs),
                             ufnrec_runs=",".join(t.run.key for _, t in runs), _c=c))
    out = pd.DataFrame(rows, columns=VERSUS_COLUMNS + ["_c"])
    out["p_holm"], out["effect_holm"] = np.nan, ""
    for m in metrics:
        at = (out["metric"] == m) & (out["panel"] != "default")
        out.loc[at, "p_holm"] = holm(out.loc[at, "p_both"].to_numpy(float))
        out.loc[at, "effect_holm"] = [c.word_at(p) for c, p in zip(out.loc[at, "_c"], out.loc[at, "p_holm"])]
    return out.drop(columns="_c")[VERSUS_COLUMNS[:12] + ["p_holm", "effect_holm"] + VERSUS_COLUMNS[12:]]


VERSUS_COLUMNS = ["panel", "value", "metric", "seeds", "n", "sasrec", "ufnrec", "rel_improv", "ci_low", "ci_high",
                  "p_both", "effect", "p_users", "p_seeds", "per_seed", "generations", "mixed", "note", "cut",
                  "sasrec_runs", "ufnrec_runs"]


def hyper_versus_display(versus):
    """``hyper_versus`` formatted for a Markdown table."""
    out = versus.copy()
    out["value"] = ["" if v is None or v != v else f"{v:g}" for v in out["value"]]
    for c in ("sasrec", "ufnrec"):
        out[c] = [f"{x:.4f}" if x == x else "" for x in out[c]]
    out["interval"] = [fmt_interval(lo, hi) for lo, hi in zip(out["ci_low"], out["ci_high"])]
    out["rel_improv"] = [fmt_pct(x) for x in out["rel_improv"]]
    for c in ("p_both", "p_holm", "p_users", "p_seeds"):
        out[c] = [fmt_p(x) for x in out[c]]
    out["mixed"] = ["yes" if is_true(x) else "" for x in out["mixed"]]
    for c in ("sasrec_runs", "ufnrec_runs"):
        out[c] = [", ".join(k[:8] for k in str(x).split(",")) if x == x and x else "" for x in out[c]]
    cols = {"n": "seeds (n)", "sasrec": "SASRec", "ufnrec": "UFNRec", "rel_improv": "Improv.",
            "interval": "95% interval", "effect": "verdict", "p_both": "p (interval)",
            "p_holm": "p (Holm)", "effect_holm": "verdict (Holm)", "p_users": "p (users)",
            "per_seed": "Improv. per seed", "p_seeds": "p (seeds)", "generations": "generations",
            "mixed": "mixed generations", "cut": "UFNRec runs cut by the cap", "sasrec_runs": "SASRec runs",
            "ufnrec_runs": "UFNRec runs"}
    return out[["panel", "value", "metric", *cols]].rename(columns=cols).set_index(["panel", "value", "metric"])


def _point(value, n, usual) -> str:
    """A swept value as the trend and mining lines name it, with its seed count where that differs
    from the panel's usual one."""
    return f"{value:g}" + (f" (n={n})" if n != usual else "")


def hyper_trends(versus, profile: str, metric: str = "ndcg@10", strong: float = 0.8):
    """How UFNRec's change against SASRec (``hyper_versus``'s ``rel_improv``) moves along each
    swept field, the base point included (on its own seeds): Spearman's rho between the value and
    the change, words for it (|rho| >= ``strong``: rises / falls as the value grows; else no clear
    trend; fewer than 3 points: too few to tell), the point closest to or above SASRec with its
    verdict before and after ``CORRECTION`` (empty after it for the base point, which is outside
    the correction's family), and the points
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
        holm_word = top.get("effect_holm", "")
        rows.append(dict(panel=panel, points=len(pts), rho=rho, trend=word, best=float(top["value"]),
                         best_change=float(top["rel_improv"]), best_effect=top["effect"],
                         best_effect_holm=holm_word if isinstance(holm_word, str) else "", changes=listed))
    cols = ["panel", "points", "rho", "trend", "best", "best_change", "best_effect", "best_effect_holm", "changes"]
    return pd.DataFrame(rows, columns=cols)


def verdict_words(raw: str, holm) -> str:
    """A Figure 3 point's verdict before and after ``CORRECTION``: "helps, no clear difference after
    Holm's correction", "no clear difference, also after Holm's correction"; the raw verdict alone
    where there is no corrected one (the base point) or the point has one seed (nothing to test)."""
    holm = holm if isinstance(holm, str) else ""
    if not holm or raw == ONE_SEED:
        return raw + (" (the default, outside Holm's correction)" if not holm and raw != ONE_SEED else "")
    return f"{raw}, {'also ' if holm == raw else holm + ' '}after Holm's correction"


def trends_text(trends) -> list[str]:
    """One sentence per panel of ``hyper_trends``, the best point's verdict before and after Holm's
    correction (``verdict_words``; a table saved before the corrected column existed gives the raw
    verdict only)."""
    out = []
    for t in trends.itertuples():
        rho = f", Spearman rho {t.rho:+.2f}" if t.rho == t.rho else ""
        holm = getattr(t, "best_effect_holm", None)
        word = verdict_words(t.best_effect, holm) if "best_effect_holm" in trends else t.best_effect
        out.append(f"{CLAIM_PANEL[t.panel]}: UFN's change {t.trend} ({t.points} point{'s' * (t.points > 1)}{rho}: "
                   f"{t.changes}); "
                   f"best at {t.best:g} ({t.best_change:+.1%}; against SASRec: {word}).")
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
    seeds = set(shared_seeds(*(g["seed"] for _, g in swept.groupby("value"))))
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


BARS_NOTE = ("Top rows: UFNRec mean over its n seeds (n under each value), bars ±1 sample sd over those seeds "
             "(none with one seed); "
             "SASRec: line at its mean, shaded band ±1 sd over its seeds (alpha, m, d do not change it), "
             "points over batch sizes. ")
CHANGE_NOTE = ("Bottom rows: UFNRec's relative change against SASRec at the same batch size on the seeds both have, "
               "bars the 95% interval over training seeds and test users (none with one seed, grey marker); "
               "0 = SASRec; a point beyond the axis is drawn at its edge with its value.")


def _change_panel(ax, versus, panel: str, metric: str, profile: str, pos: dict, clip: float):
    """One bottom-row panel: each point's relative change against SASRec (``hyper_versus``; the
    base point at the base value) with its 95% interval, a zero line, and the y range kept to
    ``clip`` around zero so the points near SASRec stay readable (points beyond it at the edge,
    labelled with their value)."""
    v = versus[versus["metric"] == metric]
    pts = v[v["panel"] == panel].assign(value=lambda d: d["value"].astype(float))
    base = v[v["panel"] == "default"].assign(value=float(base_value(profile, panel)))
    import pandas as pd
    parts = [p[p["rel_improv"].notna()] for p in (pts, base)]
    pts = pd.concat([p for p in parts if len(p)]) if any(len(p) for p in parts) else parts[0]
    ax.axhline(0, color="C0", lw=1.2, label="SASRec (change 0)")
    for r in pts.itertuples():
        if r.value not in pos:
            continue
        x, y = pos[r.value], 100 * r.rel_improv
        lo, hi = 100 * r.ci_low, 100 * r.ci_high
        one = not (lo == lo and hi == hi)
        color = "0.55" if one else "C3"
        yc = min(max(y, -clip), clip)
        if y != yc:                                              # off the axis: at its edge, with its value
            ax.plot([x], [yc], marker="v" if y < 0 else "^", color=color, ms=6, ls="none")
            ax.annotate(f"{y:+.1f}%", (x, yc), textcoords="offset points", xytext=(0, 7 if y < 0 else -11),
                        ha="center", fontsize=6, color=color)
            continue
        if one:
            ax.plot([x], [y], marker="o", ms=4, color=color, ls="none", label="one seed (no interval)")
        else:
            ax.errorbar([x], [y], yerr=[[y - max(lo, -clip)], [min(hi, clip) - y]], color=color, marker="o", ms=4,
                        capsize=3, lw=1.3, ls="none", label="UFNRec − SASRec, 95% interval")
    ax.set_ylim(-clip, clip)
    return {r.value: int(r.n) for r in pts.itertuples()}


def plot_hyperparameters(frame, profile: str, metrics=("hr@10", "ndcg@10"), versus=None, clip: float = 6.0):
    """Panels (metric x hyper-parameter): UFNRec at each value (mean ± std over seeds, the
    seed count n of each point under its tick); SASRec as a band (alpha, m, d do
    not touch it) or a line (batch size). Where the swept points have fewer seeds than the band, a
    dashed line gives SASRec on their seeds (``seed_matched_reference``). An open marker: at least
    one of the point's runs was still improving when the epoch cap ended it. Dotted: the base
    value. With ``versus`` (``hyper_versus``), a second block of rows gives each point's relative
    change against SASRec (%) with its 95% interval (``_change_panel``; y range ±``clip``), so
    differences near SASRec stay visible whatever the range of the top rows; the figure's note
    says what the bars and the band are (``BARS_NOTE``, ``CHANGE_NOTE``)."""
    import matplotlib.pyplot as plt
    summ = hyper_summary(frame, metrics)
    counts = {}
    rows = list(metrics) + (list(metrics) if versus is not None and len(versus) else [])
    fig, axes = plt.subplots(len(rows), len(PANELS), figsize=(3.4 * len(PANELS), 2.7 * len(rows)),
                             squeeze=False)
    for j, (panel, title) in enumerate(PANELS.items()):
        sp = summ[summ["panel"] == panel] if len(summ) else summ
        values = sorted(set(sp["value"])) if len(sp) else [base_value(profile, panel)]
        pos = {v: k for k, v in enumerate(values)}
        for i, m in enumerate(rows):
            ax = axes[i][j]
            if i >= len(metrics):
                counts[(i, j)] = _change_panel(ax, versus, panel, m, profile, pos, clip)   # n = seeds compared
            for s, color in (("uniform", "C0"), ("ufn", "C3")):
                if i >= len(metrics):
                    break
                d = sp[sp["strategy"] == s].sort_values("value") if len(sp) else sp
                if not len(d):
                    continue
                mu, sd = d[f"{m}_mean"].to_numpy(), d[f"{m}_std"].fillna(0).to_numpy()
                if s == "uniform" and panel != "batch_size":
                    ax.axhline(mu[0], color=color, lw=1.2,
                               label=f"{LABEL[s]} (not affected, n={d[f'{m}_count'].iloc[0]}), band ±1 sd")
                    if sd[0] > 0:
                        ax.axhspan(mu[0] - sd[0], mu[0] + sd[0], color=color, alpha=0.12)
                    ref = seed_matched_reference(frame, panel, m)
                    if ref is not None:
                        ax.axhline(ref[0], color=color, lw=1, ls="--",
                                   label=f"{LABEL[s]} on the swept points' seed{'s' * (len(ref[1]) > 1)} "
                                         f"{', '.join(map(str, ref[1]))}")
                    continue
                x = [pos[v] for v in d["value"]]
                ax.errorbar(x, mu, yerr=sd, color=color, marker="o", ms=4, capsize=3, lw=1.3,
                            label=f"{LABEL[s]}, ±1 sd over seeds" + ("" if s == "ufn" else " (n = "
                            + ", ".join(f"{v:g}: {n}" for v, n in zip(d["value"], d[f"{m}_count"])) + ")"))
                cut = _cut_points(frame, panel, s)
                if any(v in cut for v in d["value"]):                # open marker: a run cut by the epoch cap
                    xc = [k for k, v in zip(x, d["value"]) if v in cut]
                    ax.plot(xc, [y for y, v in zip(mu, d["value"]) if v in cut], ls="none", marker="o", ms=6,
                            mfc="white", mec=color, mew=1.3, zorder=3, label="still improving at the epoch cap")
                if s == "ufn":                             # the seed count of each point, under its tick
                    counts[(i, j)] = dict(zip(d["value"], d[f"{m}_count"]))
            ax.axvline(pos.get(base_value(profile, panel), -1), color="0.6", ls=":", lw=1)
            ax.set_xticks(range(len(values)))
            n_at = counts.get((i, j), {})
            ax.set_xticklabels([f"{v:g}" + (f"\nn={n_at[v]}" if v in n_at else "") for v in values], fontsize=8)
            ax.set_xlim(-0.5, len(values) - 0.5)
            if i == len(rows) - 1 or i == len(metrics) - 1:
                ax.set_xlabel(title)
            if j == 0:
                ax.set_ylabel(m.upper() if i < len(metrics) else f"{m.upper()}: change vs SASRec (%)")
            ax.grid(alpha=0.3)
    legend = {}                                # one entry per label, from whichever panel drew it
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(lab, h)
    fig.tight_layout()
    if legend:                                                           # below the panels, off the data
        fig.legend(legend.values(), legend.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(legend), 4), fontsize=8, frameon=False)
        import textwrap
        note = BARS_NOTE + (CHANGE_NOTE if len(rows) > len(metrics) else "")
        fig.text(0.5, -0.075 if len(legend) > 4 else -0.045, "\n".join(textwrap.wrap(note, 190)), ha="center",
                 va="top", fontsize=7)
    return fig
