"""Section 4.8's sentences about Figure 3, each decided by the comparison model on the points it
names (``stats.outcome``: holds / contradicted / not shown), and "partly computed" while any of
its runs is missing from the grid."""
from __future__ import annotations

from .. import paper
from ..experiments.profiles import base_value, sweeps
from .comparison import compare_runs
from .hyperparams import CLAIM_PANEL, PANELS, figure3_points
from .stats import Claim, decided, missing_runs, outcome

MS = ("hr@10", "ndcg@10")


def _flip(d):
    return None if d is None else -d


def _text(comps: dict) -> str:
    """'ndcg@10 UFNRec at m = 2 against m = 3: -9.1% hurts (1 seed)' for each comparison computed."""
    return "; ".join(f"{name}: {c.text()}" for name, c in comps.items() if c is not None)


def hyper_claims(records, profile: str, res=None, test: str = "wilcoxon", root=None) -> list[Claim]:
    """The paper's sentences about Figure 3 on the runs there are (``records``); ``res``: the grid,
    whose missing runs keep a claim from being decided."""
    b = {f: base_value(profile, f) for f in PANELS}
    swept = sweeps(profile)
    sasrec, ufn = figure3_points(records, profile)
    out = []

    def U(panel, v):                                   # UFNRec's runs at a point of a panel (the base included)
        return ufn.get(("default", None), []) if v == b[panel] else ufn.get((panel, v), [])

    def cmp(base, treat, m):
        return compare_runs(base, treat, m, "test", "sampled", test, root) if base and treat else None

    def values(panel):
        return sorted({*swept.get(panel, ()), b[panel]})

    def need(panel, vals, sasrec_too=True, **want):
        """The missing runs at ``vals`` of ``panel`` (other swept fields at the base), and SASRec's."""
        other = {f: v for f, v in b.items() if f != panel}
        miss = missing_runs(res, **other, **{panel: set(vals)}, **(want or {"strategy": "ufn"}))
        return miss + (missing_runs(res, strategy="uniform", **b) if sasrec_too else [])

    def add(panel, text, test_text, dirs, comps, needs, miss, rule="all"):
        ok = outcome(dirs, rule) if any(c is not None for c in comps.values()) else None
        out.append(decided(f"Figure 3, {CLAIM_PANEL[panel]}", text, test_text, ok, _text(comps), "", needs, miss))

    # alpha: the smallest swept value against SASRec; 0.2 against 0.5
    a_min = min(swept.get("alpha", ()), default=None)
    comps = {} if a_min is None else {f"{m} UFNRec at alpha = {a_min:g} against SASRec":
                                      cmp(sasrec.get(b["batch_size"], []), U("alpha", a_min), m) for m in MS}
    add("alpha", "The consistency loss gives significant improvements even with a small alpha.",
        f"UFNRec at the smallest swept alpha ({a_min}) helps against SASRec on HR@10 and NDCG@10",
        [c.direction for c in comps.values() if c], comps,
        f"UFNRec at alpha = {a_min} and SASRec at the base" if a_min is not None else "the alpha sweep",
        need("alpha", [a_min]) if a_min is not None else [])
    comps = {"hr@10 UFNRec at alpha = 0.2 against alpha = 0.5": cmp(U("alpha", 0.5), U("alpha", 0.2), "hr@10")}
    add("alpha", "With a larger alpha HR@10 decreases (alpha = 0.2 vs 0.5).",
        "UFNRec at alpha 0.2 decided higher than at alpha 0.5 on HR@10",
        [c.direction for c in comps.values() if c], comps, "UFNRec at alpha = 0.2, 0.5",
        need("alpha", [0.2, 0.5], False))

    # m: 1 and 2 against 3; the peak at 6
    comps = {f"{m} UFNRec at m = {v} against m = 3": cmp(U("m", 3), U("m", v), m) for v in (1, 2) for m in MS}
    add("m", "m < 3 gives inferior performance.", "UFNRec at m = 1 and at m = 2 decided lower than at m = 3 on "
        "both metrics", [_flip(c.direction) for c in comps.values() if c], comps, "UFNRec at m = 1, 2, 3",
        need("m", [1, 2, 3], False))
    m_top = max(values("m"))
    comps = {"ndcg@10 UFNRec at m = 6 against m = 3": cmp(U("m", 3), U("m", 6), "ndcg@10"),
             f"ndcg@10 UFNRec at m = {m_top:g} against m = 6": cmp(U("m", 6), U("m", m_top), "ndcg@10")}
    c_up, c_down = comps.values()
    add("m", "Performance improves with m up to m = 6, and drops when m is too large.",
        f"on NDCG@10, UFNRec at m = 6 decided higher than at m = 3, and at the largest m ({m_top:g}) decided lower "
        "than at m = 6", [c_up.direction if c_up else None, _flip(c_down.direction) if c_down else None], comps,
        f"UFNRec at m = {', '.join(f'{v:g}' for v in values('m'))}", need("m", values("m"), False))

    # d: every swept value within 2% of the base (an equivalence margin), and the direction
    d_other = [v for v in values("decay") if v != b["decay"]]
    comps = {f"ndcg@10 UFNRec at d = {v:g} against d = {b['decay']:g}": cmp(U("decay", b["decay"]), U("decay", v),
                                                                          "ndcg@10") for v in d_other}
    add("decay", "Performance is approximately stable for d from 0.9 to 0.999.",
        "on NDCG@10, the interval of UFNRec at each d against the base d lies within +-2% (contradicted: one lies "
        "wholly outside)", [None if c.n < 2 else {True: 1, False: -1, None: 0}[c.within(0.02)]
                            for c in comps.values() if c], comps,
        f"UFNRec at d = {', '.join(f'{v:g}' for v in values('decay'))}", need("decay", values("decay"), False))
    lo, hi = min(values("decay")), max(values("decay"))
    comps = {f"{m} UFNRec at d = {hi:g} against d = {lo:g}": cmp(U("decay", lo), U("decay", hi), m) for m in MS}
    add("decay", "HR@10 and NDCG@10 increase slightly with d.",
        "UFNRec at the largest d decided higher than at the smallest on both metrics",
        [c.direction for c in comps.values() if c], comps, f"UFNRec at d = {lo:g}, {hi:g}",
        need("decay", [lo, hi], False))

    # batch size: UFNRec against SASRec at each size; SASRec's best size
    bs = values("batch_size")
    big = [v for v in paper.SWEEPS["batch_size"] if v > 64 and v in bs]
    comps = {f"{m} at batch size {v}": cmp(sasrec.get(v, []), U("batch_size", v), m) for v in big for m in MS}
    both = f"UFNRec and SASRec at batch size {', '.join(map(str, bs))}"
    add("batch_size", "UFNRec outperforms SASRec with batch size > 64.",
        "UFNRec helps against SASRec on both metrics at every batch size > 64",
        [c.direction for c in comps.values() if c], comps, both,
        need("batch_size", big, False, strategy={"uniform", "ufn"}))
    others = [v for v in bs if v != 128 and sasrec.get(v)]
    comps = {f"ndcg@10 SASRec at 128 against {v}": cmp(sasrec.get(v, []), sasrec.get(128, []), "ndcg@10")
             for v in others} if len(others) >= 2 else {}
    add("batch_size", "SASRec is best at batch size 128.",
        "SASRec at 128 decided higher on NDCG@10 than at every other batch size (3+ sizes needed)",
        [c.direction for c in comps.values() if c], comps, both, need("batch_size", bs, False, strategy="uniform"))
    comps = {f"{m} at batch size 32": cmp(sasrec.get(32, []), U("batch_size", 32), m) for m in MS}
    add("batch_size", "UFNRec is poorer than SASRec at batch size 32.",
        "UFNRec hurts against SASRec on both metrics at 32", [_flip(c.direction) for c in comps.values() if c], comps,
        "UFNRec and SASRec at batch size 32", need("batch_size", [32], False, strategy={"uniform", "ufn"}))
    return out
