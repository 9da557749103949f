"""The paper's Tables 2-4 rebuilt from cached records, with protocol captions and claim checks
(``table_claims``).

Each builder takes the records of a grid (``GridResult``) and returns a ``TableResult``: ``long``
(one row per cell, full precision: the CSV), ``display`` (formatted strings: the Markdown),
``caption`` (the protocol) and ``claims`` (the paper's sentences about the table, tested). The
paper's printed numbers (``ufnlib.paper``) sit beside ours in their own columns, for the sampled
protocol only (the paper reports nothing under full ranking).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import paper
from ..experiments.store import Record, as_record
from . import comparison, table_claims
from .captions import MODE_TEXT, SIG_TEXT, dataset_note, generation_note, protocol  # noqa: F401 (notebooks)
from .stats import ArmComparisons, fmt_mean_std, fmt_p, fmt_pct
from .table_claims import ARM_LABELS, table2_claims, table3_claims, table4_claims  # noqa: F401 (re-exported)

METRICS = paper.METRICS


@dataclass
class TableResult:
    long: object                       # pandas DataFrame
    display: object                    # pandas DataFrame of strings
    caption: str
    claims: list = field(default_factory=list)


def records_of(res) -> list[Record]:
    """The records of a ``GridResult``, or the given records."""
    return [as_record(r) for r in (res.records if hasattr(res, "records") else res)]


def fmt_interval(low, high) -> str:
    """'[-1.84%, +0.18%]'; empty without an interval."""
    ok = all(x is not None and np.isfinite(x) for x in (low, high))
    return f"[{fmt_pct(low)}, {fmt_pct(high)}]" if ok else ""


def _display_rows(long, label_cols, paper_cols=True):
    """Formatted display: label columns, ours (mean ± std over the arm's seeds), the comparison
    with the baseline (seeds compared, Improv., its interval, the verdict, both p-values, what to
    know about the pairing), paper."""
    import pandas as pd
    rows = []
    for _, r in long.iterrows():
        d = {c: r[c] for c in label_cols}
        d["ours"] = fmt_mean_std(r["mean"], r["std"], r["n"])
        n = r.get("n_compared", math.nan)
        d["seeds compared"] = r.get("compared") if isinstance(r.get("compared"), str) else ""
        d["Improv."] = fmt_pct(r.get("rel_improv", math.nan))
        d["95% interval"] = fmt_interval(r.get("ci_low", math.nan), r.get("ci_high", math.nan))
        d["verdict"] = r.get("effect") if isinstance(r.get("effect"), str) and n == n else ""
        d["p (users)"] = fmt_p(r.get("p_users", math.nan))
        d["p (seeds)"] = fmt_p(r.get("p_seeds", math.nan))
        d["pairing"] = r.get("note") if isinstance(r.get("note"), str) else ""
        if paper_cols:
            pv, pi = r.get("paper", math.nan), r.get("paper_improv", math.nan)
            d["paper"] = "" if pv is None or not np.isfinite(pv) else f"{pv:.4f}"
            d["paper Improv."] = fmt_pct(pi)
        rows.append(d)
    out = pd.DataFrame(rows).set_index(label_cols)
    return out.drop(columns=["pairing"]) if not out["pairing"].astype(bool).any() else out


def is_true(x) -> bool:
    """A flag read from a frame or a CSV: True, numpy's True or the string 'True' (NaN: False)."""
    return x is True or (isinstance(x, np.bool_) and bool(x)) or x == "True"


def _mixed(long, name) -> list[str]:
    """The names (``name(row)``) of the rows whose comparison mixes code generations."""
    m = long["mixed"] if "mixed" in long else []
    return [name(r) for r, x in zip(long.itertuples(), m) if is_true(x)]


# ------------------------------------------------------------------------------------ Table 2
def table2(res, mode: str = "sampled", datasets=None, backbones=None, test: str = "wilcoxon",
           root=None, profile: str | None = None) -> TableResult:
    """Backbone vs backbone + UFN for every (dataset, backbone) with runs (or asked); each cell's
    change, interval and verdict from the comparison model."""
    import pandas as pd
    recs = records_of(res)
    datasets = datasets or sorted({r.dataset for r in recs})
    backbones = backbones or ["sasrec", "bert4rec", "ssept"]
    parts, backbone_arms = [], {}
    for d in datasets:
        for bb in backbones:
            sel = lambda s: [r for r in recs if r.dataset == d and r.backbone == bb   # noqa: E731
                             and r.strategy == s]
            backbone_arms[(d, paper.BACKBONE_LABELS.get(bb, bb))] = sel("uniform")
            df = ArmComparisons({"backbone": sel("uniform"), "+UFN": sel("ufn")}, "test", mode, test,
                                root).long("backbone", METRICS)
            df.insert(0, "backbone", paper.BACKBONE_LABELS.get(bb, bb))
            df.insert(0, "dataset", d)
            df["paper"] = [paper.table2_value(d, bb, m, a == "+UFN") if mode == "sampled" else math.nan
                           for a, m in zip(df["arm"], df["metric"])]
            df["paper"] = df["paper"].astype(float)
            parts.append(df)
    long = pd.concat(parts, ignore_index=True) if parts else ArmComparisons({}).long("backbone", METRICS)
    long["paper_improv"] = math.nan
    for (d, bb, m), g in long.groupby(["dataset", "backbone", "metric"]):
        pb = g.loc[g["arm"] == "backbone", "paper"]
        pu = g.loc[g["arm"] == "+UFN", "paper"]
        if len(pb) and len(pu) and np.isfinite(pb.iloc[0]) and np.isfinite(pu.iloc[0]):
            long.loc[pu.index, "paper_improv"] = (pu.iloc[0] - pb.iloc[0]) / pb.iloc[0]
    have = long.groupby(["dataset", "backbone"])["n"].transform("sum") > 0   # cells with any run
    lacking = sorted({f"{d}/{b}/{a}" for d, b, a, n, h in
                      zip(long["dataset"], long["backbone"], long["arm"], long["n"], have) if h and n == 0})
    long = long[have].reset_index(drop=True) if have.any() else long
    display = _display_rows(long, ["dataset", "backbone", "metric", "arm"], paper_cols=(mode == "sampled"))
    used = [r for r in recs if r.dataset in datasets and r.backbone in backbones
            and r.strategy in ("uniform", "ufn")]
    mixed = sorted(set(_mixed(long, lambda r: f"{r.backbone} on {r.dataset}")))
    cap = (f"Table 2{' (full ranking)' if mode == 'full' else ''}. Backbones and backbone + UFN; 'ours' is each "
           "arm over its own seeds, the comparison is on the seeds compared. " + protocol(used, mode, profile)
           + " " + SIG_TEXT + generation_note(mixed)
           + (" Paper: the values printed in the paper's Table 2 (its Beauty is another version of "
              "the data; its seeds and epoch choice are not stated)." if mode == "sampled" else "")
           + (f" Rows without our numbers (no runs in this profile or cache): {', '.join(lacking)}." if lacking else "")
           + (" (dataset, backbone) pairs with no run at all are left out." if have.any() and not have.all() else ""))
    backbones_cmp = ArmComparisons(backbone_arms, "test", mode, test, root)
    return TableResult(long, display, cap, table_claims.table2_claims(long, mode, res, backbones_cmp))


def table2_effects(long, metric: str = "ndcg@10"):
    """UFN's effect in each computed (dataset, backbone) cell of Table 2 on ``metric``, as the
    comparison model words it: the seeds compared, the relative change, its interval, both
    p-values and the verdict. Returns ``(cells, grid)``: one row per cell, and a dataset x backbone
    table of "-3.5% [-4.1%, -2.9%] hurts (3)" strings."""
    u = long[(long["arm"] == "+UFN") & (long["metric"] == metric) & long["rel_improv"].notna()]
    cols = ["dataset", "backbone", "n_compared", "rel_improv", "ci_low", "ci_high", "p_users", "p_seeds", "effect",
            "mixed"]
    cells = u[[c for c in cols if c in u]].rename(columns={"n_compared": "n"}).reset_index(drop=True)
    cells["n"] = cells["n"].astype(int)
    grid = cells.assign(cell=[" ".join(x for x in (fmt_pct(r.rel_improv), fmt_interval(r.ci_low, r.ci_high),
                                                    r.effect, f"({r.n})") if x)
                              + (" mixed generations" if is_true(getattr(r, "mixed", False)) else "")
                              for r in cells.itertuples()])
    order = [b for b in paper.BACKBONE_LABELS.values() if b in set(cells["backbone"])]
    grid = grid.pivot(index="dataset", columns="backbone", values="cell").reindex(columns=order).fillna("")
    return cells, grid


def table2_schedules(res):
    """When UFN started mining, against when its backbone peaked: one row per (dataset, backbone,
    seed) UFN run of Table 2, with the backbone run of the same seed. ``mining from``: the epoch
    the warm-up ended; ``best``: the epoch chosen on validation; ``epochs``: how many ran; ``cut by
    the cap``: the run reached ``max_epochs`` while still improving (its best epoch within the
    last ``patience`` epochs), so the cap, not patience, ended it. Mining that starts long before
    the backbone's own best epoch starts on a model that is still learning (notebook 07 shows
    what that does on known data)."""
    import pandas as pd
    recs = [r for r in records_of(res) if r.strategy in ("uniform", "ufn")]
    rows = []
    for d, bb in sorted({(r.dataset, r.backbone) for r in recs}):
        arm = lambda s: [r for r in recs if (r.dataset, r.backbone, r.strategy) == (d, bb, s)]   # noqa: E731
        # the backbone run of the same seed, whatever its code generation: a schedule, not a comparison
        base = {seed: b for seed, b, _ in comparison.pairs(arm("uniform"), arm("ufn"), generations=False)}
        for r in sorted(arm("ufn"), key=lambda r: r.seed):
            b = base.get(r.seed)
            rows.append({"dataset": d, "backbone": paper.BACKBONE_LABELS.get(bb, bb), "seed": r.seed,
                         "backbone best": b.best_epoch if b else None,
                         "backbone epochs": b.epochs_run if b else None,
                         "UFN mining from": r.warmup_end, "UFN best": r.best_epoch, "UFN epochs": r.epochs_run,
                         "max epochs": r.field("max_epochs"),
                         "UFN cut by the cap": r.cut_by_cap,
                         "backbone cut by the cap": b.cut_by_cap if b else None})
    cols = ["dataset", "backbone", "seed", "backbone best", "backbone epochs", "UFN mining from", "UFN best",
            "UFN epochs", "max epochs", "UFN cut by the cap", "backbone cut by the cap"]
    return pd.DataFrame(rows, columns=cols)


def schedules_text(sched, patience: int | None = None) -> list[str]:
    """One sentence per backbone: medians of the mining start, the backbone's best epoch and
    UFN's, and how many UFN runs, and how many of the backbone runs beside them, the epoch cap cut
    while still improving. A table saved before it had the ``backbone cut by the cap`` column gives
    the backbone's count from its best epoch and epochs run when ``patience`` is given
    (``Record.cut_by_cap``'s rule), else leaves it out."""
    import pandas as pd
    out = []
    for bb, g in sched.groupby("backbone", sort=False):
        capped = int(g["UFN cut by the cap"].sum())
        base = g["backbone best"].dropna()
        if "backbone cut by the cap" in g:
            flags = g["backbone cut by the cap"].dropna().map(is_true)
        elif patience is not None:
            ok = g["backbone best"].notna()
            flags = ((g.loc[ok, "backbone epochs"] >= g.loc[ok, "max epochs"])
                     & (g.loc[ok, "backbone best"] > g.loc[ok, "max epochs"] - patience))
        else:
            flags = pd.Series(dtype=bool)
        out.append(f"{bb} ({len(g)} UFN run{'s' if len(g) > 1 else ''}): mining started at epoch "
                   f"{g['UFN mining from'].median():g} (median), "
                   + (f"while the backbone alone peaked at epoch {base.median():g}; " if len(base) else "")
                   + f"UFN's best epoch {g['UFN best'].median():g}; the {int(g['max epochs'].max())}-epoch cap "
                     f"cut {capped} of {len(g)} UFN run(s) while still improving"
                   + (f", and {int(flags.sum())} of the {len(flags)} backbone run(s) beside them" if len(flags) else "")
                   + ".")
    return out


# ------------------------------------------------------------------------------ Tables 3 and 4
def _strategy_table(res, strategies, paper_table, mode, test, root, extra_arms=None):
    recs = records_of(res)
    arms = {s: [r for r in recs if r.strategy == s and r.backbone == "sasrec"]
            for s in strategies}
    arms.update(extra_arms or {})
    cmp = ArmComparisons(arms, "test", mode, test, root)
    long = cmp.long("uniform", METRICS)
    long["label"] = [ARM_LABELS.get(a, a) for a in long["arm"]]
    long["paper"] = [paper_table[m].get(a, math.nan) if mode == "sampled" else math.nan
                     for a, m in zip(long["arm"], long["metric"])]
    long["paper_improv"] = [((p - paper_table[m]["uniform"]) / paper_table[m]["uniform"]
                             if a != "uniform" and np.isfinite(p) else math.nan)
                            for a, m, p in zip(long["arm"], long["metric"], long["paper"])]
    used = [r for v in arms.values() for r in v]
    empty = [ARM_LABELS.get(a, a) for a, v in arms.items() if not v]
    display = _display_rows(long, ["metric", "label"], paper_cols=(mode == "sampled"))
    display.attrs["empty"] = empty
    display.index = display.index.set_names(["metric", "column"])
    display.attrs["mixed"] = sorted(set(_mixed(long, lambda r: ARM_LABELS.get(r.arm, r.arm))))
    return long, display, used, cmp


def _gap_text(display) -> str:
    empty = display.attrs.get("empty", [])
    return generation_note(display.attrs.get("mixed", [])) + (
        f" Columns without our numbers (no runs in this profile or cache): {', '.join(empty)}." if empty else "")


def table3(res, mode: str = "sampled", test: str = "wilcoxon", root=None, profile=None,
           student: list | None = None) -> TableResult:
    """Ablation: SASRec, +FMR, +FCR, +UFN (paper Table 3) and the EMA-evaluation control;
    ``student``: UFN records read through the student weights (``stats.as_student``), an extra
    column."""
    extra = {"ufn (student)": student} if student is not None else None
    long, display, used, cmp = _strategy_table(res, ("uniform", "fmr", "fcr", "ufn", "ema_eval"),
                                               paper.TABLE3, mode, test, root, extra)
    gap = _gap_text(display)
    cap = (f"Table 3{' (full ranking)' if mode == 'full' else ''}. Ablation on Beauty with SASRec: +FMR "
           f"(mining and reversal), +FCR (mining and the consistency loss, labels kept), +UFN (both), and a "
           f"control the paper does not run: SASRec trained as published and evaluated with an EMA of its "
           f"weights from the same warm-up end (what UFN's reported teacher adds without any mining). "
           + ("'ufn (student)' = the UFN runs' student weights. " if student is not None else "")
           + protocol(used, mode, profile) + " " + SIG_TEXT + gap)
    return TableResult(long, display, cap, table_claims.table3_claims(cmp, res) if mode == "sampled" else [])


def table4(res, mode: str = "sampled", test: str = "wilcoxon", root=None, profile=None) -> TableResult:
    """Removal vs utilisation of false negatives (paper Table 4), seven columns."""
    long, display, used, cmp = _strategy_table(res, tuple(paper.TABLE4_COLUMNS), paper.TABLE4, mode, test, root)
    long["group"] = [paper.TABLE4_GROUPS.get(a, "") for a in long["arm"]]
    gap = _gap_text(display)
    cap = (f"Table 4{' (full ranking)' if mode == 'full' else ''}. Removing vs utilising false negatives "
           f"on Beauty with SASRec: SASRec^R = FMR mining, mined entries removed from the loss; +SRNS^R / "
           f"+SRNS = the SRNS variance rule on N_rec / on all negatives, removed; +UFN^R_srns / +UFN_srns = "
           f"the same SRNS mining followed by UFN's reversal and consistency loss; +UFN = UFNRec. "
           + protocol(used, mode, profile) + " " + SIG_TEXT + gap)
    return TableResult(long, display, cap, table_claims.table4_claims(cmp, res) if mode == "sampled" else [])


def table4_versus_ufn(res, mode: str = "sampled", test: str = "wilcoxon", root=None) -> TableResult:
    """Observations 3 and 4 are about +UFN against the other columns: each column against +UFN
    as the baseline (Improv. < 0: below +UFN), with its interval, both p-values and the verdict."""
    recs = records_of(res)
    arms = {s: [r for r in recs if r.strategy == s and r.backbone == "sasrec"]
            for s in ("ufn", *[c for c in paper.TABLE4_COLUMNS if c != "ufn"])}
    long = ArmComparisons(arms, "test", mode, test, root).long("ufn", METRICS)
    long["label"] = [ARM_LABELS.get(a, a) for a in long["arm"]]
    display = _display_rows(long[long["arm"] != "ufn"], ["metric", "label"], paper_cols=False)
    display.index = display.index.set_names(["metric", "column"])
    cap = (f"Table 4's columns against +UFN ({'full ranking' if mode == 'full' else 'sampled-100'}; negative: below "
           "+UFN). " + SIG_TEXT
           + generation_note(sorted(set(_mixed(long, lambda r: ARM_LABELS.get(r.arm, r.arm))))))
    return TableResult(long, display, cap)
