"""From cached records to numbers for tables: seed means and spread, each arm against a baseline
(through the comparison model, ``comparison``), and the paper's claims with their three-valued
verdicts.

A claim is *holds* when every comparison its sentence needs is decided in the claimed direction,
*contradicted* when one is decided the other way, and *not shown* when the data cannot tell;
besides, *partly computed* (some of its runs are missing; the detail says what the rest shows) and
*not computed* (none there). ``outcome`` turns comparison directions into the first three.

A record wrapped by ``as_student`` reads the student's metrics and ranks of a teacher-reported run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..experiments.profiles import run_label
from ..experiments.store import Record, as_record
from .comparison import ALPHA, RULE, compare_runs  # noqa: F401 (ALPHA, RULE: re-exported)


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


# ------------------------------------------------------------------------------ comparisons
class ArmComparisons:
    """The comparisons between named arms (lists of runs) on one split and protocol, each computed
    once: ``get(treat, base, metric)`` is ``comparison.compare_runs`` (None when either arm has no
    run); ``long(baseline, metrics)`` is the long table of every arm against ``baseline``."""

    def __init__(self, arms: dict, which: str = "test", mode: str = "sampled", test: str = "wilcoxon", root=None):
        self.arms, self.which, self.mode, self.test, self.root = arms, which, mode, test, root
        self._done = {}

    def get(self, treat: str, base: str, metric: str):
        if not self.arms.get(treat) or not self.arms.get(base):
            return None
        k = (treat, base, metric)
        if k not in self._done:
            self._done[k] = compare_runs(self.arms[base], self.arms[treat], metric, self.which, self.mode,
                                         self.test, self.root)
        return self._done[k]

    def long(self, baseline: str, metrics):
        """One row per (arm, metric): the arm's mean, std and seeds (over all its runs), and for
        arms other than ``baseline`` the comparison's columns (``Comparison.row``). Arms without
        records get NaN rows (so a table shows the gap)."""
        import pandas as pd
        rows = []
        for arm, recs in self.arms.items():
            for m in metrics:
                s = summarize(recs, m, self.which, self.mode)
                row = dict(arm=arm, metric=m, mean=s["mean"], std=s["std"], n=s["n"],
                           seeds=",".join(map(str, s["seeds"])))
                c = self.get(arm, baseline, m) if arm != baseline else None
                if c is not None:
                    row.update(c.row())
                rows.append(row)
        df = pd.DataFrame(rows)
        for c in COMPARISON_COLUMNS:
            if c not in df:
                df[c] = math.nan
        return df


def compare(arms: dict[str, list[dict]], baseline: str, metrics, which: str = "test",
            mode: str = "sampled", test: str = "wilcoxon", root=None):
    """``ArmComparisons(arms, ...).long(baseline, metrics)``: every arm against ``baseline``."""
    return ArmComparisons(arms, which, mode, test, root).long(baseline, metrics)


COMPARISON_COLUMNS = ("compared", "n_compared", "base_mean", "treat_mean", "rel_improv", "ci_low", "ci_high",
                      "p_both", "p_users", "p_seeds", "effect", "per_seed", "generations", "mixed", "note")


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
HOLDS, CONTRADICTED, NOT_SHOWN = "holds", "contradicted", "not shown"
NOT_COMPUTED, PARTLY = "not computed", "partly computed"
VERDICTS = (HOLDS, CONTRADICTED, NOT_SHOWN, PARTLY, NOT_COMPUTED)
DECIDED = (HOLDS, CONTRADICTED, NOT_SHOWN)          # the verdicts of a claim whose runs are all there


def outcome(directions, rule: str = "all") -> str | None:
    """A claim's verdict from the directions of the comparisons it needs (``Comparison.direction``
    taken in the claimed sense: +1 decided as claimed, -1 decided the other way, 0 no clear
    difference, None not decided). ``rule`` "all": holds when every comparison is +1, contradicted
    when any is -1; "most": holds when more than half are +1, contradicted when at least half are
    -1 (so no majority can be +1). Otherwise not shown; None when there is nothing to compare."""
    dirs = list(directions)
    if not dirs:
        return None
    pro, con = sum(d == 1 for d in dirs), sum(d == -1 for d in dirs)
    if rule == "all":
        return HOLDS if pro == len(dirs) else CONTRADICTED if con else NOT_SHOWN
    if rule == "most":
        return HOLDS if pro > len(dirs) / 2 else CONTRADICTED if con >= len(dirs) / 2 else NOT_SHOWN
    raise ValueError(f"rule must be 'all' or 'most', got {rule!r}")


def combine(outcomes) -> str | None:
    """Several parts that must all hold: holds when every computed part holds, contradicted when
    one is contradicted, else not shown (None when no part was computed)."""
    got = [o for o in outcomes if o is not None]
    if not got:
        return None
    return HOLDS if all(o == HOLDS for o in got) else CONTRADICTED if CONTRADICTED in got else NOT_SHOWN


def on_printed(ok) -> str:
    """The same test on the paper's printed means (which carry no spread): holds / does not hold."""
    return "" if ok is None else "holds" if ok else "does not hold"


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
    """``ok`` is the test's outcome on the runs there are: a verdict of ``DECIDED`` (from
    ``outcome``), True / False for a check without sampling error (holds / contradicted), or None
    (nothing to test on). A claim whose test needs runs that are ``missing`` is never decided: it
    is "partly computed" (or "not computed" when nothing could be tested)."""
    if ok is None:
        return NOT_COMPUTED
    if missing:
        return PARTLY
    return ok if ok in DECIDED else HOLDS if ok is True else CONTRADICTED


def partial_detail(ok, detail: str, missing=()) -> str:
    """``detail``, prefixed with what the computed part shows when runs are missing."""
    if ok is None or not missing:
        return detail
    said = {HOLDS: "holds", CONTRADICTED: "is contradicted", NOT_SHOWN: "is not shown"}[verdict(ok)]
    return f"on the runs computed so far it {said}" + (f": {detail}" if detail else "")


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
