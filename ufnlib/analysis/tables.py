"""The paper's Tables 2-4 rebuilt from cached records, with protocol captions and claim checks.

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
from .captions import MODE_TEXT, SIG_TEXT, dataset_note, protocol  # noqa: F401 (tables.protocol: notebooks)
from .stats import HOLDS, Claim, compare, decided, effect, fmt_mean_std, fmt_p, fmt_pct, missing_runs, verdict

METRICS = paper.METRICS
ARM_LABELS = {"uniform": "SASRec", "fmr": "+FMR", "fcr": "+FCR", "ufn": "+UFN",
              "ema_eval": "SASRec, EMA-evaluated (control)", **paper.TABLE4_COLUMNS}


@dataclass
class TableResult:
    long: object                       # pandas DataFrame
    display: object                    # pandas DataFrame of strings
    caption: str
    claims: list = field(default_factory=list)


def records_of(res) -> list[Record]:
    """The records of a ``GridResult``, or the given records."""
    return [as_record(r) for r in (res.records if hasattr(res, "records") else res)]


# ----------------------------------------------------------------------------------- helpers
def _means(long, arm_col="arm"):
    out = {}
    for _, r in long.iterrows():
        out.setdefault(r[arm_col], {})[r["metric"]] = r["mean"]
    return out


def _beats(means: dict, a: str, b: str, metrics, rule: str = "all"):
    """Does arm ``a`` beat arm ``b`` on ``rule`` ("all" or "most": more than half) of the metrics?
    Returns (ok or None if either arm has no numbers, detail)."""
    ma, mb = means.get(a, {}), means.get(b, {})
    pairs = [(m, ma.get(m), mb.get(m)) for m in metrics]
    pairs = [(m, x, y) for m, x, y in pairs if x is not None and y is not None and np.isfinite(x) and np.isfinite(y)]
    if not pairs:
        return None, ""
    wins = [m for m, x, y in pairs if x > y]
    ok = len(wins) == len(pairs) if rule == "all" else len(wins) > len(pairs) / 2
    lost = [f"{m} {x:.4f} vs {y:.4f}" for m, x, y in pairs if not x > y]
    detail = f"{ARM_LABELS.get(a, a)} higher on {len(wins)} of {len(pairs)} metrics" + \
             (f"; not on {', '.join(lost)}" if lost else "")
    return ok, detail


def _paper_means(table: dict) -> dict:
    out = {}
    for m, row in table.items():
        for arm, v in row.items():
            out.setdefault(arm, {})[m] = v
    return out


def _display_rows(long, label_cols, paper_cols=True):
    """Formatted display: label columns, ours (mean ± std), Improv. (with *), p-values, paper."""
    import pandas as pd
    rows = []
    for _, r in long.iterrows():
        d = {c: r[c] for c in label_cols}
        d["ours"] = fmt_mean_std(r["mean"], r["std"], r["n"])
        imp = r.get("rel_improv", math.nan)
        star = "*" if (np.isfinite(imp) and imp > 0 and np.isfinite(r.get("p_users", math.nan))
                       and r["p_users"] < 0.05) else ""
        d["Improv."] = fmt_pct(imp) + star
        d["p (users)"] = fmt_p(r.get("p_users", math.nan))
        d["p (seeds)"] = fmt_p(r.get("p_seeds", math.nan))
        if paper_cols:
            pv, pi = r.get("paper", math.nan), r.get("paper_improv", math.nan)
            d["paper"] = "" if pv is None or not np.isfinite(pv) else f"{pv:.4f}"
            d["paper Improv."] = fmt_pct(pi)
        rows.append(d)
    return pd.DataFrame(rows).set_index(label_cols)


# ------------------------------------------------------------------------------------ Table 2
def _common_seeds(backbone: list, ufn: list) -> dict:
    """A cell's two arms on the seeds both have (each arm whole when the other has none), so that
    its means, change and tests compare the same seeds while a grid is part-way."""
    both = {r.seed for r in backbone} & {r.seed for r in ufn}
    if both:
        backbone, ufn = [r for r in backbone if r.seed in both], [r for r in ufn if r.seed in both]
    return {"backbone": backbone, "+UFN": ufn}


def table2(res, mode: str = "sampled", datasets=None, backbones=None, test: str = "wilcoxon",
           root=None, profile: str | None = None) -> TableResult:
    """Backbone vs backbone + UFN for every (dataset, backbone) with runs (or asked)."""
    import pandas as pd
    recs = records_of(res)
    datasets = datasets or sorted({r.dataset for r in recs})
    backbones = backbones or ["sasrec", "bert4rec", "ssept"]
    parts = []
    for d in datasets:
        for bb in backbones:
            sel = lambda s: [r for r in recs if r.dataset == d and r.backbone == bb
                             and r.strategy == s]
            df = compare(_common_seeds(sel("uniform"), sel("ufn")), "backbone", METRICS, "test", mode, test, root)
            df.insert(0, "backbone", paper.BACKBONE_LABELS.get(bb, bb))
            df.insert(0, "dataset", d)
            df["paper"] = [paper.table2_value(d, bb, m, a == "+UFN") if mode == "sampled" else math.nan
                           for a, m in zip(df["arm"], df["metric"])]
            df["paper"] = df["paper"].astype(float)
            parts.append(df)
    long = pd.concat(parts, ignore_index=True) if parts else compare({}, "backbone", METRICS)
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
    cap = (f"Table 2{' (full ranking)' if mode == 'full' else ''}. Backbones and backbone + UFN, each cell on the "
           "seeds both arms have. " + protocol(used, mode, profile) + " " + SIG_TEXT
           + (" Paper: the values printed in the paper's Table 2 (its Beauty is another version of "
              "the data; its seeds and epoch choice are not stated)." if mode == "sampled" else "")
           + (f" Rows without our numbers (no runs in this profile or cache): {', '.join(lacking)}." if lacking else "")
           + (" (dataset, backbone) pairs with no run at all are left out." if have.any() and not have.all() else ""))
    return TableResult(long, display, cap, table2_claims(long, mode, res))


def table2_claims(long, mode: str, res=None) -> list[Claim]:
    """``res``: the grid (its missing runs keep a claim from being decided)."""
    ufn = long[(long["arm"] == "+UFN") & long["rel_improv"].notna()]   # cells with both arms computed
    cells = ufn.groupby(["dataset", "backbone"])
    n_cells, claims = len(cells), []
    every = "uniform and ufn runs of every backbone on every dataset, every seed of the profile"
    miss_all = missing_runs(res, strategy={"uniform", "ufn"})
    miss_bb = missing_runs(res, strategy="uniform")
    miss_ssept = missing_runs(res, backbone="ssept", strategy={"uniform", "ufn"})
    if mode == "sampled":
        pos_ok, sig_ok, details, sig_details = [], [], [], []
        for (d, bb), g in cells:
            pos = bool((g["rel_improv"] > 0).all())
            pos_ok.append(pos)
            if not pos:
                details.append(f"{d}/{bb}: " + ", ".join(f"{m} {x:+.2%}" for m, x in zip(g["metric"], g["rel_improv"])
                                                         if not x > 0))
            sig = bool(((g["rel_improv"] > 0) & (g["p_users"] < 0.05)).all())
            sig_ok.append(sig)
            if not sig:
                sig_details.append(f"{d}/{bb}: " + ", ".join(f"{m} p={p:.3g}" for m, p, x in
                                                            zip(g["metric"], g["p_users"], g["rel_improv"])
                                                            if not (x > 0 and p < 0.05)))
        cov = f"{n_cells} (dataset, backbone) pair(s) computed of 9"
        claims.append(decided("Table 2, observation 2", "UFNRec improves every backbone on every dataset and metric.",
                              "relative improvement of the seed mean > 0 in every cell",
                              all(pos_ok) if n_cells else None,
                              cov + ("; not improved: " + "; ".join(details) if details else ""), HOLDS,
                              every, miss_all))
        claims.append(decided("Table 2, caption", "The improvements are statistically significant (p < 0.05).",
                              "improvement > 0 and per-user Wilcoxon p < 0.05 in every cell",
                              all(sig_ok) if n_cells else None,
                              cov + ("; not significant: " + "; ".join(sig_details) if sig_details else ""),
                              "not testable (the paper gives no per-user data)", every, miss_all))
        base = long[long["arm"] == "backbone"]
        wins, total = 0, 0
        for (d, m), g in base.groupby(["dataset", "metric"]):
            v = dict(zip(g["backbone"], g["mean"]))
            if all(k in v and np.isfinite(v[k]) for k in ("SASRec", "BERT4Rec", "SSE-PT")):
                total += 1
                wins += v["SSE-PT"] > max(v["SASRec"], v["BERT4Rec"])
        pw = sum(TABLE_SSEPT_WINS)
        claims.append(decided("Table 2, observation 1",
                              "SSE-PT performs better than SASRec and BERT4Rec on most metrics.",
                              "SSE-PT's mean is the highest of the three backbones in more than half of the "
                              "(dataset, metric) cells",
                              wins > total / 2 if total else None,
                              f"SSE-PT highest in {wins} of {total} cells" if total else "needs all three backbones",
                              f"{verdict(pw > len(TABLE_SSEPT_WINS) / 2)} (highest in {pw} of {len(TABLE_SSEPT_WINS)})",
                              "uniform runs of the three backbones on every dataset, every seed", miss_bb))
        sp = ufn[ufn["backbone"] == "SSE-PT"]
        av = {m: sp.loc[sp["metric"] == m, "rel_improv"].mean() for m in ("hr@10", "ndcg@10")}
        okk = None if sp.empty else bool(av["hr@10"] > 0 and av["ndcg@10"] > 0)
        claims.append(decided("Table 2, observation 1 (numbers)",
                              "SSE-PT + UFN improves SSE-PT by 2.10% (HR@10) and 3.27% (NDCG@10) on average.",
                              "the direction: our average relative improvements over the datasets are positive",
                              okk, "" if sp.empty else
                              f"ours: HR@10 {av['hr@10']:+.2%}, NDCG@10 {av['ndcg@10']:+.2%} "
                              f"over {sp['dataset'].nunique()} dataset(s)", HOLDS,
                              "SSE-PT uniform and ufn runs on every dataset, every seed", miss_ssept))
    else:
        pos = [bool((g["rel_improv"] > 0).all()) for _, g in cells]
        claims.append(decided("Table 2 under full ranking (ours)",
                              "UFNRec improves every backbone/dataset on every metric under full ranking too.",
                              "relative improvement of the seed mean > 0 in every cell",
                              all(pos) if n_cells else None, f"{sum(pos)} of {n_cells} cell(s) improved on all metrics",
                              "", every, miss_all))
    return claims


def table2_effects(long, metric: str = "ndcg@10"):
    """UFN's effect in each computed (dataset, backbone) cell of Table 2 on ``metric``: the seed
    count, the relative change, the per-user p and its word (``stats.effect``). Returns ``(cells,
    grid)``: one row per cell, and a dataset x backbone table of "-3.5% hurts (3)" strings."""
    u = long[(long["arm"] == "+UFN") & (long["metric"] == metric) & long["rel_improv"].notna()]
    cells = u[["dataset", "backbone", "n", "rel_improv", "p_users"]].reset_index(drop=True)
    cells["effect"] = [effect(r, p) for r, p in zip(cells["rel_improv"], cells["p_users"])]
    grid = cells.assign(cell=[f"{fmt_pct(r)} {e} ({n})" for r, e, n in
                              zip(cells["rel_improv"], cells["effect"], cells["n"])])
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
    recs = {(r.dataset, r.backbone, r.seed, r.strategy): r for r in records_of(res)
            if r.strategy in ("uniform", "ufn")}
    rows = []
    for (d, bb, seed, st), r in sorted(recs.items()):
        if st != "ufn":
            continue
        base = recs.get((d, bb, seed, "uniform"))
        rows.append({"dataset": d, "backbone": paper.BACKBONE_LABELS.get(bb, bb), "seed": seed,
                     "backbone best": base.best_epoch if base else None,
                     "backbone epochs": base.epochs_run if base else None,
                     "UFN mining from": r.warmup_end, "UFN best": r.best_epoch, "UFN epochs": r.epochs_run,
                     "max epochs": r.field("max_epochs"),
                     "UFN cut by the cap": r.cut_by_cap})
    cols = ["dataset", "backbone", "seed", "backbone best", "backbone epochs", "UFN mining from", "UFN best",
            "UFN epochs", "max epochs", "UFN cut by the cap"]
    return pd.DataFrame(rows, columns=cols)


def schedules_text(sched) -> list[str]:
    """One sentence per backbone: medians of the mining start, the backbone's best epoch and
    UFN's, and how many UFN runs the epoch cap cut while still improving."""
    out = []
    for bb, g in sched.groupby("backbone", sort=False):
        capped = int(g["UFN cut by the cap"].sum())
        base = g["backbone best"].dropna()
        out.append(f"{bb} ({len(g)} UFN run{'s' if len(g) > 1 else ''}): mining started at epoch "
                   f"{g['UFN mining from'].median():g} (median), "
                   + (f"while the backbone alone peaked at epoch {base.median():g}; " if len(base) else "")
                   + f"UFN's best epoch {g['UFN best'].median():g}; the {int(g['max epochs'].max())}-epoch cap "
                     f"cut {capped} of {len(g)} UFN run(s) while still improving.")
    return out


def _ssept_wins():
    out = []
    for d, t in paper.TABLE2.items():
        for m in METRICS:
            out.append(t["ssept"][m][0] > max(t["sasrec"][m][0], t["bert4rec"][m][0]))
    return out


TABLE_SSEPT_WINS = _ssept_wins()


# ------------------------------------------------------------------------------ Tables 3 and 4
def _strategy_table(res, strategies, paper_table, mode, test, root, extra_arms=None):
    recs = records_of(res)
    arms = {s: [r for r in recs if r.strategy == s and r.backbone == "sasrec"]
            for s in strategies}
    arms.update(extra_arms or {})
    long = compare(arms, "uniform", METRICS, "test", mode, test, root)
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
    return long, display, used


def _gap_text(display) -> str:
    empty = display.attrs.get("empty", [])
    return (f" Columns without our numbers (no runs in this profile or cache): {', '.join(empty)}."
            if empty else "")


def table3(res, mode: str = "sampled", test: str = "wilcoxon", root=None, profile=None,
           student: list | None = None) -> TableResult:
    """Ablation: SASRec, +FMR, +FCR, +UFN (paper Table 3) and the EMA-evaluation control;
    ``student``: UFN records read through the student weights (``stats.as_student``), an extra
    column."""
    extra = {"ufn (student)": student} if student is not None else None
    long, display, used = _strategy_table(res, ("uniform", "fmr", "fcr", "ufn", "ema_eval"),
                                          paper.TABLE3, mode, test, root, extra)
    gap = _gap_text(display)
    cap = (f"Table 3{' (full ranking)' if mode == 'full' else ''}. Ablation on Beauty with SASRec: +FMR "
           f"(mining and reversal), +FCR (mining and the consistency loss, labels kept), +UFN (both), and a "
           f"control the paper does not run: SASRec trained as published and evaluated with an EMA of its "
           f"weights from the same warm-up end (what UFN's reported teacher adds without any mining). "
           + ("'ufn (student)' = the UFN runs' student weights. " if student is not None else "")
           + protocol(used, mode, profile) + " " + SIG_TEXT + gap)
    return TableResult(long, display, cap, table3_claims(long, res) if mode == "sampled" else [])


def _arm_needs(arms) -> str:
    return " and ".join(ARM_LABELS.get(a, a) for a in arms) + " runs (SASRec), every seed of the profile"


def table3_claims(long, res=None) -> list[Claim]:
    """``res``: the grid (its missing runs keep a claim from being decided)."""
    means, pm = _means(long), _paper_means(paper.TABLE3)
    out = []

    def add(src, text, a, b, rule="all"):
        ok, det = _beats(means, a, b, METRICS, rule)
        pok, pdet = _beats(pm, a, b, METRICS, rule)
        out.append(decided(src, text, f"{ARM_LABELS[a]} mean above {ARM_LABELS[b]} on {rule} metrics",
                           ok, det, f"{verdict(pok)} ({pdet})" if pok is not None else "",
                           _arm_needs((a, b)), missing_runs(res, backbone="sasrec", strategy={a, b})))
    add("Table 3, FMR", "FMR improves SASRec on all metrics (1.87% to 3.53%).", "fmr", "uniform")
    add("Table 3, FCR", "FCR improves SASRec on all metrics (1.49% to 2.82%).", "fcr", "uniform")
    add("Table 3, FMR vs FCR", "FMR contributes more than FCR.", "fmr", "fcr")
    add("Table 3, UFN vs FMR", "Combining FMR and FCR improves over FMR alone.", "ufn", "fmr")
    add("Table 3, UFN vs FCR", "Combining FMR and FCR improves over FCR alone.", "ufn", "fcr")
    ok, det = _beats(means, "ufn", "ema_eval", METRICS)
    out.append(decided("Control (ours)", "UFN's gain is more than what evaluating with EMA weights gives.",
                       "+UFN mean above the EMA-evaluated SASRec on all metrics", ok, det, "",
                       _arm_needs(("ufn", "ema_eval")),
                       missing_runs(res, backbone="sasrec", strategy={"ufn", "ema_eval"})))
    return out


def table4(res, mode: str = "sampled", test: str = "wilcoxon", root=None, profile=None) -> TableResult:
    """Removal vs utilisation of false negatives (paper Table 4), seven columns."""
    long, display, used = _strategy_table(res, tuple(paper.TABLE4_COLUMNS), paper.TABLE4, mode, test, root)
    long["group"] = [paper.TABLE4_GROUPS.get(a, "") for a in long["arm"]]
    gap = _gap_text(display)
    cap = (f"Table 4{' (full ranking)' if mode == 'full' else ''}. Removing vs utilising false negatives "
           f"on Beauty with SASRec: SASRec^R = FMR mining, mined entries removed from the loss; +SRNS^R / "
           f"+SRNS = the SRNS variance rule on N_rec / on all negatives, removed; +UFN^R_srns / +UFN_srns = "
           f"the same SRNS mining followed by UFN's reversal and consistency loss; +UFN = UFNRec. "
           + protocol(used, mode, profile) + " " + SIG_TEXT + gap)
    return TableResult(long, display, cap, table4_claims(long, res) if mode == "sampled" else [])


def table4_versus_ufn(res, mode: str = "sampled", test: str = "wilcoxon", root=None) -> TableResult:
    """Observations 3 and 4 are about +UFN against the other columns: each column against +UFN
    as the baseline (Improv. < 0: below +UFN), with both p-values."""
    recs = records_of(res)
    arms = {s: [r for r in recs if r.strategy == s and r.backbone == "sasrec"]
            for s in ("ufn", *[c for c in paper.TABLE4_COLUMNS if c != "ufn"])}
    long = compare(arms, "ufn", METRICS, "test", mode, test, root)
    long["label"] = [ARM_LABELS.get(a, a) for a in long["arm"]]
    display = _display_rows(long[long["arm"] != "ufn"], ["metric", "label"], paper_cols=False)
    display.index = display.index.set_names(["metric", "column"])
    cap = (f"Table 4's columns against +UFN ({'full ranking' if mode == 'full' else 'sampled-100'}): "
           "Improv. = relative change of the column's mean over +UFN's (negative: below +UFN); "
           + SIG_TEXT.split("; ", 1)[1])
    return TableResult(long, display, cap)


def table4_claims(long, res=None) -> list[Claim]:
    """``res``: the grid (its missing runs keep a claim from being decided)."""
    means, pm = _means(long), _paper_means(paper.TABLE4)
    cols = list(paper.TABLE4_COLUMNS)
    removal = ["removal", "srns_rec_removal", "srns_removal"]

    def each(a_list, b_list, rule, m):
        oks, dets = [], []
        for a in a_list:
            for b in b_list:
                ok, det = _beats(m, a, b, METRICS, rule)
                if ok is None:
                    continue
                oks.append(ok)
                if not ok:
                    dets.append(f"{ARM_LABELS[a]} vs {ARM_LABELS[b]}: {det}")
        n = len(a_list) * len(b_list)
        if not oks:
            return None, "no pair computed"
        det = f"{len(oks)} of {n} comparisons computed" + ("; fails: " + "; ".join(dets) if dets else "")
        return all(oks), det

    def claim(src, text, test, a_list, b_list, rule):
        ok, det = each(a_list, b_list, rule, means)
        pok, pdet = each(a_list, b_list, rule, pm)
        arms = (*a_list, *b_list)
        return decided(src, text, test, ok, det, f"{verdict(pok)} ({pdet})", _arm_needs(arms),
                       missing_runs(res, backbone="sasrec", strategy=set(arms)))

    others = [c for c in cols if c != "uniform"]
    return [
        claim("Table 4, observation 1", "SASRec performs worst on all metrics.",
              "every other column's mean above SASRec's on every metric", others, ["uniform"], "all"),
        claim("Table 4, observation 2", "Removal methods (SASRec^R, +SRNS^R, +SRNS) approximately perform "
              "better than SASRec.", "each removal column above SASRec on most (more than half) metrics",
              removal, ["uniform"], "most"),
        claim("Table 4, observation 3", "+UFN outperforms all removal methods on all metrics.",
              "+UFN above each removal column on every metric", ["ufn"], removal, "all"),
        claim("Table 4, observation 4", "+UFN performs better than +UFN^R_srns and +UFN_srns on most metrics.",
              "+UFN above each SRNS-mined UFN variant on more than half of the metrics", ["ufn"],
              ["ufn_srns_rec", "ufn_srns"], "most"),
    ]
