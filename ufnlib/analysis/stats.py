"""From cached records to numbers for tables: seed means and spread, relative improvement,
significance, and plainly stated paper claims.

Significance, two ways, for "treatment vs baseline" on one metric:

* over users (``p_users``): the per-user metric values of both arms (from the saved per-user
  ranks, each averaged over the seeds both arms have), paired by user, Wilcoxon signed-rank
  (default) or paired t-test. Valid because every run of a dataset ranks the same target against
  the same candidates: sampled negatives are drawn once from ``eval_seed`` (checked here).
* over seeds (``p_seeds``): paired t-test on the per-seed metric means, paired by seed; needs at
  least 2 seeds in both arms (else NaN). Seeds are the replication unit the paper's "p < 0.05"
  most plausibly refers to; with 3 seeds it has little power.

A record wrapped by ``as_student`` reads the student's metrics and ranks of a teacher-reported run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..experiments.profiles import run_label
from ..experiments.store import Record, as_record, load_ranks
from ..training.evaluate import per_user_metric

ALPHA = 0.05


# --------------------------------------------------------------------------- values of a run
def as_student(records: list[dict]) -> list[dict]:
    """The same runs, read through their student weights (runs without a teacher are kept as
    they are: their reported model is the student)."""
    out = []
    for r in records:
        if "metrics_student" in r:
            r = Record({**r, "metrics": r["metrics_student"], "_ranks_prefix": "student_"})
        out.append(r)
    return out


def value(rec: dict, metric: str, which: str = "test", mode: str = "sampled") -> float:
    return as_record(rec).value(metric, mode, which)


def user_values(rec: dict, metric: str, which: str = "test", mode: str = "sampled", root=None):
    """(users, per-user metric values) of a cached run, from its saved ranks."""
    ranks = load_ranks(as_record(rec).key, root)
    r = ranks[f"{rec.get('_ranks_prefix', '')}{which}/{mode}"]
    return ranks["users"], per_user_metric(r, metric)


def seeds_of(records) -> list[int]:
    return sorted(as_record(r).seed for r in records)


def summarize(records: list[dict], metric: str, which: str = "test", mode: str = "sampled") -> dict:
    """Mean, sample std (ddof=1; NaN with one seed), min, max and the seeds of a metric."""
    v = np.array([value(r, metric, which, mode) for r in records], dtype=float)
    if not len(v):
        return dict(mean=math.nan, std=math.nan, min=math.nan, max=math.nan, n=0, seeds=[])
    return dict(mean=float(v.mean()), std=float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                min=float(v.min()), max=float(v.max()), n=len(v), seeds=seeds_of(records))


def rel_improvement(treat: float, base: float) -> float:
    """(treat - base) / base; NaN where undefined."""
    if base is None or treat is None or not np.isfinite(base) or not np.isfinite(treat) or base == 0:
        return math.nan
    return (treat - base) / base


# ------------------------------------------------------------------------------ significance
def _check_comparable(a: list[dict], b: list[dict]) -> None:
    keys = ("dataset", "eval_neg", "eval_seed", "maxlen")
    ref = as_record(a[0]).config
    for r in map(as_record, a + b):
        for k in keys:
            if r.config[k] != ref[k]:
                raise ValueError(f"runs are not evaluated alike ({k}: {ref[k]!r} vs {r.config[k]!r}); "
                                 f"per-user pairing needs the same users, targets and candidates")


def _by_seed(records):
    return {as_record(r).seed: r for r in records}


TIE_DECIMALS = 12          # per-user differences equal to this many decimals are ties


def paired_users(base: list[dict], treat: list[dict], metric: str, which: str = "test",
                 mode: str = "sampled", test: str = "wilcoxon", root=None) -> dict:
    """Per-user paired test of ``treat`` vs ``base`` (seeds both have; per-user values averaged
    over them). Returns ``{"p": p, "n_users": n, "seeds": [...], "mean_diff": d}``."""
    from scipy import stats as ss
    a, b = _by_seed(base), _by_seed(treat)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return dict(p=math.nan, n_users=0, seeds=[], mean_diff=math.nan)
    _check_comparable([a[s] for s in seeds], [b[s] for s in seeds])
    va, vb, users = [], [], None
    for s in seeds:
        ua, xa = user_values(a[s], metric, which, mode, root)
        ub, xb = user_values(b[s], metric, which, mode, root)
        if users is None:
            users = ua
        if not (np.array_equal(ua, users) and np.array_equal(ub, users)):
            raise ValueError("runs rank different users; per-user pairing is not possible")
        va.append(xa)
        vb.append(xb)
    # seed means of the same true value can differ in the last bit (1 - 2/3 vs 1/3); rounded, they
    # tie, as the signed-rank test must see them
    d = np.round(np.mean(vb, 0) - np.mean(va, 0), TIE_DECIMALS)
    if not np.any(d != 0):
        p = 1.0
    elif test == "wilcoxon":
        p = float(ss.wilcoxon(d).pvalue)
    elif test == "ttest":
        p = float(ss.ttest_1samp(d, 0.0).pvalue)
    else:
        raise ValueError(f"test must be 'wilcoxon' or 'ttest', got {test!r}")
    return dict(p=p, n_users=int(len(d)), seeds=seeds, mean_diff=float(d.mean()))


def paired_seeds(base: list[dict], treat: list[dict], metric: str, which: str = "test",
                 mode: str = "sampled") -> dict:
    """Paired t-test over seeds (NaN with fewer than 2 common seeds)."""
    from scipy import stats as ss
    a, b = _by_seed(base), _by_seed(treat)
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return dict(p=math.nan, seeds=seeds)
    xa = np.array([value(a[s], metric, which, mode) for s in seeds])
    xb = np.array([value(b[s], metric, which, mode) for s in seeds])
    d = xb - xa
    if np.allclose(d, d[0]):            # zero variance of the differences: t undefined
        p = 1.0 if d[0] == 0 else 0.0
    else:
        p = float(ss.ttest_rel(xb, xa).pvalue)
    return dict(p=p, seeds=seeds)


# ------------------------------------------------------------------------------ comparisons
def compare(arms: dict[str, list[dict]], baseline: str, metrics, which: str = "test",
            mode: str = "sampled", test: str = "wilcoxon", root=None):
    """One row per (arm, metric): mean, std, n, and for arms other than ``baseline`` the
    relative improvement over it and both p-values. A DataFrame (long format). Arms without
    records get NaN rows (so a table shows the gap)."""
    import pandas as pd
    rows = []
    base = arms.get(baseline, [])
    for arm, recs in arms.items():
        for m in metrics:
            s = summarize(recs, m, which, mode)
            row = dict(arm=arm, metric=m, mean=s["mean"], std=s["std"], n=s["n"],
                       seeds=",".join(map(str, s["seeds"])))
            if arm != baseline:
                b = summarize(base, m, which, mode)
                row["rel_improv"] = rel_improvement(s["mean"], b["mean"])
                if recs and base:
                    row["p_users"] = paired_users(base, recs, m, which, mode, test, root)["p"]
                    row["p_seeds"] = paired_seeds(base, recs, m, which, mode)["p"]
            rows.append(row)
    df = pd.DataFrame(rows)
    for c in ("rel_improv", "p_users", "p_seeds"):
        if c not in df:
            df[c] = math.nan
    return df


def effect(rel: float, p: float, alpha: float = ALPHA) -> str:
    """"helps" / "hurts" (the mean moves that way and p < ``alpha``), "ties" (p >= ``alpha``), or
    "" where either number is missing. The word Table 2's and Figure 3's glances use."""
    if rel is None or p is None or not (np.isfinite(rel) and np.isfinite(p)):
        return ""
    if p >= alpha or rel == 0:
        return "ties"
    return "helps" if rel > 0 else "hurts"


def fmt_mean_std(mean: float, std: float, n: int) -> str:
    """``0.4765 ± 0.0021`` (sample std over seeds); ``0.4765`` with one seed; empty if none."""
    if not n or mean is None or not np.isfinite(mean):
        return ""
    return f"{mean:.4f}" + (f" ± {std:.4f}" if n > 1 and np.isfinite(std) else "")


def fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def fmt_pct(x: float) -> str:
    return "" if x is None or not np.isfinite(x) else f"{100 * x:+.2f}%"


# ---------------------------------------------------------------------------------- claims
HOLDS, FAILS, NOT_COMPUTED, PARTLY = "holds", "does not hold", "not computed", "partly computed"
VERDICTS = (HOLDS, FAILS, PARTLY, NOT_COMPUTED)


@dataclass
class Claim:
    """One sentence of the paper, tested on our numbers (and, where it applies, on the paper's own
    printed numbers)."""
    source: str              # e.g. "Table 4, observation 1"
    text: str                # the claim, as the paper makes it
    test: str                # how we decide it, in words
    ours: str                # one of VERDICTS
    detail: str = ""         # the numbers behind the verdict (for PARTLY: what the computed part shows)
    paper: str = ""          # the same test on the paper's printed numbers ("" = not applicable)
    needs: str = ""          # the runs the test needs, in words
    missing: str = ""        # those of them not in the cache ("" = none)


def verdict(ok, missing=()) -> str:
    """``ok`` is the test's outcome on the runs there are (None: nothing to test on). A claim
    whose test needs runs that are ``missing`` is never decided: it is "partly computed" (or "not
    computed" when nothing could be tested)."""
    if ok is None:
        return NOT_COMPUTED
    if missing:
        return PARTLY
    return HOLDS if ok else FAILS


def partial_detail(ok, detail: str, missing=()) -> str:
    """``detail``, prefixed with what the computed part shows when runs are missing."""
    if ok is None or not missing:
        return detail
    return f"on the runs computed so far it {'holds' if ok else 'does not hold'}" + (f": {detail}" if detail else "")


def missing_text(labels, limit: int = 6) -> str:
    """'3 runs: a, b, c' (the first ``limit`` labels, then how many more)."""
    labels = list(dict.fromkeys(labels))
    if not labels:
        return ""
    head = ", ".join(labels[:limit]) + (f", and {len(labels) - limit} more" if len(labels) > limit else "")
    return f"{len(labels)} run{'s' if len(labels) > 1 else ''}: {head}"


def missing_runs(res, **want) -> list[str]:
    """Labels of the runs of grid ``res`` (a ``GridResult``; anything else has none) that are not
    in the cache and whose config has the wanted fields; a wanted value may be a collection of
    allowed values."""
    out = []
    for c in getattr(res, "missing", []):
        d = c.to_dict()
        if all(d.get(k) in v if isinstance(v, (set, tuple, list, frozenset)) else d.get(k) == v
               for k, v in want.items()):
            out.append(run_label(c))
    return out


def decided(source, text, test, ok, detail="", paper="", needs="", missing=()) -> Claim:
    """A ``Claim`` whose verdict and detail follow ``verdict`` / ``partial_detail``."""
    return Claim(source, text, test, verdict(ok, missing), partial_detail(ok, detail, missing), paper,
                 needs, missing_text(missing))


def claims_frame(claims: list[Claim]):
    import pandas as pd
    return pd.DataFrame([c.__dict__ for c in claims]).set_index("source") if claims else \
        pd.DataFrame(columns=["source", "text", "test", "ours", "detail", "paper", "needs",
                              "missing"]).set_index("source")


def claims_text(claims: list[Claim]) -> str:
    """The claims as plain sentences: 'Table 4, observation 1: <claim> -- does not hold (...)'."""
    out = []
    for c in claims:
        line = f"- {c.source}: {c.text} -- {c.ours.upper()}"
        if c.detail:
            line += f" ({c.detail})"
        if c.missing:
            line += f"; missing {c.missing}"
        if c.paper:
            line += f"; on the paper's own numbers: {c.paper}"
        out.append(line)
    return "\n".join(out)
