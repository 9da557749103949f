"""The comparison model: one object owns "treatment against baseline" on one metric, and every
table, figure, claim and README sentence reads it.

A ``Comparison`` aligns the two arms' runs by seed (the only place in ``ufnlib`` that does:
``align``), keeps the seeds whose two runs share a code generation (``generations``) when there
are any, and gives the means over those seeds, the relative change, the change on each seed, a
95% interval for the change that counts both sources of variance (training seeds and test users),
the per-user and per-seed tests, and the word:

  RULE (below): helps / hurts when the interval excludes 0 and every seed moved the same way;
  "one seed, not decided" with one seed; "no clear difference" otherwise.

The interval is a Student-t interval whose variance adds the two components of a crossed design
(every seed scores the same test users): the spread of the per-seed changes over seeds, and the
sampling variance of the test users' seed-averaged changes; Welch-Satterthwaite degrees of freedom.
Why this and not a bootstrap over 3 seeds, and the sources it follows: docs/design.md.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..experiments.store import as_record, load_ranks, ranks_path
from ..training.evaluate import per_user_metric
from . import generations as gens

ALPHA = 0.05
HELPS, HURTS, UNCLEAR, ONE_SEED = "helps", "hurts", "no clear difference", "one seed, not decided"
WORDS = (HELPS, HURTS, UNCLEAR, ONE_SEED)
RULE = ("helps / hurts: the 95% interval of the relative change, which counts both the spread over training "
        "seeds and the sampling of test users, excludes 0 and every seed's change has that sign; one seed: "
        "'one seed, not decided' (the change still shown); otherwise 'no clear difference'")
TIE_DECIMALS = 12          # per-user differences equal to this many decimals are ties (1 - 2/3 vs 1/3)


# ---------------------------------------------------------------------------------- alignment
@dataclass(frozen=True)
class Unit:
    """One run of an arm, as a comparison sees it: its seed, its value, its code generation and,
    where known, its per-user values (``users``) and the run itself (``run``)."""
    seed: int
    value: float = math.nan
    generation: object = gens.UNKNOWN
    users: object = None
    run: object = None


def _differ(a, b) -> bool:
    return a != gens.UNKNOWN and b != gens.UNKNOWN and a != b


@dataclass
class Alignment:
    pairs: list                                   # (base Unit, treat Unit) per compared seed, in seed order
    left_out: dict = field(default_factory=dict)  # seed -> why it is not compared
    mixed: bool = False                           # compared pairs join runs of different generations

    @property
    def seeds(self) -> list[int]:
        return [b.seed for b, _ in self.pairs]

    @property
    def generations(self) -> str:
        """'3' (one generation), '0, 3' (each pair within one), '0 vs 3' (pairs across), '' (none)."""
        if self.mixed:
            bs = sorted({str(b.generation) for b, _ in self.pairs})
            ts = sorted({str(t.generation) for _, t in self.pairs})
            return f"{'/'.join(bs)} vs {'/'.join(ts)}"
        return ", ".join(sorted({str(b.generation if b.generation != gens.UNKNOWN else t.generation)
                                 for b, t in self.pairs}))


def align(base, treat, generations: bool = True) -> Alignment:
    """The seeds both arms have; with ``generations``, only those whose two runs share a code
    generation when at least one seed's do (the others are left out and named), else all of them,
    marked ``mixed``. A run whose generation is unknown pairs with any."""
    def by_seed(units):
        out = {}
        for u in units:
            if u.seed in out:
                raise ValueError(f"two runs of seed {u.seed} in one arm; an arm has one run per seed")
            out[u.seed] = u
        return out
    b, t = by_seed(base), by_seed(treat)
    left = {s: "baseline arm only" for s in b if s not in t}
    left.update({s: "compared arm only" for s in t if s not in b})
    common = sorted(set(b) & set(t))
    mixed = False
    if generations:
        across = [s for s in common if _differ(b[s].generation, t[s].generation)]
        within = [s for s in common if s not in across]
        if within:
            left.update({s: f"generations {b[s].generation} vs {t[s].generation}" for s in across})
            common = within
        else:
            mixed = bool(across)
    return Alignment([(b[s], t[s]) for s in common], dict(sorted(left.items())), mixed)


def shared_seeds(*groups) -> list[int]:
    """The seeds every group (an iterable of seeds) has."""
    sets = [set(g) for g in groups]
    return sorted(set.intersection(*sets)) if sets else []


def align_runs(base_runs, treat_runs, generations: bool = True) -> Alignment:
    """``align`` on two arms' run records (their seeds and code generations)."""
    return align(_units(base_runs), _units(treat_runs), generations)


def pairs(base_runs, treat_runs, generations: bool = True) -> list[tuple]:
    """(seed, base run, treat run) for the seeds ``align`` compares."""
    al = align(_units(base_runs), _units(treat_runs), generations)
    return [(b.seed, b.run, t.run) for b, t in al.pairs]


def _units(runs, metric=None, which="test", mode="sampled") -> list[Unit]:
    return [Unit(r.seed, r.value(metric, mode, which) if metric else math.nan, gens.of_record(r), None, r)
            for r in map(as_record, runs)]


# ------------------------------------------------------------------------------ per-user data
def _ranks(key: str, root) -> dict:
    """A run's saved ranks, read once per version of the file (a rerun that rewrites it is read again)."""
    st = ranks_path(key, root).stat()
    return _ranks_at(key, root, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=512)
def _ranks_at(key: str, root, mtime_ns: int, size: int) -> dict:
    return load_ranks(key, root)


def user_values(rec, metric: str, which: str = "test", mode: str = "sampled", root=None):
    """(users, per-user metric values) of a cached run, from its saved ranks (a record wrapped by
    ``stats.as_student`` reads the student's)."""
    r = as_record(rec)
    ranks = _ranks(r.key, None if root is None else str(root))
    return ranks["users"], per_user_metric(ranks[f"{rec.get('_ranks_prefix', '')}{which}/{mode}"], metric)


def _check_comparable(runs) -> None:
    keys = ("dataset", "eval_neg", "eval_seed", "maxlen")
    ref = runs[0].config
    for r in runs:
        for k in keys:
            if r.config[k] != ref[k]:
                raise ValueError(f"runs are not evaluated alike ({k}: {ref[k]!r} vs {r.config[k]!r}); "
                                 f"per-user pairing needs the same users, targets and candidates")


def _with_users(al: Alignment, metric, which, mode, root) -> Alignment:
    runs = [as_record(u.run) for p in al.pairs for u in p]
    if not runs:
        return al
    _check_comparable(runs)
    users, out = None, []
    for b, t in al.pairs:
        got = []
        for u in (b, t):
            ids, x = user_values(u.run, metric, which, mode, root)
            users = ids if users is None else users
            if not np.array_equal(ids, users):
                raise ValueError("runs rank different users; per-user pairing is not possible")
            got.append(Unit(u.seed, u.value, u.generation, x, u.run))
        out.append(tuple(got))
    return Alignment(out, al.left_out, al.mixed)


# --------------------------------------------------------------------------------- the model
def _fmt_pct(x, digits=2) -> str:
    return "" if x is None or not np.isfinite(x) else f"{100 * x:+.{digits}f}%"


def cite(change: str, interval: str, word: str, n: int, mixed: bool = False) -> str:
    """'-0.83% [-1.84%, +0.18%] no clear difference (3 seeds)': a comparison the way claims cite it."""
    head = " ".join(x for x in (change, interval, word) if x)
    return f"{head} ({n} seed{'s' * (n != 1)}" + ("; mixed generations" if mixed else "") + ")"


def cite_row(row, change: str, interval: str, verdict: str, seeds: str, mixed: str, fmt=None) -> str:
    """``cite`` over a table row (a dict or a pandas row) whose columns are named by the other
    arguments; ``fmt`` formats the change (default ``+x.x%``). A row without a seed count (stored
    before tables kept it) cites its change alone."""
    fmt = fmt or (lambda x: f"{x:+.1%}")
    n = row.get(seeds)
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return fmt(row[change])
    return cite(fmt(row[change]), row.get(interval) or "", row.get(verdict) or "", int(n),
                bool(row.get(mixed) or False))


@dataclass
class Comparison:
    """Treatment (``treat``) against baseline (``base``) on one metric, over the aligned seeds."""
    alignment: Alignment
    base: float = math.nan            # mean over the compared seeds
    treat: float = math.nan
    change: float = math.nan          # relative change of the means (absolute when ``relative`` is False)
    per_seed: dict = field(default_factory=dict)
    low: float = math.nan             # 95% interval of ``change`` (2+ seeds)
    high: float = math.nan
    p: float = math.nan               # the two-sided p of the test the interval inverts
    p_users: float = math.nan         # per-user Wilcoxon (or t) on seed-averaged values
    p_seeds: float = math.nan         # paired t-test over seeds
    n_users: int = 0
    relative: bool = True
    alpha: float = ALPHA

    @property
    def seeds(self) -> list[int]:
        return self.alignment.seeds

    @property
    def n(self) -> int:
        return len(self.alignment.pairs)

    @property
    def mixed(self) -> bool:
        return self.alignment.mixed

    def word_at(self, p: float) -> str:
        """The rule's word with ``p`` in place of the comparison's own (a corrected p)."""
        if self.n == 0 or not np.isfinite(self.change):
            return ""
        if self.n == 1:
            return ONE_SEED
        signs = {np.sign(x) for x in self.per_seed.values()}
        if np.isfinite(p) and p < self.alpha and self.change != 0 and signs == {np.sign(self.change)}:
            return HELPS if self.change > 0 else HURTS
        return UNCLEAR

    @property
    def word(self) -> str:
        return self.word_at(self.p)

    @property
    def direction(self) -> int | None:
        """+1 (helps), -1 (hurts), 0 (no clear difference), None (not decided: one seed or none)."""
        return {HELPS: 1, HURTS: -1, UNCLEAR: 0}.get(self.word)

    def within(self, margin: float) -> bool | None:
        """Equivalence within +-``margin``: True when the interval lies inside it, False when it
        lies wholly outside, None otherwise (or without an interval)."""
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return None
        if -margin <= self.low and self.high <= margin:
            return True
        return False if self.low > margin or self.high < -margin else None

    def fmt_change(self) -> str:
        return _fmt_pct(self.change) if self.relative else f"{self.change:+.4f}"

    def fmt_interval(self) -> str:
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return ""
        f = (lambda x: _fmt_pct(x)) if self.relative else (lambda x: f"{x:+.4f}")
        return f"[{f(self.low)}, {f(self.high)}]"

    def note(self) -> str:
        """What a reader must know about the pairing: seeds left out, generations mixed."""
        out = []
        if self.mixed:
            out.append(f"arms of different code generations ({self.alignment.generations}; docs/speed.md)")
        if self.alignment.left_out:
            out.append("left out: " + ", ".join(f"seed {s} ({why})" for s, why in self.alignment.left_out.items()))
        return "; ".join(out)

    def text(self) -> str:
        """'-0.83% [-1.84%, +0.18%] no clear difference (3 seeds)', the way claims cite it."""
        return cite(self.fmt_change(), self.fmt_interval(), self.word, self.n, self.mixed)

    def cited(self) -> dict:
        """What ``text`` says, as a notebook's JSON stores it (``cite(**c.cited())`` is ``c.text()``)."""
        return dict(change=self.fmt_change(), interval=self.fmt_interval(), word=self.word, n=self.n,
                    mixed=bool(self.mixed))

    def row(self) -> dict:
        """The comparison's columns, as tables store them."""
        return dict(compared=",".join(map(str, self.seeds)), n_compared=self.n, base_mean=self.base,
                    treat_mean=self.treat, rel_improv=self.change, ci_low=self.low, ci_high=self.high,
                    p_both=self.p, p_users=self.p_users, p_seeds=self.p_seeds, effect=self.word,
                    per_seed=", ".join(f"s{s} {_fmt_pct(x)}" for s, x in self.per_seed.items()),
                    generations=self.alignment.generations, mixed=self.mixed, note=self.note())


def _users_test(ub, ut, test: str) -> float:
    from scipy import stats as ss
    d = np.round(np.mean(ut, 0) - np.mean(ub, 0), TIE_DECIMALS)
    if not np.any(d != 0):
        return 1.0
    if test == "wilcoxon":
        return float(ss.wilcoxon(d).pvalue)
    if test == "ttest":
        return float(ss.ttest_1samp(d, 0.0).pvalue)
    raise ValueError(f"test must be 'wilcoxon' or 'ttest', got {test!r}")


def _seeds_test(b, t) -> float:
    from scipy import stats as ss
    d = t - b
    if np.allclose(d, d[0]):            # zero variance of the differences: t undefined
        return 1.0 if d[0] == 0 else 0.0
    return float(ss.ttest_rel(t, b).pvalue)


def _interval(b, t, ub, ut, change, relative, alpha):
    """(low, high, p): Student-t interval for ``change`` whose variance is the seed component
    (spread of the per-seed changes) plus the user component (sampling variance of the users'
    seed-averaged changes), both linearised around the ratio of the means."""
    from scipy import stats as ss
    n = len(b)
    scale, k = (b.mean(), 1.0 + change) if relative else (1.0, 1.0)
    v_seed = float(np.var((t - k * b) / scale, ddof=1)) / n
    v_user, n_users = 0.0, 0
    if ub is not None:
        e = ((ut - k * ub) / scale).mean(0)
        n_users = len(e)
        v_user = float(np.var(e, ddof=1)) / n_users if n_users > 1 else 0.0
    v = v_seed + v_user
    if v <= 0:
        return change, change, (1.0 if change == 0 else 0.0)
    df = v * v / (v_seed ** 2 / (n - 1) + (v_user ** 2 / (n_users - 1) if n_users > 1 else 0.0))
    se = math.sqrt(v)
    q = float(ss.t.ppf(1 - alpha / 2, df))
    return change - q * se, change + q * se, float(2 * ss.t.sf(abs(change) / se, df))


def compare_units(al: Alignment, relative: bool = True, test: str = "wilcoxon", alpha: float = ALPHA) -> Comparison:
    """The comparison of an alignment's pairs (per-user values used where every unit has them)."""
    c = Comparison(al, relative=relative, alpha=alpha)
    if not al.pairs:
        return c
    b = np.array([p[0].value for p in al.pairs], float)
    t = np.array([p[1].value for p in al.pairs], float)
    c.base, c.treat = float(b.mean()), float(t.mean())
    if relative:
        c.change = c.treat / c.base - 1 if c.base != 0 and np.isfinite(c.base) else math.nan
        c.per_seed = {p[0].seed: (y / x - 1 if x != 0 else math.nan) for p, x, y in zip(al.pairs, b, t)}
    else:
        c.change = c.treat - c.base
        c.per_seed = {p[0].seed: y - x for p, x, y in zip(al.pairs, b, t)}
    ub = ut = None
    if all(u.users is not None for p in al.pairs for u in p):
        ub = np.array([p[0].users for p in al.pairs], float)
        ut = np.array([p[1].users for p in al.pairs], float)
        c.n_users = ub.shape[1]
        c.p_users = _users_test(ub, ut, test)
    if len(b) >= 2:
        c.p_seeds = _seeds_test(b, t)
        if np.isfinite(c.change):
            c.low, c.high, c.p = _interval(b, t, ub, ut, c.change, relative, alpha)
    return c


def compare_runs(base, treat, metric: str = "ndcg@10", which: str = "test", mode: str = "sampled",
                 test: str = "wilcoxon", root=None, users: bool = True, relative: bool = True) -> Comparison:
    """``treat``'s runs against ``base``'s on ``metric`` (each run's value at its selected epoch;
    per-user values from the saved ranks unless ``users`` is False)."""
    al = align(_units(base, metric, which, mode), _units(treat, metric, which, mode))
    if users:
        al = _with_users(al, metric, which, mode, root)
    return compare_units(al, relative, test)


def compare_frame(base, treat, column: str, relative: bool = True) -> Comparison:
    """The same from two frames with a ``seed`` and a value ``column`` per run (and a
    ``generation`` column where known): seed-level values only, no per-user variance."""
    def units(df):
        g = df["generation"] if "generation" in df else [gens.UNKNOWN] * len(df)
        return [Unit(int(s), float(v), x) for s, v, x in zip(df["seed"], df[column], g)]
    return compare_units(align(units(base), units(treat)), relative)


# ------------------------------------------------------------------------- many comparisons
def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values over a family of len(p) tests; a NaN (no test, e.g. one
    seed) counts in the family as p = 1 and stays NaN."""
    p = np.asarray(p, float)
    m, out = len(p), np.full(len(p), np.nan)
    q = np.where(np.isfinite(p), p, 1.0)
    order = np.argsort(q, kind="stable")
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * q[order]))
    out[order] = adj
    return np.where(np.isfinite(p), out, np.nan)


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), NaN as in ``holm``."""
    p = np.asarray(p, float)
    m, out = len(p), np.full(len(p), np.nan)
    q = np.where(np.isfinite(p), p, 1.0)
    order = np.argsort(q, kind="stable")
    adj = np.minimum.accumulate((np.minimum(1.0, m * q[order] / np.arange(1, m + 1)))[::-1])[::-1]
    out[order] = adj
    return np.where(np.isfinite(p), out, np.nan)
