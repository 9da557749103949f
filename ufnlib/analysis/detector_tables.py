"""Table 4's detectors compared on what they flag: per mining run, the flagged entries, how many
are the user's later items (real data) or true false negatives (synthetic data, where the
generator knows them), against the random negatives of the same steps, and findings in words."""
from __future__ import annotations

import math

from .tables import ARM_LABELS, TableResult, records_of
from .teaching import summary_row

DETECTOR_COLUMNS = ("removal", "srns_rec_removal", "srns_removal", "ufn_srns_rec", "ufn_srns", "ufn")


def _per_strategy(long, strategies, cols, fmt):
    """Display frame: per strategy (a row even without runs), each column's mean ± sample std over
    its runs; "none flagged" where every run's value is undefined (a share of nothing flagged)."""
    import pandas as pd
    out = []
    for s in strategies:
        g = long[long["strategy"] == s] if len(long) else long
        row = {"column": ARM_LABELS.get(s, s), "strategy": s, "seeds": len(g)}
        for k in cols:
            v = g[k].astype(float).dropna() if len(g) else g
            row[k] = ("not run yet" if not len(g) else "none flagged" if not len(v) else
                      fmt[k].format(v.mean()) + (" ± " + fmt[k].format(v.std()) if len(v) > 1 else ""))
        out.append(row)
    return pd.DataFrame(out).set_index("column")


def detector_runs(res, strategies=DETECTOR_COLUMNS, upto: str = "best"):
    """One row per mining run: what its detector flagged over the mining epochs up to the
    validation-selected one (``upto="best"``) or up to the run's last epoch (``"end"``), pooled
    over those epochs. ``later`` = the flagged item is the user's validation or test item (the
    one ground truth real data has); ``random_later`` = the same share among the random negatives
    of those steps; ``lift`` = their ratio."""
    import pandas as pd
    if upto not in ("best", "end"):
        raise ValueError(f"upto must be 'best' or 'end', not {upto!r}")
    recs = records_of(res)
    rows = []
    for r in recs:
        c = r.config
        if c["strategy"] not in strategies or c["backbone"] != "sasrec":
            continue
        w, last = r.warmup_end, r.best_epoch if upto == "best" else r.epochs_run
        hs = [h for h in r.history if w is not None and w < h["epoch"] <= last and "mined" in h]
        if not hs:
            continue
        tot = {k: sum(h[k] for h in hs) for k in ("mined", "mined_later", "random", "random_later", "refed")}
        later = tot["mined_later"] / tot["mined"] if tot["mined"] else math.nan
        rnd = tot["random_later"] / tot["random"] if tot["random"] else math.nan
        rows.append(dict(strategy=c["strategy"], column=ARM_LABELS.get(c["strategy"], c["strategy"]),
                         seed=c["seed"], key=r.key, mining_epochs=len(hs), best_epoch=r.best_epoch,
                         flagged_per_epoch=tot["mined"] / len(hs), later_share=later,
                         random_later_share=rnd, lift=later / rnd if rnd else math.nan,
                         later_flagged_per_epoch=tot["mined_later"] / len(hs),
                         refed_per_epoch=tot["refed"] / len(hs),
                         nfalse_at_best=next((h.get("nfalse_entries") for h in hs if h["epoch"] == r.best_epoch),
                                             None)))
    return pd.DataFrame(rows)


def detectors(res, strategies=DETECTOR_COLUMNS) -> TableResult:
    """Table 4's mining columns side by side: how much each detector flags and how often what it
    flags is an item the user comes back to (``detector_runs``), mean ± std over seeds."""
    runs = detector_runs(res, strategies)
    cols = ["flagged_per_epoch", "later_share", "random_later_share", "lift", "later_flagged_per_epoch",
            "nfalse_at_best", "mining_epochs"]
    fmt = {"flagged_per_epoch": "{:,.0f}", "later_share": "{:.3%}", "random_later_share": "{:.4%}",
           "lift": "{:.1f}x", "later_flagged_per_epoch": "{:,.1f}", "nfalse_at_best": "{:,.0f}",
           "mining_epochs": "{:.0f}"}
    display = _per_strategy(runs, strategies, cols, fmt)
    cap = ("Table 4's detectors. Per mining run, pooled over its mining epochs up to the epoch chosen on "
           "validation: entries flagged per epoch (removed in SASRec^R, +SRNS^R, +SRNS; reversed in the "
           "UFN columns); later_share = share of them that is the user's validation or test item, i.e. a "
           "false negative the user did interact with later (the only ground truth real data has); "
           "random_later_share = the same share among the uniformly drawn negatives of the same steps; "
           "lift = their ratio; later_flagged_per_epoch = flagged entries that are such items; "
           "nfalse_at_best = size of N_false (interaction, item) at the selected epoch. Mean ± sample std "
           "over seeds. SASRec^R and +UFN use FMR's rule (re-fed more than m times); the others SRNS's "
           "variance rule (ufnlib/negatives/srns.py).")
    return TableResult(runs, display, cap)


SYNTHETIC_DETECTOR_COLUMNS = ("mined", "mined_precision", "random_precision", "lift", "nfalse_pairs",
                              "nfalse_precision", "nfalse_recall", "test_ndcg10")


def detectors_synthetic(res, strategies=DETECTOR_COLUMNS) -> TableResult:
    """The same detectors on synthetic data, against the generator's ground truth: per run, the
    mining diagnostics averaged over its last 3 epochs (``teaching.summary_row``); precision of
    the flagged entries and of the random negatives, their ratio, and precision / recall of the
    N_false set; mean ± std over seeds."""
    import pandas as pd

    recs = records_of(res)
    rows = []
    for r in recs:
        if r.strategy not in strategies:
            continue
        row = summary_row(r)
        row["nfalse_pairs"] = r.history[-1].get("nfalse_pairs") if r.history else None
        mp, rp = row.get("mined_precision"), row.get("random_precision")
        row["lift"] = mp / rp if mp is not None and rp else math.nan
        rows.append({"column": ARM_LABELS.get(row["strategy"], row["strategy"]), "seed": r.seed,
                     "key": r.key, **row})
    long = pd.DataFrame(rows)
    fmt = {"mined": "{:,.0f}", "mined_precision": "{:.3f}", "random_precision": "{:.4f}", "lift": "{:.1f}x",
           "nfalse_pairs": "{:,.0f}", "nfalse_precision": "{:.3f}", "nfalse_recall": "{:.3f}",
           "test_ndcg10": "{:.4f}"}
    display = _per_strategy(long, strategies, SYNTHETIC_DETECTOR_COLUMNS, fmt)
    c = recs[0].config if recs else {}
    cap = ("Table 4's detectors on synthetic data (``ufnlib.data.synthetic``: the generator knows which unseen "
           "items each user likes, i.e. every false negative). "
           + (f"SASRec d={c.get('hidden')}, {c.get('max_epochs')} epochs, mining after a fixed warm-up of "
              f"{c.get('warmup_epochs')}, m = {c.get('m')}, SRNS T = {c.get('srns_t')}, dataset "
              f"`{c.get('dataset')}`. " if c else "")
           + "Averages over the last 3 epochs: entries flagged per epoch (mined), their precision, the "
           "random negatives' precision and the ratio (lift); N_false pairs, their precision and their "
           "recall of all ground-truth false negatives at the last epoch; test NDCG@10 (sampled) at the "
           "epoch chosen on validation. Mean ± sample std over seeds.")
    return TableResult(long, display, cap)


def detector_findings(beauty, synthetic) -> list[str]:
    """Sentences comparing FMR's rule (SASRec^R) with SRNS's (+SRNS) computed from the two
    detector tables' runs (their ``long`` frames, or those frames as saved: ``<name>_data.csv``);
    empty where a side is missing."""
    out = []

    def mean(df, s, k):
        g = df[df["strategy"] == s][k].astype(float).dropna() if len(df) else []
        return float(g.mean()) if len(g) else None

    b = getattr(beauty, "long", beauty)
    f, r = mean(b, "removal", "flagged_per_epoch"), mean(b, "srns_removal", "flagged_per_epoch")
    lf, lr = mean(b, "removal", "lift"), mean(b, "srns_removal", "lift")
    nf, nr = mean(b, "removal", "later_flagged_per_epoch"), mean(b, "srns_removal", "later_flagged_per_epoch")
    if None not in (f, r, lf, lr, nf, nr):
        out.append(f"Beauty: FMR's rule (SASRec^R) flags {f / r:.1f}x as many entries per epoch as SRNS's "
                   f"(+SRNS); an SRNS-flagged entry is an item the user comes back to {lr:.1f}x as often as a "
                   f"random negative, an FMR-flagged one {lf:.1f}x; in absolute numbers FMR flags "
                   f"{nf:.0f} such items per epoch, SRNS {nr:.0f}.")
    s = getattr(synthetic, "long", synthetic)
    pf, pr = mean(s, "removal", "mined_precision"), mean(s, "srns_removal", "mined_precision")
    rf, rr = mean(s, "removal", "nfalse_recall"), mean(s, "srns_removal", "nfalse_recall")
    if None not in (pf, pr, rf, rr):
        out.append(f"Synthetic data: precision of the flagged entries {pf:.3f} (FMR) vs {pr:.3f} (SRNS); "
                   f"N_false recalls {rf:.3f} vs {rr:.3f} of all false negatives.")
    return out
