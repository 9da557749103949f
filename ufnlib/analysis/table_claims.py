"""The paper's sentences about Tables 2-4, decided by the comparison model: a sentence "A beats B
on all (most) metrics" holds when the comparisons of A against B are decided that way on all
(more than half of the) metrics, is contradicted when they are decided the other way on one
(at least half), and is not shown otherwise (``stats.outcome``). The paper's own printed means,
which carry no spread, are put through the same sentence beside ours (``paper`` column)."""
from __future__ import annotations

import numpy as np

from .. import paper
from .comparison import HELPS, HURTS, UNCLEAR
from .stats import CONTRADICTED, HOLDS, NOT_SHOWN, Claim, combine, decided, missing_runs, on_printed, outcome

METRICS = paper.METRICS
ARM_LABELS = {"uniform": "SASRec", "fmr": "+FMR", "fcr": "+FCR", "ufn": "+UFN",
              "ema_eval": "SASRec, EMA-evaluated (control)", **paper.TABLE4_COLUMNS}
DIRECTION = {HELPS: 1, HURTS: -1, UNCLEAR: 0}


def label(arm) -> str:
    return ARM_LABELS.get(arm, arm)


def words_detail(comps: dict) -> str:
    """The comparisons of one pair of arms grouped by their word: 'hurts on hr@1 -4.1% [-6.0%,
    -2.2%]; no clear difference on hr@5 -0.3% [...]'."""
    groups: dict[str, list[str]] = {}
    for m, c in comps.items():
        if c is not None:
            groups.setdefault(c.word, []).append(" ".join(x for x in (m, c.fmt_change(), c.fmt_interval()) if x))
    return "; ".join(f"{w} on {', '.join(v)}" for w, v in groups.items())


def _pair(cmp, a, b, rule: str):
    """(outcome of 'a beats b on ``rule`` metrics' or None, detail, the comparisons' directions)
    from an ``ArmComparisons``."""
    comps = {m: cmp.get(a, b, m) for m in METRICS}
    if any(c is None for c in comps.values()):
        return None, "", []
    dirs = [c.direction for c in comps.values()]
    return outcome(dirs, rule), f"{label(a)} against {label(b)} ({pairing(comps)}): " + words_detail(comps), dirs


def pairing(comps: dict) -> str:
    """The seeds a pair of arms is compared on and what a reader must know about them (seeds left
    out, code generations mixed: ``Comparison.note``), from one metric's comparison (the metrics
    share the runs)."""
    c = next(c for c in comps.values() if c is not None)
    seeds = c.alignment.seeds
    head = f"seed{'s' * (len(seeds) != 1)} {', '.join(map(str, seeds))}"
    return head + (f"; {c.note()}" if c.note() else "")


def tally(dirs) -> str:
    """'higher in 3, lower in 0, no clear difference in 2, not decided (one seed) in 0 of 5'."""
    return (f"higher in {sum(d == 1 for d in dirs)}, lower in {sum(d == -1 for d in dirs)}, no clear difference in "
            f"{sum(d == 0 for d in dirs)}, not decided (one seed) in {sum(d is None for d in dirs)} of {len(dirs)}")


def _printed_beats(means: dict, a: str, b: str, rule: str = "all"):
    """The paper's printed means: does ``a`` exceed ``b`` on ``rule`` ("all" / "most") metrics?"""
    ma, mb = means.get(a, {}), means.get(b, {})
    pairs = [(m, ma.get(m), mb.get(m)) for m in METRICS]
    pairs = [(m, x, y) for m, x, y in pairs if x is not None and y is not None and np.isfinite(x) and np.isfinite(y)]
    if not pairs:
        return None, ""
    wins = [m for m, x, y in pairs if x > y]
    ok = len(wins) == len(pairs) if rule == "all" else len(wins) > len(pairs) / 2
    lost = [f"{m} {x:.4f} vs {y:.4f}" for m, x, y in pairs if not x > y]
    return ok, (f"{label(a)} higher on {len(wins)} of {len(pairs)} metrics"
                + (f"; not on {', '.join(lost)}" if lost else ""))


def printed_means(table: dict) -> dict:
    """A table of ``ufnlib.paper`` as {arm: {metric: value}}."""
    out: dict = {}
    for m, row in table.items():
        for arm, v in row.items():
            out.setdefault(arm, {})[m] = v
    return out


def _arm_needs(arms) -> str:
    return " and ".join(label(a) for a in arms) + " runs (SASRec), every seed of the profile"


RULE_TEST = {"all": "decided higher on every metric", "most": "decided higher on more than half of the metrics"}


# ------------------------------------------------------------------------------------ Table 2
def _ssept_wins():
    return [t["ssept"][m][0] > max(t["sasrec"][m][0], t["bert4rec"][m][0]) for t in paper.TABLE2.values()
            for m in METRICS]


TABLE_SSEPT_WINS = _ssept_wins()


def _cells_text(rows) -> str:
    return "; ".join(f"{r.dataset}/{r.backbone} {r.metric} {r.rel_improv:+.2%}" for r in rows.itertuples())


def table2_claims(long, mode: str, res=None, backbones=None) -> list[Claim]:
    """``long``: Table 2's long frame (its +UFN rows carry each cell's comparison); ``res``: the
    grid (its missing runs keep a claim from being decided); ``backbones``: an ``ArmComparisons``
    of the backbones' own runs keyed (dataset, backbone label), for observation 1."""
    ufn = long[(long["arm"] == "+UFN") & long["rel_improv"].notna()]      # cells with both arms compared
    n_cells = ufn.groupby(["dataset", "backbone"]).ngroups
    dirs = [DIRECTION.get(w) for w in ufn["effect"]]
    every = "uniform and ufn runs of every backbone on every dataset, every seed of the profile"
    miss_all = missing_runs(res, strategy={"uniform", "ufn"})
    counts = ", ".join(f"{w} in {n}" for w, n in ufn["effect"].value_counts().items())
    cov = f"{n_cells} (dataset, backbone) pair(s) computed of 9, {len(ufn)} (cell, metric) comparisons: {counts}"
    against = ufn[ufn["effect"] == HURTS]
    claims = []
    if mode != "sampled":
        return [decided("Table 2 under full ranking (ours)",
                        "UFNRec improves every backbone/dataset on every metric under full ranking too.",
                        "every cell and metric: helps", outcome(dirs) if n_cells else None,
                        cov + (f"; hurts: {_cells_text(against)}" if len(against) else ""), "", every, miss_all)]
    ok = outcome(dirs) if n_cells else None
    claims.append(decided("Table 2, observation 2", "UFNRec improves every backbone on every dataset and metric.",
                          "every cell and metric: helps", ok,
                          cov + (f"; hurts: {_cells_text(against)}" if len(against) else ""), HOLDS, every, miss_all))
    low_p = ufn[ufn["p_users"] < 0.05]
    sig = f"interval excludes 0 in {int((ufn['p_both'] < 0.05).sum())}, per-user p < 0.05 in " \
          f"{len(low_p)} of {len(ufn)} ({int((low_p['rel_improv'] > 0).sum())} with UFN higher, " \
          f"{int((low_p['rel_improv'] < 0).sum())} lower)"
    claims.append(decided("Table 2, caption", "The improvements are statistically significant (p < 0.05).",
                          "every cell and metric: helps (its interval excludes 0 and every seed agrees)", ok,
                          cov + "; " + sig, "not testable (the paper gives no per-user data)", every, miss_all))
    # observation 1: SSE-PT against the other two backbones, per (dataset, metric)
    cells, shown = [], []
    if backbones is not None:
        for d in sorted({d for d, _ in backbones.arms}):
            for m in METRICS:
                cs = [backbones.get((d, "SSE-PT"), (d, other), m) for other in ("SASRec", "BERT4Rec")]
                if any(c is None for c in cs):
                    continue
                ds = [c.direction for c in cs]
                cells.append(None if None in ds else -1 if -1 in ds else 1 if ds == [1, 1] else 0)
                shown.append(f"{d} {m}: " + ", ".join(f"{c.fmt_change()} {c.word} ({pairing({m: c})})" for c in cs))
    pw = sum(TABLE_SSEPT_WINS)
    got = outcome(cells, "most")
    claims.append(decided("Table 2, observation 1", "SSE-PT performs better than SASRec and BERT4Rec on most metrics.",
                          "SSE-PT decided higher than both other backbones in more than half of the (dataset, "
                          "metric) cells", got,
                          f"of {len(cells)} (dataset, metric) cells: decided higher than both in "
                          f"{sum(c == 1 for c in cells)}, lower than one in {sum(c == -1 for c in cells)}, no clear "
                          f"difference in {sum(c == 0 for c in cells)}, not decided (one seed) in "
                          f"{sum(c is None for c in cells)}; " + "; ".join(shown)
                          if cells else "needs all three backbones",
                          f"{on_printed(pw > len(TABLE_SSEPT_WINS) / 2)} (highest in {pw} of {len(TABLE_SSEPT_WINS)})",
                          "uniform runs of the three backbones on every dataset, every seed",
                          missing_runs(res, strategy="uniform")))
    # observation 1 (numbers): SSE-PT + UFN's average gain, on HR@10 and NDCG@10
    sp = ufn[ufn["backbone"] == "SSE-PT"]
    parts = []
    for m in ("hr@10", "ndcg@10"):
        ds = [DIRECTION.get(w) for w in sp.loc[sp["metric"] == m, "effect"]]
        parts.append(None if not ds else HOLDS if all(x == 1 for x in ds) else
                     CONTRADICTED if all(x == -1 for x in ds) else NOT_SHOWN)
    av = {m: sp.loc[sp["metric"] == m, "rel_improv"].mean() for m in ("hr@10", "ndcg@10")}
    claims.append(decided("Table 2, observation 1 (numbers)",
                          "SSE-PT + UFN improves SSE-PT by 2.10% (HR@10) and 3.27% (NDCG@10) on average.",
                          "the direction: SSE-PT + UFN helps on every dataset on both metrics (contradicted: hurts on "
                          "every dataset on one)", combine(parts), "" if sp.empty else
                          f"ours on average: HR@10 {av['hr@10']:+.2%}, NDCG@10 {av['ndcg@10']:+.2%} over "
                          f"{sp['dataset'].nunique()} dataset(s); " + ", ".join(
                              f"{r.dataset} {r.metric} {r.effect}" for r in sp[sp["metric"].isin(["hr@10", "ndcg@10"])]
                              .itertuples()), HOLDS,
                          "SSE-PT uniform and ufn runs on every dataset, every seed",
                          missing_runs(res, backbone="ssept", strategy={"uniform", "ufn"})))
    return claims


# ------------------------------------------------------------------------------ Tables 3 and 4
def table3_claims(cmp, res=None) -> list[Claim]:
    """``cmp``: the ``ArmComparisons`` of Table 3's arms; ``res``: the grid (its missing runs keep
    a claim from being decided)."""
    pm = printed_means(paper.TABLE3)
    out = []

    def add(src, text, a, b, rule="all", printed=True):
        ok, det, dirs = _pair(cmp, a, b, rule)
        det = f"{tally(dirs)} metrics; {det}" if dirs else det
        pok, pdet = _printed_beats(pm, a, b, rule) if printed else (None, "")
        out.append(decided(src, text, f"{label(a)} {RULE_TEST[rule]} than {label(b)}", ok, det,
                           f"{on_printed(pok)} ({pdet})" if pok is not None else "",
                           _arm_needs((a, b)), missing_runs(res, backbone="sasrec", strategy={a, b})))
    add("Table 3, FMR", "FMR improves SASRec on all metrics (1.87% to 3.53%).", "fmr", "uniform")
    add("Table 3, FCR", "FCR improves SASRec on all metrics (1.49% to 2.82%).", "fcr", "uniform")
    add("Table 3, FMR vs FCR", "FMR contributes more than FCR.", "fmr", "fcr")
    add("Table 3, UFN vs FMR", "Combining FMR and FCR improves over FMR alone.", "ufn", "fmr")
    add("Table 3, UFN vs FCR", "Combining FMR and FCR improves over FCR alone.", "ufn", "fcr")
    add("Control (ours)", "UFN's gain is more than what evaluating with EMA weights gives.", "ufn", "ema_eval",
        printed=False)
    return out


def table4_claims(cmp, res=None) -> list[Claim]:
    """``cmp``: the ``ArmComparisons`` of Table 4's seven columns; ``res``: the grid."""
    pm = printed_means(paper.TABLE4)
    removal = ["removal", "srns_rec_removal", "srns_removal"]

    def each(a_list, b_list, rule, ours: bool):
        oks, dets, dirs = [], [], []
        for a in a_list:
            for b in b_list:
                ok, det, *d = _pair(cmp, a, b, rule) if ours else _printed_beats(pm, a, b, rule)
                if ok is None:
                    continue
                oks.append(ok if ours else (HOLDS if ok else CONTRADICTED))
                dirs += d[0] if d else []
                if ours or not ok:
                    dets.append(det if ours else f"{label(a)} vs {label(b)}: {det}")
        n = len(a_list) * len(b_list)
        if not oks:
            return None, "no pair computed"
        head = f"{len(oks)} of {n} pairs computed" + (f" (first arm {tally(dirs)} metric comparisons)" if ours else "")
        return combine(oks), head + "; " + " | ".join(dets)

    def claim(src, text, test, a_list, b_list, rule):
        ok, det = each(a_list, b_list, rule, True)
        pok, pdet = each(a_list, b_list, rule, False)
        arms = (*a_list, *b_list)
        return decided(src, text, test, ok, det, f"{on_printed(None if pok is None else pok == HOLDS)} ({pdet})",
                       _arm_needs(arms), missing_runs(res, backbone="sasrec", strategy=set(arms)))

    others = [c for c in paper.TABLE4_COLUMNS if c != "uniform"]
    return [
        claim("Table 4, observation 1", "SASRec performs worst on all metrics.",
              "every other column decided higher than SASRec on every metric", others, ["uniform"], "all"),
        claim("Table 4, observation 2", "Removal methods (SASRec^R, +SRNS^R, +SRNS) approximately perform "
              "better than SASRec.", "each removal column decided higher than SASRec on more than half of the "
              "metrics", removal, ["uniform"], "most"),
        claim("Table 4, observation 3", "+UFN outperforms all removal methods on all metrics.",
              "+UFN decided higher than each removal column on every metric", ["ufn"], removal, "all"),
        claim("Table 4, observation 4", "+UFN performs better than +UFN^R_srns and +UFN_srns on most metrics.",
              "+UFN decided higher than each SRNS-mined UFN variant on more than half of the metrics", ["ufn"],
              ["ufn_srns_rec", "ufn_srns"], "most"),
    ]
