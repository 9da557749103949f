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
                     DECLINE):
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
                       outcome([c.direction]), _worded(c, "SASRec against UFNRec", LEVEL_WORDS), "", needs, miss))
    runs = [r for r in getattr(res, "records", [])]
    arm = lambda s: [r for r in runs if r.strategy == s]              # noqa: E731
    cs = {m: comparison.compare_runs(arm("uniform"), arm("ufn"), m, "valid") if arm("uniform") and arm("ufn")
          else None for m in ("hr@10", "ndcg@10")}
    ok = None if None in cs.values() else outcome([x.direction for x in cs.values()])
    out.append(decided("Figure 4", "After warm-up UFNRec surpasses the well-trained SASRec.",
                       "validation HR@10 and NDCG@10 at each run's selected epoch (its best): UFNRec decided higher "
                       "than SASRec on both", ok,
                       "; ".join(_worded(x, m, LEVEL_WORDS) for m, x in cs.items() if x is not None), "", needs, miss))

    out.append(_decline_claim(u, f, needs, miss))
    return out


DECLINE = "SASRec declines with more epochs while UFNRec stays high."
WORDS = {comparison.HELPS: "larger", comparison.HURTS: "smaller"}
LEVEL_WORDS = {comparison.HELPS: "higher", comparison.HURTS: "lower"}


def _worded(c, label: str, words: dict = WORDS) -> str:
    """``c.text()`` with a word for what is compared (a difference of drops: 'larger' / 'smaller';
    of levels, ``LEVEL_WORDS``: 'higher' / 'lower'; else 'no clear difference'), not 'helps' /
    'hurts', which say a method does good."""
    return f"{label}: " + comparison.cite(c.fmt_change(), c.fmt_interval(), words.get(c.word, c.word), c.n,
                                          c.mixed)


def _at(g, epoch) -> float:
    """The curve's NDCG@10 at the last validated epoch up to ``epoch``."""
    return float(g.loc[g["epoch"] <= epoch, "ndcg@10"].iloc[-1])


def decline_windows(u, f) -> dict:
    """Per seed both arms have: each run's best epoch (the maximum of its validation NDCG@10),
    its last validated epoch, the epochs it has after its best (its window), and the two drops
    over one horizon: ``same_k`` from each run's own best over k epochs, k the shorter of the two
    windows (None when one arm has no epoch after its best), and ``same_epochs`` over SASRec's
    post-peak epochs read on both curves (UFNRec's value at SASRec's best epoch minus at SASRec's
    last; negative while UFNRec is still rising)."""
    out = {}
    for seed in comparison.shared_seeds(f["seed"], u["seed"]):
        gs, gf = (d[d["seed"] == seed].sort_values("epoch") for d in (u, f))
        row = {}
        for name, g in (("uniform", gs), ("ufn", gf)):
            best = int(g.loc[g["ndcg@10"].idxmax(), "epoch"])
            last = int(g["epoch"].iloc[-1])
            row[name] = dict(best=best, last=last, window=last - best, generation=g["generation"].iloc[0]
                             if "generation" in g else "unknown", g=g)
        k = min(row["uniform"]["window"], row["ufn"]["window"])
        row["k"] = k
        row["same_k"] = None if k < 1 else {a: _at(r["g"], r["best"]) - _at(r["g"], r["best"] + k)
                                            for a, r in ((a, row[a]) for a in ("uniform", "ufn"))}
        b, e = row["uniform"]["best"], row["uniform"]["last"]
        row["same_epochs"] = None if e <= b or gf["epoch"].min() > b else \
            {"uniform": _at(gs, b) - _at(gs, e), "ufn": _at(gf, b) - _at(gf, e)}
        out[int(seed)] = row
    return out


def _decline_claim(u, f, needs, miss) -> Claim:
    """Figure 4's "SASRec declines ... while UFNRec stays high" with both arms' drops measured over
    the same horizon (``decline_windows``): SASRec's drop minus UFNRec's (validation NDCG@10,
    absolute), decided 'larger' as claimed. Over k epochs after each run's own best where every
    seed has k >= 1; in the same epochs (SASRec's post-peak window) always; the claim holds when
    every reading that could be made finds SASRec's drop larger. A seed whose UFNRec run has no
    epoch after its best (best = last epoch: it was still rising when the runs ended) leaves the
    first reading out, and "stays high" is then read as "does not decline within the observed
    epochs"."""
    import pandas as pd
    win = decline_windows(u, f)

    def frame(key, arm):
        return pd.DataFrame([dict(seed=s, value=w[key][arm], generation=w[arm]["generation"])
                             for s, w in win.items() if w[key] is not None], columns=["seed", "value", "generation"])
    ends = "; ".join(f"seed {s}: SASRec best {w['uniform']['best']}, last {w['uniform']['last']}; UFNRec best "
                     f"{w['ufn']['best']}, last {w['ufn']['last']}" for s, w in win.items())
    none_after = [s for s, w in win.items() if w["same_k"] is None]
    parts, dirs = [], []
    if win and not none_after:
        c = comparison.compare_frame(frame("same_k", "ufn"), frame("same_k", "uniform"), "value", relative=False)
        ks = ", ".join(f"s{s} {w['k']}" for s, w in win.items())
        parts.append(_worded(c, f"over the same number of epochs after each run's own best (k = the shorter "
                                f"post-best window of the seed's two runs: {ks})"))
        dirs.append(c.direction)
    elif none_after:
        parts.append(f"no common window after each run's best: the UFNRec run of seed(s) "
                     f"{', '.join(map(str, none_after))} has no epoch after its best (still rising when the run "
                     f"ended), so 'stays high' is read as 'does not decline within the observed epochs'")
    if any(w["same_epochs"] is not None for w in win.values()):
        c = comparison.compare_frame(frame("same_epochs", "ufn"), frame("same_epochs", "uniform"), "value",
                                     relative=False)
        parts.append(_worded(c, "in the same epochs, SASRec's best to its last validated epoch, read on both "
                                "curves (UFNRec's drop there is negative while it still rises)"))
        dirs.append(c.direction)
    ok = outcome(dirs)
    detail = ("SASRec's drop minus UFNRec's, validation NDCG@10 (sampled-100), absolute difference: "
              + "; ".join(parts) + (f" [epochs: {ends}]" if ends else "")) if win else ""
    return decided("Figure 4", DECLINE,
                   "drop of validation NDCG@10 (absolute) from the best epoch over the same horizon for both arms, "
                   "per seed: SASRec's decided larger than UFNRec's, in every reading the runs allow (the same "
                   "number of epochs after each run's own best, when both runs have epochs after it; and the "
                   "same epochs, SASRec's post-peak window)", ok, detail, "", needs, miss)


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
