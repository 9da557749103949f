"""Run-by-run tables of the cached runs of the paper's defaults (docs/results.md shows them as the
notebooks that own them save them): Table 2 per backbone and dataset, SASRec against the paper's
numbers, Table 3's and Table 4's variants; each row names its runs, their commits and the code
generation they ran at (``generations``, read from git here, never by the README templater)."""
from __future__ import annotations

import numpy as np

from ..config import Config, config_key
from ..experiments.profiles import default_seeds
from ..experiments.store import load_record, results_dir
from ..paper import TABLE2, TABLE3, TABLE4, TABLE4_COLUMNS
from .comparison import compare_runs
from .generations import of_record

METRICS = ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10")
BACKBONES = {"sasrec": "SASRec", "bert4rec": "BERT4Rec", "ssept": "SSE-PT"}
ABLATION = {"uniform": "SASRec", "ema_eval": "SASRec + EMA eval (control)", "fmr": "+FMR", "fcr": "+FCR",
            "ufn": "+UFN", "removal": "SASRec^R (removal)"}


def cached_records(root=None) -> list:
    """Every record in ``<root>/runs``."""
    return [load_record(p.stem, root) for p in sorted((results_dir(root) / "runs").glob("*.json"))]


def is_default(rec, **want) -> bool:
    """A run of the paper's defaults except the given fields."""
    c = rec.config
    base = Config(dataset=c["dataset"], backbone=c["backbone"], strategy=c["strategy"], seed=c["seed"])
    return rec.key == config_key(base) and all(c[k] == v for k, v in want.items())


def default_runs(recs, strategy: str, backbone: str, dataset: str = "beauty") -> list:
    """The default-config runs of (dataset, backbone, strategy) with the paper profile's seeds (extra
    seeds, e.g. the numerics check's, stay out), in seed order."""
    seeds = set(default_seeds("paper"))
    return sorted((r for r in recs if r.dataset == dataset and r.seed in seeds
                   and is_default(r, strategy=strategy, backbone=backbone)), key=lambda r: r.seed)


def _mean_cells(rs) -> list[str]:
    """Test (sampled) mean, ± sample std over seeds when there are several, per metric."""
    cells = []
    for m in METRICS:
        v = np.array([r.value(m, "sampled", "test") for r in rs])
        cells.append(f"{v.mean():.4f}" + (f" ± {v.std(ddof=1):.4f}" if len(v) > 1 else ""))
    return cells


def _keys(rs) -> str:
    return ", ".join(r["key"] for r in rs)


def sasrec_vs_paper(recs):
    """SASRec's default runs on Sports and Yelp beside the paper's Table 2 values, one row per seed."""
    import pandas as pd
    rows = []
    for ds in ("sports", "yelp"):
        for r in recs:
            if r.dataset != ds or not is_default(r, backbone="sasrec", strategy="uniform"):
                continue
            t, f = r["metrics"]["test"]["sampled"], r["metrics"]["test"]["full"]
            ph, pn = TABLE2[ds]["sasrec"]["hr@10"][0], TABLE2[ds]["sasrec"]["ndcg@10"][0]
            rows.append({"dataset": ds, "seed": str(r["seed"]), "best epoch (valid)": str(r["selection"]["best_epoch"]),
                         "HR@10 ours": f"{t['hr@10']:.4f}", "HR@10 paper": f"{ph:.4f}",
                         "HR@10 diff": f"{(t['hr@10'] / ph - 1):+.1%}", "NDCG@10 ours": f"{t['ndcg@10']:.4f}",
                         "NDCG@10 paper": f"{pn:.4f}", "NDCG@10 diff": f"{(t['ndcg@10'] / pn - 1):+.1%}",
                         "full-ranking HR@10 / NDCG@10": f"{f['hr@10']:.4f} / {f['ndcg@10']:.4f}",
                         "run": r["key"], "commit": r["git"]["commit"][:8]})
    return pd.DataFrame(rows)


def variants(recs, names: dict, paper: dict):
    """SASRec variants on Beauty (mean ± std over the cached seeds) beside the paper's HR@10 and
    NDCG@10 (``paper[metric][strategy]``), with their runs."""
    import pandas as pd
    rows = []
    for s, name in names.items():
        rs = default_runs(recs, s, "sasrec")
        row = {"variant": name, "seeds": ",".join(str(r["seed"]) for r in rs) or "0"}
        cells = _mean_cells(rs) if rs else ["not run yet"] * len(METRICS)
        row.update({f"{m.upper()} ours": c for m, c in zip(METRICS, cells)})
        row["NDCG@10 full"] = f"{np.mean([r.value('ndcg@10', 'full', 'test') for r in rs]):.4f}" if rs else ""
        row["HR@10 paper"], row["NDCG@10 paper"] = (str(paper[m].get(s, "—")) for m in ("hr@10", "ndcg@10"))
        row["runs"] = _keys(rs)
        rows.append(row)
    return pd.DataFrame(rows)


def ablation(recs):
    """Table 3's variants, the EMA control and SASRec^R (paper values of Table 4 for it)."""
    paper = {m: {**{"removal": TABLE4[m]["removal"]}, **TABLE3[m]} for m in ("hr@10", "ndcg@10")}
    return variants(recs, ABLATION, paper)


def table4(recs):
    """The seven columns of Table 4."""
    return variants(recs, dict(TABLE4_COLUMNS), TABLE4)


def backbones(recs, root=None):
    """Table 2: each backbone with and without UFN on each dataset, beside the paper's columns (and
    each arm's NDCG@10 against the paper's, ``ours / paper NDCG@10``, the relative difference), with
    UFN's change by the comparison model, epochs, device, runs, commits and their generation."""
    import pandas as pd
    rows = []
    for ds, bb in ((d, b) for d in ("beauty", "sports", "yelp") for b in BACKBONES):
        arms = {st: default_runs(recs, st, bb, ds) for st in ("uniform", "ufn")}
        c = (compare_runs(arms["uniform"], arms["ufn"], "ndcg@10", root=results_dir(root))
             if arms["uniform"] and arms["ufn"] else None)
        for st, arm in (("uniform", "backbone"), ("ufn", "+UFN")):
            rs = arms[st]
            paper = TABLE2[ds][bb]["ndcg@10"]
            row = {"dataset": ds, "backbone": BACKBONES[bb], "arm": arm,
                   "seeds": ",".join(str(r["seed"]) for r in rs) or "0"}
            row.update({m.upper(): x for m, x in zip(METRICS, _mean_cells(rs) if rs else ["not run yet"] * 5)})
            cmp = ["", "", ""]
            if st == "ufn" and c is not None and c.n:
                cmp = [f"{c.change:+.2%} ({', '.join(map(str, c.seeds))})", c.fmt_interval(),
                       c.word + ("; mixed code generations" if c.mixed else "")]
            row.update(zip(("Improv. NDCG@10 (seeds compared)", "95% interval", "verdict"), cmp))
            row["paper NDCG@10"] = f"{paper[0] if st == 'uniform' else paper[1]:.4f}"
            ours = np.mean([r.value("ndcg@10", "sampled", "test") for r in rs]) if rs else np.nan
            row["ours / paper NDCG@10"] = (f"{ours / (paper[0] if st == 'uniform' else paper[1]) - 1:+.1%}"
                                           if rs else "")
            row["paper Improv."] = "" if st == "uniform" else f"{paper[2]:+.2f}%"
            row["NDCG@10 full"] = f"{np.mean([r.value('ndcg@10', 'full', 'test') for r in rs]):.4f}" if rs else ""
            row["best / run epochs"] = ", ".join(f"{r['selection']['best_epoch']} / {r['selection']['epochs_run']}"
                                                 for r in rs)
            row["device"] = ", ".join(sorted({r["env"].get("gpu") or r["env"].get("device", "cpu") for r in rs}))
            row["run"] = _keys(rs)
            row["commit (generation)"] = ", ".join(sorted({f"{r['git']['commit'][:8]} ({of_record(r)})" for r in rs}))
            rows.append(row)
    return pd.DataFrame(rows)


def _ratio(row) -> float:
    """An arm's test NDCG@10 mean (the ``NDCG@10`` cell, "mean ± std") over the paper's, minus 1."""
    return float(str(row["NDCG@10"]).split()[0]) / float(row["paper NDCG@10"]) - 1


def versus_paper_text(runs, near: float = 0.05) -> list[str]:
    """Each backbone's two arms against the paper's NDCG@10 (``backbones``' table, as saved): one
    line per backbone with ours / paper - 1 for each arm on each dataset, and how many cells of each
    arm are above the paper's value, within ``near`` of it, or below by more. Says where the gap to
    the paper's gain sits: in the backbone arm, the UFN arm, or both. Beauty is another version of
    the data than the paper's (directions only)."""
    out = []
    t = runs[~runs["NDCG@10"].astype(str).str.startswith("not")]
    for bb, g in t.groupby("backbone", sort=False):
        parts = []
        for arm, a in g.groupby("arm", sort=False):
            r = [_ratio(x) for _, x in a.iterrows()]
            above = sum(x > near for x in r)
            below = sum(x < -near for x in r)
            parts.append(f"{arm} " + ", ".join(f"{d} {x:+.1%}" for d, x in zip(a["dataset"], r))
                         + f" (more than {near:.0%} above the paper's in {above}, within {near:.0%} in "
                           f"{len(r) - above - below}, more than {near:.0%} below in {below} of {len(r)})")
        out.append(f"{bb}: " + "; ".join(parts) + ".")
    return out


def caption(what: str) -> str:
    """A run table's caption: ``what``, then the protocol of the numbers in it."""
    return (f"{what} The cached runs of the paper's defaults with the paper profile's seeds (S3-Rec datasets, "
            f"leave-one-out): test metrics under the sampled-100 protocol at the epoch with the best sampled "
            f"validation NDCG@10, mean ± std over seeds; 'full': ranking against all items. Each row names its "
            f"runs (results/runs/<key>.json) and commits.")
