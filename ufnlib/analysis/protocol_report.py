"""The protocol study's report (notebook 09): readings of the fixed-budget runs as tables, the
paper's Table 3 statements under each reading, the warm-up comparison, the held-out-item split,
the curves and the verdict in words. The runs and their logs: ``ufnlib.training.protocol``."""
from __future__ import annotations

import math

from ..experiments.store import load_ranks, load_record
from ..training.evaluate import per_user_metric
from ..training.protocol import OPTIMISTIC, READINGS, readings
from . import comparison
from .comparison import HELPS, HURTS
from .generations import of_record
from .report import plain
from .stats import decided, fmt_mean_std, fmt_p, fmt_pct, missing_runs, outcome


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
                                 full=(rd["full"] or {}).get(m), generation=of_record(r),
                                 exclude_heldout=bool(r.config.get("exclude_heldout", False))))
    return pd.DataFrame(rows, columns=["strategy", "seed", "reading", "epoch", "metric", "value", "full",
                                       "generation", "exclude_heldout"])


def readings_table(frame, baseline: str = "uniform", metric: str = "ndcg@10"):
    """Strategy x reading: mean ± std over seeds of test ``metric`` (sampled-100), the mean
    epoch read, and the comparison with ``baseline`` under the same reading
    (``comparison.compare_frame``: the seeds both have, of one generation where they can be; the
    relative change, its interval over seeds, the paired t-test over seeds and the verdict). A
    reading's per-user values are not kept (the logged epochs' ranks are not saved), so the
    interval here has the seed component only."""
    import pandas as pd

    f = frame[frame["metric"] == metric]
    rows = []
    for (reading, strategy), g in f.groupby(["reading", "strategy"], sort=False):
        b = f[(f["reading"] == reading) & (f["strategy"] == baseline)]
        v = g.set_index("seed")["value"]
        c = comparison.compare_frame(b, g, "value") if strategy != baseline else None
        rel = c.change if c is not None else float("nan")
        rows.append({"reading": READINGS[reading], "strategy": strategy, "seeds": len(v),
                     f"test {metric}": fmt_mean_std(v.mean(), v.std(ddof=1), len(v)),
                     "mean epoch": f"{g['epoch'].mean():.0f}", "vs " + baseline: fmt_pct(rel),
                     "95% interval": c.fmt_interval() if c is not None else "",
                     "verdict": c.word if c is not None else "",
                     "p (seeds)": fmt_p(c.p_seeds if c is not None else float("nan")),
                     "pairing": c.note() if c is not None else "", "_mean": v.mean(), "_rel": rel,
                     "_n": c.n if c is not None else len(v), "_mixed": bool(c.mixed) if c is not None else False})
    df = pd.DataFrame(rows)
    if len(df):
        order = {k: i for i, k in enumerate(READINGS.values())}
        df = df.sort_values(["reading", "strategy"], key=lambda c: c.map(order) if c.name == "reading" else c)
    return df


def reading_claims(frame, res=None) -> list:
    """The paper's Table 3 statements, and the EMA control's, decided under each reading by the
    comparison model on test HR@10 and NDCG@10 (sampled-100; seed component only, as in
    ``readings_table``): holds when both are decided higher, contradicted when one is decided
    lower, not shown otherwise. The missing runs that keep a claim open are those of the setting
    the frame's runs share (``exclude_heldout``), not the other setting's."""
    out = []
    setting = {"exclude_heldout": set(frame["exclude_heldout"])} if len(frame) and "exclude_heldout" in frame else {}

    def compared(reading, a, b):
        at = frame[frame["reading"] == reading] if len(frame) else frame
        cs = {}
        for m in ("hr@10", "ndcg@10"):
            x, y = (at[(at["strategy"] == s) & (at["metric"] == m)] for s in (b, a))
            if not len(x) or not len(y):
                return None, ""
            cs[m] = comparison.compare_frame(x, y, "value")
        return outcome([c.direction for c in cs.values()]), "; ".join(f"{m}: {c.text()}" for m, c in cs.items())
    for reading, label in READINGS.items():
        tag = " (test-selected)" if reading in OPTIMISTIC else ""
        for a, b, text in (("ufn", "uniform", "+UFN beats SASRec."), ("fmr", "uniform", "+FMR beats SASRec."),
                           ("ufn", "ema_eval", "+UFN beats SASRec evaluated with EMA weights (the control).")):
            ok, detail = compared(reading, a, b)
            out.append(decided(f"Reading: {label}{tag}", text, "test HR@10 and NDCG@10 (sampled) decided higher "
                               "(the comparison model over seeds)", ok, detail, "",
                               f"{a} and {b} fixed-budget runs, every seed",
                               missing_runs(res, strategy={a, b}, log_test_every=(2, 4), **setting)))
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
                         best_epoch=r.best_epoch, **{"hr@10": t["hr@10"], "ndcg@10": t["ndcg@10"]},
                         generation=of_record(r), key=r.key))
    labels = {"ufn": default_label, "uniform": SASREC_LABEL, "ema_eval": EMA_LABEL}
    for r in plateau_records:
        if r.strategy in labels:
            add(labels[r.strategy], r)
    for rule, kw in variants.items():
        for r in records:
            c = r.config
            if c["strategy"] == "ufn" and all(c.get(k) == v for k, v in kw.items()):
                add(rule, r)
    return pd.DataFrame(rows, columns=["rule", "strategy", "seed", "warmup_end", "best_epoch", "hr@10", "ndcg@10",
                                       "generation", "key"])


def heldout_split(records, root=None):
    """For each fixed-budget UFN run and the SASRec run of the same seed: users whose validation /
    test item was in N_false at the reported epoch, and UFN's per-user gain (sampled NDCG@10) on
    validation and test, split by whether that user's held-out item had been reversed."""
    import pandas as pd

    by = _by_strategy(records)
    rows = []
    for _, b, r in comparison.pairs(by.get("uniform", []), by.get("ufn", [])):
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


def plot_curves(records, seed: int | None = None, zoom_from: int = 20):
    """Validation and logged test NDCG@10 (sampled) over epochs, one panel per strategy of one
    seed's fixed-budget runs, with the epoch each reading chooses marked; below, two zoomed panels
    overlay the strategies' validation and test curves from epoch ``zoom_from`` on, as the mean
    over every seed they have with the seeds' range shaded (``mean_curves``)."""
    import matplotlib.pyplot as plt
    every = _by_strategy(records)
    by = {s: [r for r in rs if seed is None or r.seed == seed][:1] for s, rs in every.items()}
    by = {s: rs[0] for s, rs in by.items() if rs}
    n = max(len(by), 1)
    fig = plt.figure(figsize=(3.6 * n, 6.4))
    grid = fig.add_gridspec(2, 2 * n)
    axes = [fig.add_subplot(grid[0, 2 * i:2 * i + 2]) for i in range(n)]
    for ax in axes[1:]:
        ax.sharey(axes[0])
        ax.tick_params(labelleft=False)
    marks = {"validation": ("o", "C0"), "last": ("s", "0.3"), "full_validation": ("^", "C2"), "test_best": ("*", "C3")}
    for ax, (s, r) in zip(axes, by.items()):
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
    axes[0].set_ylabel("NDCG@10 (sampled-100)")
    if by:
        axes[-1].legend(fontsize=6, frameon=False, loc="lower right")
    half = max(n, 1)
    for j, (kind, title) in enumerate((("valid", "validation"), ("test", "test (logged)"))):
        ax = fig.add_subplot(grid[1, j * half:(j + 1) * half])
        for i, (s, rs) in enumerate(every.items()):
            c = mean_curves(rs, kind, zoom_from)
            if c is None:
                continue
            ax.plot(c.index, c["mean"], color=f"C{i}", lw=1.2, label=f"{s} ({_seeds_label(rs, int(c['n'].min()))})")
            ax.fill_between(c.index, c["min"], c["max"], color=f"C{i}", alpha=0.15, lw=0)
        ax.set_title(f"zoom: {title} from epoch {zoom_from}, mean over seeds (shaded: their range)", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if j == 0:
            ax.set_ylabel("NDCG@10 (sampled-100)")
            ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def estimate_spread(records, metric: str = "ndcg@10"):
    """One row per fixed-budget run and epoch (``at``: the last and the validation-selected one):
    the test value over all users beside the reference's estimate (10,000 random users, fresh
    negatives) over its independent draws: mean, std, min and max."""
    import pandas as pd
    rows = []
    for r in records:
        p = r["protocol"]
        last = max(p["log"], key=lambda e: e["epoch"])
        for at, spread, allv in (("last", p["reference_spread_last"], last["test"]["sampled"]),
                                 ("selected", p["reference_spread_selected"], r["metrics"]["test"]["sampled"])):
            s = spread[metric]
            rows.append(dict(strategy=r.strategy, seed=r.seed, at=at, all_users=allv[metric], estimate_mean=s["mean"],
                             estimate_std=s["std"], estimate_min=s["min"], estimate_max=s["max"]))
    return pd.DataFrame(rows, columns=["strategy", "seed", "at", "all_users", "estimate_mean", "estimate_std",
                                       "estimate_min", "estimate_max"])


def estimate_spread_lines(spread, a: str = "ufn", b: str = "uniform") -> list[str]:
    """What ``estimate_spread`` says in words: how far one draw of the reference's estimate
    strays (its std, against the spread over training seeds of the all-user value, and the draws'
    mean shift from it), and, at each epoch, how likely one draw per run, as the reference reports,
    reverses the order of ``a``'s and ``b``'s all-user means (a normal approximation: the
    difference of two independent draws has std sqrt(2) x the draw's)."""
    from scipy.stats import norm
    if not len(spread):
        return ["Not computed: no fixed-budget run is in the cache."]
    draw = float(spread["estimate_std"].median())
    seed_sd = spread.groupby(["strategy", "at"])["all_users"].std(ddof=1).dropna()
    shift = float((spread["estimate_mean"] - spread["all_users"]).mean())
    out = [f"One draw of the estimate strays from the draws' mean with a std of {draw:.4f} (median over runs and "
           "epochs)" + (f", {draw / seed_sd.median():.1f} times the all-user value's std over training seeds "
                        f"({seed_sd.median():.4f}, median over strategy and epoch)" if len(seed_sd) else "")
           + f"; the draws' mean differs from the all-user value by {shift:+.4f} on average (fresh negatives)."]
    for at, g in spread.groupby("at", sort=False):
        m = g.groupby("strategy")["all_users"].mean()
        if a not in m or b not in m or not draw > 0:
            continue
        gap = float(m[a] - m[b])
        z = abs(gap) / (math.sqrt(2) * draw)
        out.append(f"At the {'last' if at == 'last' else 'validation-selected'} epoch, {a} and {b} differ by "
                   f"{gap:+.4f} over all users; one draw per run reverses that order with probability "
                   f"{norm.cdf(-z):.1%}.")
    return out


def _seeds_label(records, n: int) -> str:
    """'3 seeds' and, where the runs come from several code generations, which ones."""
    gens = sorted({str(of_record(r)) for r in records})
    return f"{n} seed{'s' if n != 1 else ''}" + (f", generations {'/'.join(gens)}" if len(gens) > 1 else "")


def mean_curves(records, kind: str, start: int = 0):
    """Per-epoch mean, min, max and count over ``records`` of validation (``kind="valid"``, every
    epoch it was evaluated) or logged test NDCG@10 (``kind="test"``), from epoch ``start`` on;
    epochs where some run has no value are left out. None when no run has a curve."""
    import pandas as pd
    cols = {}
    for r in records:
        if kind == "valid":
            pts = {e["epoch"]: e["valid"]["ndcg@10"] for e in r.history if "valid" in e}
        else:
            pts = {e["epoch"]: e["test"]["sampled"]["ndcg@10"] for e in r["protocol"]["log"]}
        cols[r.seed] = pd.Series(pts, dtype=float)
    if not cols:
        return None
    frame = pd.DataFrame(cols).dropna()
    frame = frame[frame.index >= start]
    if not len(frame):
        return None
    return pd.DataFrame({"mean": frame.mean(axis=1), "min": frame.min(axis=1), "max": frame.max(axis=1),
                         "n": frame.count(axis=1)})


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


def _compare(base, treat, metric: str):
    """``treat``'s rows of a warm-up frame against ``base``'s: with the runs' per-user values where
    the rows name their runs (``key``), else over seeds only."""
    keys = [*base.get("key", []), *treat.get("key", [])]
    if keys and all(isinstance(k, str) and k for k in keys):
        return comparison.compare_runs([load_record(k) for k in base["key"]], [load_record(k) for k in treat["key"]],
                                       metric)
    return comparison.compare_frame(base, treat, metric)


def warmup_comparison(warm, seeds_wanted: int, base: str = SASREC_LABEL,
                      default: str = "plateau (reference)"):
    """Each warm-up rule of ``warmup_frame`` against SASRec, against the default rule and against
    the EMA control, by the comparison model on test NDCG@10 (sampled): the relative change, its
    interval and the p the interval inverts (over the seeds compared: those whose two runs share a
    code generation; the pairing column names the others); and a status: "k of N seeds" while a rule has fewer
    than ``seeds_wanted``, else the verdict on HR@10 and NDCG@10 against SASRec (above: helps on
    both; below: hurts on one; else no clear difference)."""
    import pandas as pd

    groups = {k: g for k, g in warm.groupby("rule", sort=False)}
    if base not in groups:
        return pd.DataFrame()
    b = groups[base]
    rows = []
    for rule, g in groups.items():
        if rule == base:
            continue
        c = _compare(b, g, "ndcg@10")
        row = {"rule": rule, "seeds": len(g), "seeds compared": c.n, "ndcg@10": g["ndcg@10"].mean(),
               "vs SASRec": c.change,
               "interval vs SASRec": c.fmt_interval(), "p vs SASRec": c.p}
        if rule != default and default in groups:
            d = _compare(groups[default], g, "ndcg@10")
            row["vs default rule"], row["p vs default rule"] = d.change, d.p
        if rule not in (EMA_LABEL, default) and EMA_LABEL in groups:
            e = _compare(groups[EMA_LABEL], g, "ndcg@10")
            row["vs EMA control"], row["p vs EMA control"] = e.change, e.p
        words = [c.word, _compare(b, g, "hr@10").word]
        row["pairing vs SASRec"] = c.note()
        row["status"] = (f"{len(g)} of {seeds_wanted} seeds: not decided" if len(g) < seeds_wanted
                         else "above SASRec" if words == [HELPS, HELPS] else "below SASRec" if HURTS in words
                         else "no clear difference from SASRec")
        rows.append(row)
    out = pd.DataFrame(rows)
    return out[[c for c in out.columns if c != "status"] + ["status"]] if len(out) else out


def _cited(r) -> str:
    """A readings-table row's comparison with SASRec as claims cite it."""
    return comparison.cite_row(r, "_rel", "95% interval", "verdict", "_n", "_mixed")


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
        reach = [f"{r['reading']} ({_cited(r)})" for _, r in t.iterrows() if r["_rel"] >= paper]
        out.append(f"Size: the paper's {label} gain in test NDCG@10 is {paper:+.1%}; "
                   + (f"the mean change reaches it under {'; '.join(reach)}" if reach else "no reading reaches it")
                   + f" (largest here: {top['_rel']:+.1%}, {top['reading']}).")
    return out


def verdict_numbers(table, warm=None, seeds_wanted: int = 3, default: str = "plateau (reference)") -> dict:
    """What the verdict says, as numbers and words (notebook 09 stores it): each reading's change
    against SASRec per strategy (``readings_table``'s ``_rel``) and the warm-up rules against
    SASRec (``warmup_comparison`` on ``warm``)."""
    comp = warmup_comparison(warm, seeds_wanted, default=default) if warm is not None and len(warm) else None
    cols = [c for c in ("reading", "strategy", "seeds", "_rel", "_n", "_mixed", "95% interval", "verdict")
            if table is not None and c in table]
    return {"readings": table[cols].to_dict(orient="records") if table is not None and len(table) else [],
            "warmup": comp.to_dict(orient="records") if comp is not None and len(comp) else [],
            "default": default}


def verdict_lines(numbers: dict, baseline: str = "uniform") -> list[str]:
    """The verdict in plain sentences from ``verdict_numbers`` (as stored): under which reading +UFN,
    +FMR and the EMA control are above SASRec, and by how much; what the warm-up rules change."""
    import pandas as pd
    table, comp, default = pd.DataFrame(numbers["readings"]), pd.DataFrame(numbers["warmup"]), numbers["default"]
    out = []
    if not len(table):
        return ["Not computed: no fixed-budget run is in the cache yet."]
    for reading in READINGS.values():
        t = table[table["reading"] == reading].set_index("strategy")
        if baseline not in t.index or len(t) < 2:
            continue
        parts = [f"{s} {_cited(t.loc[s])}" for s in ("ufn", "fmr", "ema_eval") if s in t.index]
        out.append(f"{reading}: against SASRec, NDCG@10 " + "; ".join(parts) + ".")
    out += size_text(table, baseline)
    if len(comp):
        parts = []
        for _, r in comp.iterrows():
            p = f", p {fmt_p(r['p vs SASRec'])}" if pd.notna(r["p vs SASRec"]) else ""
            iv = f" {r['interval vs SASRec']}" if r.get("interval vs SASRec") else ""
            parts.append(f"{r['rule']} {r['vs SASRec']:+.1%}{iv}{p} ({r['status']})")
        out.append("Warm-up (default protocol, epoch chosen on validation), test NDCG@10 against SASRec (95% "
                   "interval over seeds and users; status: the verdict on HR@10 and NDCG@10): "
                   + "; ".join(parts) + ".")
        by_rule = comp.set_index("rule")
        st = by_rule["status"]
        if "validation" in st.index and not st["validation"].endswith("not decided"):
            plateau = st.get(default)
            changes = plateau is not None and plateau != st["validation"]
            ema = ""
            v = by_rule.loc["validation"]
            if "vs EMA control" in v.index and pd.notna(v["vs EMA control"]):
                ema = (f"; against the EMA control (SASRec evaluated with EMA weights, no mining) the validation "
                       f"rule is {v['vs EMA control']:+.1%} (p {fmt_p(v['p vs EMA control'])})")
            out.append(f"The validation warm-up rule {'changes' if changes else 'does not change'} the verdict on "
                       f"'+UFN beats SASRec' under our protocol (epoch chosen on validation): with the reference's "
                       f"rule UFN's verdict is '{plateau or 'not computed'}', with the validation rule "
                       f"'{st['validation']}'{ema}.")
    return out or ["Not computed: the runs of SASRec and its variants under one reading are not all there."]


def verdict_text(table, warm=None, baseline: str = "uniform", seeds_wanted: int = 3,
                 default: str = "plateau (reference)") -> list[str]:
    """``verdict_lines`` of ``verdict_numbers`` as a notebook's JSON stores them."""
    return verdict_lines(plain(verdict_numbers(table, warm, seeds_wanted, default)), baseline)
