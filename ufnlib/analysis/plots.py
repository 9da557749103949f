"""Figures 4 and 5 and the detectors over epochs from cached records: the data behind each figure
as a DataFrame (saved as a table too), the figure, and the paper's sentences about it tested on
our numbers. Figure 3 is in ``hyperparams``."""
from __future__ import annotations

import math

import numpy as np

from . import casestudy, comparison
from .generations import of_record
from .stats import Claim, decided, missing_runs, outcome

LABEL = {"uniform": "SASRec", "ufn": "UFNRec"}


# ----------------------------------------------------------------------------------- Figure 4
def curves_frame(records, metrics=("hr@10", "ndcg@10")):
    """Per-epoch validation metrics (sampled, the validation split) of each run: the reported
    model's (the EMA teacher after warm-up for UFN) and, where kept, the student's."""
    import pandas as pd
    rows = []
    for r in records:
        c = r.config
        for h in r.history:
            if "valid" not in h:
                continue
            for kind, key in (("reported", "valid"), ("student", "valid_student")):
                if key in h:
                    rows.append(dict(strategy=c["strategy"], seed=c["seed"], epoch=h["epoch"], model=kind,
                                     warmup_end=r.warmup_end, best_epoch=r.best_epoch, generation=of_record(r),
                                     **{m: h[key][m] for m in metrics}))
    return pd.DataFrame(rows, columns=["strategy", "seed", "epoch", "model", "warmup_end", "best_epoch", "generation",
                                       *metrics])


def plot_curves(frame, metrics=("hr@10", "ndcg@10")):
    """Validation HR@10 / NDCG@10 per epoch: each seed thin, the mean over the seeds still running
    thick; UFNRec's student dashed; the warm-up end (mining and the teacher start) dotted."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.4), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for s, color in (("uniform", "C0"), ("ufn", "C3")):
            for kind, ls in (("reported", "-"), ("student", "--")):
                d = frame[(frame["strategy"] == s) & (frame["model"] == kind)]
                if d.empty:
                    continue
                for _, g in d.groupby("seed"):
                    ax.plot(g["epoch"], g[m], color=color, lw=0.6, alpha=0.35, ls=ls)
                mean = d.groupby("epoch")[m].mean()
                lab = LABEL[s] + (" (EMA teacher after warm-up)" if s == "ufn" and kind == "reported" else "")
                lab = lab if kind == "reported" else f"{LABEL[s]} student"
                ax.plot(mean.index, mean.values, color=color, lw=1.8, ls=ls, label=lab)
        w = frame.loc[frame["strategy"] == "ufn", "warmup_end"].dropna().unique()
        for k, e in enumerate(sorted(w)):
            ax.axvline(e + 0.5, color="0.3", ls=":", lw=1, label="warm-up end" if k == 0 else None)
        ax.set(xlabel="epoch", ylabel=f"validation {m.upper()} (sampled-100)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle("Validation curves (validation split, not test)", fontsize=10)
    fig.tight_layout()
    return fig


def curve_claims(frame, early: int = 30, res=None, note: str = "") -> list[Claim]:
    """Section 4.9's sentences about Figure 4, each decided by the comparison model: per-seed
    summaries of the validation curves (``comparison.compare_frame``), or, for "surpasses", the runs'
    validation at their selected epochs with the users' values (``comparison.compare_runs``, the
    records of ``res``). ``res``: the grid; while some of its SASRec or UFNRec runs are missing
    nothing is decided. ``note``: appended to each claim's detail (e.g. whether reversed
    validation items can lift the curves read)."""
    out = _curve_claims(frame, early, res)
    if note:
        for c in out:
            c.detail = f"{c.detail}; {note}" if c.detail else note
    return out


def _curve_claims(frame, early: int, res) -> list[Claim]:
    out = []
    needs = "SASRec and UFNRec runs, every seed of the profile"
    miss = missing_runs(res, strategy={"uniform", "ufn"})
    rep = frame[frame["model"] == "reported"]
    u, f = rep[rep["strategy"] == "uniform"], rep[rep["strategy"] == "ufn"]
    if u.empty or f.empty:
        for text in ("Until warm-up ends, UFNRec's curve is SASRec's.",
                     "In early epochs SASRec is slightly better than UFNRec.",
                     "After warm-up UFNRec surpasses the well-trained SASRec.",
                     "SASRec declines with more epochs while UFNRec stays high."):
            out.append(decided("Figure 4", text, "", None, "", "", needs, miss))
        return out
    same, mixed = [], []
    for seed in comparison.shared_seeds(f["seed"], u["seed"]):
        g, gu = f[f["seed"] == seed], u[u["seed"] == seed].set_index("epoch")
        w = g["warmup_end"].iloc[0]
        if w is None or (isinstance(w, float) and math.isnan(w)):
            continue
        if "generation" in g and g["generation"].iloc[0] != gu["generation"].iloc[0]:
            mixed.append(seed)     # other code, other floating-point results: not a check of this code
            continue
        gf = g[g["epoch"] <= w].set_index("epoch")
        common = gf.index.intersection(gu.index)
        same.append(bool(len(common)) and np.allclose(gf.loc[common, "ndcg@10"], gu.loc[common, "ndcg@10"]))
    out.append(decided("Figure 4 (ours, a check)", "Until warm-up ends, UFNRec's validation curve is SASRec's "
                     "(same seed: same batches and negatives).",
                     "equal validation NDCG@10 up to the warm-up epoch, per seed (a check of the code: no "
                     "sampling error, so holds or contradicted)",
                     all(same) if same else None, f"{sum(same)} of {len(same)} seed(s)"
                     + (f"; seed(s) {', '.join(map(str, mixed))} left out: SASRec and UFNRec runs of different "
                        "code generations" if mixed else ""), "", needs, miss))

    def per_seed(d, fn):
        """One row per seed: ``fn`` of its curve, and its generation."""
        import pandas as pd
        rows = [dict(seed=s, value=fn(g.sort_values("epoch")), generation=g["generation"].iloc[0]
                     if "generation" in g else "unknown") for s, g in d.groupby("seed")]
        return pd.DataFrame(rows, columns=["seed", "value", "generation"])
    e = min(early, u["epoch"].max(), f["epoch"].max())
    c = comparison.compare_frame(per_seed(f, lambda g: g.loc[g["epoch"] <= e, "ndcg@10"].mean()),
                                 per_seed(u, lambda g: g.loc[g["epoch"] <= e, "ndcg@10"].mean()), "value")
    out.append(decided("Figure 4", "In the early epochs (about 30) SASRec is slightly better than UFNRec.",
                       f"mean validation NDCG@10 over epochs 1-{e}, per seed: SASRec decided higher than UFNRec",
                       outcome([c.direction]), f"SASRec against UFNRec: {c.text()}", "", needs, miss))
    runs = [r for r in getattr(res, "records", [])]
    arm = lambda s: [r for r in runs if r.strategy == s]              # noqa: E731
    cs = {m: comparison.compare_runs(arm("uniform"), arm("ufn"), m, "valid") if arm("uniform") and arm("ufn")
          else None for m in ("hr@10", "ndcg@10")}
    ok = None if None in cs.values() else outcome([x.direction for x in cs.values()])
    out.append(decided("Figure 4", "After warm-up UFNRec surpasses the well-trained SASRec.",
                       "validation HR@10 and NDCG@10 at each run's selected epoch (its best): UFNRec helps against "
                       "SASRec on both", ok,
                       "; ".join(f"{m}: {x.text()}" for m, x in cs.items() if x is not None), "", needs, miss))

    def drop(g):
        return float(g["ndcg@10"].max() - g["ndcg@10"].iloc[-1])
    c = comparison.compare_frame(per_seed(f, drop), per_seed(u, drop), "value", relative=False)
    out.append(decided("Figure 4", "SASRec declines with more epochs while UFNRec stays high.",
                       "drop from the best to the last validated epoch (NDCG@10), per seed: SASRec's decided larger "
                       "than UFNRec's (runs end 'patience' validations after their best, not at 200 epochs)",
                       outcome([c.direction]), f"SASRec's drop minus UFNRec's: {c.text()}", "", needs, miss))
    return out


# ------------------------------------------------------------ Table 4's detectors over epochs
def plot_detectors(records, labels: dict, seed: int | None = None):
    """Two panels over the epochs of one seed's runs: entries flagged per epoch (log scale) and
    the share of them that is the user's validation or test item, with the random negatives'
    share dashed. ``labels``: strategy -> legend text."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    i = 0
    for s, label in labels.items():
        rs = [r for r in records if r.strategy == s and (seed is None or r.seed == seed)]
        if not rs:
            continue
        r = min(rs, key=lambda x: x.seed)
        hs = [h for h in r.history if h.get("mined") is not None]
        ep = [h["epoch"] for h in hs]
        c = f"C{i}"
        i += 1
        axes[0].plot(ep, [max(h["mined"], 0.5) for h in hs], "-", color=c, label=label)
        axes[1].plot(ep, [100 * (h["mined_later_share"] or 0) for h in hs], "-", color=c, label=label)
        axes[1].plot(ep, [100 * (h["random_later_share"] or 0) for h in hs], ":", color=c, alpha=0.6)
        best = r.best_epoch
        axes[1].axvline(best, color=c, lw=0.6, alpha=0.4)
    axes[0].set(yscale="log", xlabel="epoch", ylabel="entries flagged in the epoch",
                title="How much each detector flags")
    axes[1].set(xlabel="epoch", ylabel="% of flagged entries",
                title="Flagged entries that the user comes back to\n"
                      "(dotted: random negatives; thin line: selected epoch)")
    axes[1].set_ylim(bottom=0)
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ Figure 5 (case study)
def plot_case(c: dict, title: str = ""):
    """Rows of boxes: (a) history, (a') mined false negatives (green), (b) next items, then each
    model's top-k; a thick border marks items of the history's dominant category."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch
    rows = [("(a) history (training items)", c["history"], None),
            ("(a') false negatives mined for this user", c["mined"], "#c9f2c7"),
            ("(b) next items (valid, test)", c["next"], None)]
    rows += [(f"({chr(ord('c') + j)}) top-{len(t)} of {name}", t, None) for j, (name, t) in enumerate(c["top"].items())]
    per_line = 9
    heights = [max(1, -(-len(items) // per_line)) for _, items, _ in rows]
    fig, ax = plt.subplots(figsize=(14, 0.95 * sum(heights) + 0.55 * len(rows) + 0.6))
    ax.set_xlim(0, per_line)
    total = sum(heights) + 0.6 * len(rows)
    ax.set_ylim(0, total)
    ax.axis("off")
    y = total
    for label, items, color in rows:
        ax.text(0, y - 0.25, label, fontsize=9, fontweight="bold", va="center")
        y -= 0.55
        if not items:
            ax.text(0.1, y - 0.4, "(none)", fontsize=8, va="center", color="0.4")
        for j, it in enumerate(items):
            r, col = divmod(j, per_line)
            x0, y0 = col + 0.04, y - (r + 1) * 0.95 + 0.1
            cats = c["categories"].get(int(it), [])
            dom = c["dominant"] is not None and c["dominant"] in cats
            ax.add_patch(FancyBboxPatch((x0, y0), 0.92, 0.78, boxstyle="round,pad=0.01",
                                        fc=color or "white", ec="black", lw=2.4 if dom else 0.7))
            txt = casestudy.short_label(cats)
            if len(txt) > 34:
                txt = txt[:33] + "…"
            ax.text(x0 + 0.46, y0 + 0.39, f"#{it}\n" + "\n".join(_wrap(txt, 17)), ha="center", va="center",
                    fontsize=6.5)
        y -= heights[rows.index((label, items, color))] * 0.95 + 0.05
    ax.set_title(title or f"user {c['user']}: thick border = the history's dominant category "
                 f"'{c['dominant']}'", fontsize=10)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width)[:3] or [""]
