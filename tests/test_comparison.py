"""ufnlib.analysis.comparison and generations: the comparison model on constructed cases (seed
alignment, code generations, the interval over seeds and users, the words, corrections for many
comparisons) and the three-valued claims built on it."""
from __future__ import annotations

import math
import subprocess

import numpy as np
import pandas as pd
import pytest

from ufnlib.analysis import comparison, generations, stats
from ufnlib.analysis.comparison import HELPS, HURTS, ONE_SEED, UNCLEAR, Alignment, Unit
from ufnlib.data.datasets import PROJECT_ROOT


def units(values, users=None, gen=3, seeds=None):
    """One Unit per seed from seed-level ``values`` (and per-user arrays, one per seed)."""
    seeds = seeds or range(1, len(values) + 1)
    return [Unit(s, float(v), gen, None if users is None else np.asarray(users[k], float))
            for k, (s, v) in enumerate(zip(seeds, values))]


def users_of(rows):
    """Seed-level values that agree with the per-user arrays (the mean over users)."""
    return [float(np.mean(r)) for r in rows]


def compare(base_users, treat_users, **kw):
    b, t = units(users_of(base_users), base_users), units(users_of(treat_users), treat_users)
    return comparison.compare_units(comparison.align(b, t), **kw)


# ------------------------------------------------------------------------------------ words
def test_significant_over_users_but_not_over_seeds_is_no_clear_difference():
    """Seed 1 gains a lot, seeds 2 and 3 lose a little: averaged over seeds the users' paired test
    is overwhelming, but another training run need not agree: no clear difference."""
    rng = np.random.default_rng(0)
    base = [rng.binomial(1, 0.3, 3000).astype(float) for _ in range(3)]
    treat = [b.copy() for b in base]
    treat[0][rng.choice(np.flatnonzero(base[0] == 0), 600, replace=False)] = 1        # seed 1: +60% (relative)
    treat[1][rng.choice(np.flatnonzero(base[1] == 1), 30, replace=False)] = 0         # seed 2: -3%
    treat[2][rng.choice(np.flatnonzero(base[2] == 1), 30, replace=False)] = 0         # seed 3: -3%
    c = compare(base, treat)
    assert c.p_users < 1e-6 and c.change > 0.15
    assert c.low < 0 < c.high and c.word == UNCLEAR and c.direction == 0
    assert sorted(np.sign(list(c.per_seed.values()))) == [-1, -1, 1]


def test_a_seed_consistent_difference_is_decided_both_ways():
    rng = np.random.default_rng(1)
    base = [rng.binomial(1, 0.3, 3000).astype(float) for _ in range(3)]
    treat = []
    for k, b in enumerate(base):                    # every seed gains 150-170 hits (about +17%)
        t = b.copy()
        t[rng.choice(np.flatnonzero(b == 0), 150 + 10 * k, replace=False)] = 1
        treat.append(t)
    up = compare(base, treat)
    assert up.word == HELPS and up.direction == 1 and 0 < up.low < up.change < up.high
    down = compare(treat, base)
    assert down.word == HURTS and down.direction == -1 and down.high < 0
    assert up.n == 3 and up.n_users == 3000 and up.p < 0.05 and up.p_seeds < 0.05


def test_every_seed_must_move_the_same_way():
    """Even with an interval that excludes 0, a seed that moved the other way leaves it undecided."""
    b = units([0.30] * 8)
    t = units([0.36, 0.37, 0.35, 0.36, 0.36, 0.37, 0.35, 0.299])
    c = comparison.compare_units(comparison.align(b, t))
    assert c.low > 0 and c.word == UNCLEAR


def test_one_seed_is_not_decided_but_its_change_is_shown():
    rng = np.random.default_rng(2)
    base = [rng.binomial(1, 0.3, 3000).astype(float)]
    treat = [np.ones(3000)]
    c = compare(base, treat)
    assert c.word == ONE_SEED and c.direction is None and c.change > 1
    assert math.isnan(c.low) and math.isnan(c.p) and c.p_users < 1e-10       # users alone are no verdict
    assert "one seed, not decided (1 seed)" in c.text() and c.fmt_change().startswith("+")
    empty = comparison.compare_units(comparison.align([], units([0.3])))
    assert empty.word == "" and empty.n == 0 and empty.alignment.left_out == {1: "compared arm only"}


# ------------------------------------------------------------------------------- the interval
def test_interval_without_users_is_the_paired_t_interval_over_seeds():
    """No per-user values, absolute change: the interval is the paired t interval of the seed
    differences and its p is the paired t-test's."""
    from scipy import stats as ss
    b, t = [0.30, 0.32, 0.31, 0.29], [0.33, 0.34, 0.35, 0.30]
    c = comparison.compare_units(comparison.align(units(b), units(t)), relative=False)
    d = np.subtract(t, b)
    half = ss.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert c.change == pytest.approx(d.mean()) and c.low == pytest.approx(d.mean() - half)
    assert c.high == pytest.approx(d.mean() + half) and c.p == pytest.approx(ss.ttest_rel(t, b).pvalue)
    assert c.p_seeds == pytest.approx(c.p)


def test_interval_adds_the_users_sampling_to_the_seed_spread():
    """Identical seeds (no training variance): the interval is the users' alone, a paired t interval
    over users of the relative change; adding seed spread widens it."""
    rng = np.random.default_rng(3)
    x = rng.binomial(1, 0.4, 2000).astype(float)
    y = np.where(rng.random(2000) < 0.1, 1.0, x)
    same = compare([x, x, x], [y, y, y])
    r = y.mean() / x.mean() - 1
    z = (y - (1 + r) * x) / x.mean()
    from scipy import stats as ss
    half = ss.t.ppf(0.975, len(z) - 1) * z.std(ddof=1) / math.sqrt(len(z))
    assert same.change == pytest.approx(r) and same.high - same.low == pytest.approx(2 * half, rel=1e-6)
    spread = compare([x, x, x], [y, np.where(rng.random(2000) < 0.02, 1.0, x), y])
    assert spread.high - spread.low > 2 * (same.high - same.low)


def test_interval_agrees_with_a_crossed_bootstrap_when_seeds_are_many():
    """With 40 seeds the Student-t interval and a bootstrap that resamples seeds and (the same)
    users together cover about the same range: the two-component variance is the bootstrap's."""
    rng = np.random.default_rng(4)
    n, N = 40, 600
    user = rng.normal(0.30, 0.10, N)
    base = np.clip(user + rng.normal(0, 0.05, (n, N)), 0, 1)
    gain = rng.normal(0.01, 0.01, n)[:, None] + rng.normal(0, 0.02, N)[None, :]
    treat = np.clip(base + gain, 0, 1)
    c = compare(list(base), list(treat))
    reps = []
    for _ in range(1500):
        s, u = rng.integers(0, n, n), rng.integers(0, N, N)
        reps.append(treat[s][:, u].mean() / base[s][:, u].mean() - 1)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    assert (c.high - c.low) == pytest.approx(hi - lo, rel=0.15)
    assert c.low == pytest.approx(lo, abs=0.2 * (hi - lo)) and c.high == pytest.approx(hi, abs=0.2 * (hi - lo))


# ------------------------------------------------------------------------ seeds, generations
def test_alignment_keeps_shared_seeds_and_prefers_same_generation_pairs():
    base = [Unit(1, 0.3, 0), Unit(2, 0.3, 0), Unit(3, 0.3, 0), Unit(4, 0.3, 0)]
    treat = [Unit(1, 0.4, 0), Unit(2, 0.4, 0), Unit(3, 0.4, 3), Unit(5, 0.4, 3)]
    al = comparison.align(base, treat)
    assert al.seeds == [1, 2] and not al.mixed and al.generations == "0"
    assert al.left_out == {3: "generations 0 vs 3", 4: "baseline arm only", 5: "compared arm only"}
    assert comparison.align(base, treat, generations=False).seeds == [1, 2, 3]
    with pytest.raises(ValueError, match="two runs of seed 1"):
        comparison.align(base + [Unit(1, 0.2, 0)], treat)


def test_a_mixed_generation_pair_is_flagged():
    """Every shared seed pairs runs of different generations: all are compared, and the comparison
    says so in its row, its note and its text."""
    base = [Unit(s, 0.30 + s / 1000, 0) for s in (1, 2, 3)]
    treat = [Unit(s, 0.33 + s / 1000, 3) for s in (1, 2, 3)]
    c = comparison.compare_units(comparison.align(base, treat))
    assert c.n == 3 and c.mixed and c.alignment.generations == "0 vs 3"
    row = c.row()
    assert row["mixed"] is True and row["generations"] == "0 vs 3"
    assert "different code generations (0 vs 3" in c.note() and "mixed generations" in c.text()
    unknown = comparison.align([Unit(1, 0.3, generations.UNKNOWN)], [Unit(1, 0.3, 3)])
    assert not unknown.mixed and unknown.seeds == [1]                 # unknown pairs with any


def _commit(rev: str) -> str | None:
    r = subprocess.run(["git", "rev-parse", "--verify", "--quiet", rev + "^{commit}"], cwd=PROJECT_ROOT,
                       capture_output=True, text=True)
    return r.stdout.strip() or None


def test_generation_of_the_boundary_commits():
    """docs/speed.md: generation k starts at the k-th boundary commit; the commit before it is k-1."""
    if not all(_commit(c) for c in generations.BOUNDARIES):
        pytest.skip("git history with the boundary commits is not available")
    for k, c in enumerate(generations.BOUNDARIES, 1):
        assert generations.of_commit(_commit(c)) == k
        assert generations.of_commit(_commit(c + "^")) == k - 1
    assert generations.of_commit("0" * 40) == generations.UNKNOWN
    assert generations.of_commit(None) == generations.UNKNOWN
    assert generations.of_record({"git": {"commit": _commit(generations.BOUNDARIES[2])}}) == 3
    assert generations.of_record({}) == generations.UNKNOWN


def test_census_counts_generations_and_groups_the_older_runs_by_config():
    """The grid's dry-run listing: runs per generation, the older ones grouped with their seeds."""
    if not all(_commit(c) for c in generations.BOUNDARIES):
        pytest.skip("git history with the boundary commits is not available")
    new, old = _commit(generations.BOUNDARIES[2]), _commit(generations.BOUNDARIES[0])

    def rec(commit, seed, strategy="uniform"):
        return {"git": {"commit": commit}, "config": {"dataset": "beauty", "backbone": "sasrec",
                                                       "strategy": strategy, "seed": seed}}
    lines = generations.census([rec(new, 1), rec(old, 2), rec(old, 3), rec(old, 1, "ufn"), rec(None, 1, "fmr")])
    assert lines[0].endswith("generation 1 3, generation 3 1, generation unknown 1")
    assert "recompute" in lines[1] and lines[1].endswith(": 4")
    assert "  - beauty/sasrec/uniform (generation 1): seeds 2, 3" in lines
    assert "  - beauty/sasrec/ufn (generation 1): seed 1" in lines
    assert "  - beauty/sasrec/fmr (generation unknown): seed 1" in lines
    assert generations.census([rec(new, 1)])[1:] == [] and generations.census([]) == []


# ------------------------------------------------------------------------- many comparisons
def test_holm_and_benjamini_hochberg_on_a_known_example():
    p = [0.01, 0.04, 0.03, 0.005]
    assert comparison.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert comparison.benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # an untested value counts in the family (as p = 1) and stays untested
    adj = comparison.holm([0.01, math.nan, 0.02])
    assert adj[0] == pytest.approx(0.03) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.04)


def test_a_corrected_p_can_undo_a_word():
    b, t = units([0.30, 0.31, 0.30]), units([0.33, 0.335, 0.332])
    c = comparison.compare_units(comparison.align(b, t))
    assert c.word == HELPS and c.word_at(min(1.0, 20 * c.p)) == UNCLEAR


# -------------------------------------------------------------------------- three-valued claims
def test_claim_outcomes_from_directions():
    assert stats.outcome([1, 1, 1, 1, 1]) == stats.HOLDS
    assert stats.outcome([1, 1, 1, 1, 0]) == stats.NOT_SHOWN            # one tied metric: not shown
    assert stats.outcome([1, 1, None]) == stats.NOT_SHOWN                # one seed: not decided
    assert stats.outcome([1, 1, -1]) == stats.CONTRADICTED
    assert stats.outcome([1, 1, 1, 0, 0], "most") == stats.HOLDS
    assert stats.outcome([1, 1, 0, 0, 0], "most") == stats.NOT_SHOWN
    assert stats.outcome([1, 1, -1, -1, -1], "most") == stats.CONTRADICTED
    assert stats.outcome([]) is None
    assert stats.combine([stats.HOLDS, stats.NOT_SHOWN]) == stats.NOT_SHOWN
    assert stats.combine([stats.HOLDS, stats.CONTRADICTED, stats.NOT_SHOWN]) == stats.CONTRADICTED
    assert stats.verdict(stats.NOT_SHOWN) == stats.NOT_SHOWN and stats.verdict(False) == stats.CONTRADICTED
    assert stats.verdict(stats.HOLDS, ["x"]) == stats.PARTLY and stats.verdict(None, ["x"]) == stats.NOT_COMPUTED
    assert stats.partial_detail(stats.NOT_SHOWN, "d", ["x"]) == "on the runs computed so far it is not shown: d"


def test_alignment_object_reports_its_seeds():
    al = Alignment([(Unit(2, 0.1, 0), Unit(2, 0.2, 0))], {1: "baseline arm only"})
    assert al.seeds == [2] and al.generations == "0"
    assert comparison.shared_seeds([1, 2, 3], pd.Series([2, 3, 4]), {3, 2}) == [2, 3]


def test_cite_row_reads_named_columns_and_cites_a_row_without_seeds_by_its_change():
    from ufnlib.analysis import comparison
    row = {"rel": -0.0083, "iv": "[-1.84%, +0.18%]", "v": "no clear difference", "n": 3.0, "mx": True}
    assert (comparison.cite_row(row, "rel", "iv", "v", "n", "mx")
            == "-0.8% [-1.84%, +0.18%] no clear difference (3 seeds; mixed generations)")
    assert comparison.cite_row({**row, "n": float("nan")}, "rel", "iv", "v", "n", "mx") == "-0.8%"
    assert comparison.cite_row({**row, "n": 1, "mx": None}, "rel", "iv", "v", "n", "mx",
                               fmt=lambda x: f"{x:+.2%}") == "-0.83% [-1.84%, +0.18%] no clear difference (1 seed)"
