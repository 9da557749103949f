"""The synthetic generator's story and exact false-negative rate, the teaching helpers
(notebook 07) and the two-user walkthrough toy (notebook 08)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import ufnlib
from ufnlib.analysis import exercises, teaching, walkthrough
from ufnlib.data import synthetic
from ufnlib.data.batches import NegativeSampler, membership_keys
from ufnlib.training.algorithm1 import ema_decay

SPEC = "synthetic:users=300,items=120,clusters=6"


@pytest.fixture(scope="module")
def split():
    return ufnlib.leave_one_out(ufnlib.load(SPEC))


# --------------------------------------------------------------------------- generator
def test_storyline_order_within_clusters(split):
    """Inside a cluster a user's items follow the cluster's cycle from one starting point: their
    cycle positions, in sequence order, wrap around at most once."""
    s = split.seqs
    cluster, cpos = s.extra["item_cluster"], s.extra["cycle_pos"]
    for u in range(s.n_users):
        seq = s.seq(u)
        for c in np.unique(cluster[seq]):
            p = cpos[seq[cluster[seq] == c]]
            assert (np.diff(p) < 0).sum() <= 1, (u, c, p)


def test_defaults_give_sticky_sequences_and_false_negatives():
    s = ufnlib.load("synthetic")
    spec = synthetic.SyntheticSpec()
    assert s.n_users == spec.users and s.n_items == spec.items and s.lengths.min() >= spec.min_len
    cl = s.extra["item_cluster"]
    same = np.concatenate([cl[s.seq(u)][1:] == cl[s.seq(u)][:-1] for u in range(s.n_users)])
    assert same.mean() > 0.8                      # stickiness 0.9, minus forced switches
    r = synthetic.uniform_false_negative_rate(ufnlib.leave_one_out(s))
    assert 0.02 < r["per_draw"] < 0.2             # a meaningful share of uniform negatives
    assert r["at_least_one_of_100"] > 0.9


def test_spec_string_round_trip():
    assert synthetic.spec_string() == "synthetic"
    name = synthetic.spec_string(exposure=0.3, items=90)
    assert name == "synthetic:items=90,exposure=0.3"
    s = ufnlib.load(name)
    assert s.n_items == 90 and s.extra["spec"]["exposure"] == 0.3


def test_exact_rate_matches_the_sampler(split):
    """uniform_false_negative_rate equals the false-negative share of the training sampler's
    draws (Monte Carlo, 200 draws per training position)."""
    r = synthetic.uniform_false_negative_rate(split)
    sampler = NegativeSampler(membership_keys(split, "train"), split.n_items, torch.Generator().manual_seed(0))
    pos_users = np.repeat(np.arange(split.n_users), np.maximum(np.diff(split.train_offsets) - 1, 0))
    users = torch.from_numpy(pos_users)
    negs = sampler.sample(users, 200)
    hit = synthetic.false_negative_mask(split.seqs, users[:, None].expand_as(negs).numpy(), negs.numpy())
    assert hit.mean() == pytest.approx(r["per_draw"], rel=0.03)


def test_share_grid_falls_with_exposure_and_catalogue():
    g = teaching.false_negative_share_grid([0.3, 0.8], [100, 400], users=150, clusters=5)
    share = g.set_index(["exposure", "items"])["share_per_draw"]
    assert share[(0.3, 100)] > share[(0.8, 100)] and share[(0.3, 100)] > share[(0.3, 400)]
    assert share[(0.3, 400)] > share[(0.8, 400)]
    assert (g["expected_in_100"] == 100 * g["share_per_draw"]).all()


def test_mining_history_and_summary(tmp_path):
    cfg = ufnlib.Config(dataset="synthetic:users=80,items=60", strategy="fmr", warmup="fixed",
                        warmup_epochs=1, m=1, hidden=16, n_neg=10, max_epochs=4, patience=10)
    rec = ufnlib.run(cfg, root=tmp_path, progress=False)
    h = teaching.mining_history(rec)
    assert list(h["phase"]) == ["warm-up", "mining", "mining", "mining"]
    assert h["mined_precision"].iloc[0] is None or np.isnan(h["mined_precision"].iloc[0])
    assert h.loc[4, "random_precision"] is not None
    row = teaching.summary_row(rec)
    assert row["strategy"] == "fmr" and 0 <= row["random_precision"] <= 1
    assert "mined_per_position" not in row                   # opt-in: notebook 03's tables keep their columns
    f = teaching.summary_frame([rec, rec], per_position=True)
    assert len(f) == 2 and f["mined_per_position"].dtype == float
    tail = h[h["phase"] == "mining"].tail(3)
    rate = teaching.summary_row(rec, per_position=True)["mined_per_position"]
    assert rate == pytest.approx((tail["mined"] / tail["positions"]).mean())
    learnt = teaching.learnt_at(rec)
    assert learnt is None or 1 <= learnt <= 4
    assert teaching.learnt_at(rec, lift=0.0) == 1            # any score beats zero
    # the notebook's runs: from the cache whatever compute says; a missing one trains only when asked
    assert teaching.cached_run(cfg, compute=False, root=tmp_path).key == rec.key
    with pytest.raises(teaching.MissingRun, match="report-only"):
        teaching.cached_run(cfg.replace(seed=cfg.seed + 1), compute=False, root=tmp_path)
    t = teaching.runaway_table({"sasrec": rec})
    want = "yes" if rec.best_epoch > rec.warmup_end else "no"
    assert t.loc["sasrec", "best_after_mining"] == want
    # an exercise's solution: the seeds with every run, the missing runs named with their settings
    sol = teaching.solution({("a", 1): cfg}, [cfg.seed, cfg.seed + 1], compute=False, root=tmp_path,
                            names=["x", "y"])
    assert sol.seeds == [cfg.seed] and [(lab, s) for lab, s, _ in sol.missing] == [(("a", 1), cfg.seed + 1)]
    assert sol.table.loc[("a", 1), "test_ndcg10"] == pytest.approx(row["test_ndcg10"])
    text = teaching.missing_text("exercise 9", sol, cfg.replace(strategy="uniform"))
    assert text.startswith(f"exercise 9: read from seeds [{cfg.seed}] only: 1 run is not in the cache")
    assert f"strategy='fmr' (seeds [{cfg.seed + 1}])" in text and "compute = True" in text
    none = teaching.solution({"b": cfg.replace(m=3)}, [cfg.seed], compute=False, root=tmp_path)
    assert none.table is None and none.seeds == []
    assert teaching.missing_text("exercise 9", none, cfg).startswith("exercise 9: not computed: 1 run is")
    assert "m=3" in teaching.missing_text("exercise 9", none, cfg)


def test_variant_and_settles_at():
    assert teaching.variant("synthetic", exposure=0.8) == "synthetic:exposure=0.8"
    assert teaching.variant("synthetic:users=300", items=1000) == "synthetic:users=300,items=1000"
    assert teaching.variant("synthetic:exposure=0.8", exposure=synthetic.SyntheticSpec().exposure) == "synthetic"
    assert teaching.synthetic_spec("synthetic:users=300").users == 300
    with pytest.raises(ValueError):
        teaching.variant("beauty", exposure=0.8)
    s = pd.Series([0.1, 0.3, 0.5, 0.55, 0.555, 0.556], index=range(10, 16))
    assert teaching.settles_at(s) == 13 and teaching.settles_at(s, tol=0.5) == 10
    assert teaching.settles_at(pd.Series([0.1, 0.2, 0.3])) == 2           # still moving: the last one
    assert teaching.settles_at(pd.Series([], dtype=float)) is None


def test_exercise_helpers():
    """The shared pieces of notebook 07's solutions (``analysis.exercises``)."""
    assert (teaching.signed(0.0004), teaching.signed(-0.0004), teaching.signed(0.0123)) == ("0.000", "0.000", "+0.012")
    assert [teaching.moves(0.1, 0.2), teaching.moves(0.2, 0.1), teaching.moves(0.1, 0.105)] == \
        ["rises", "falls", "stays level"]
    assert teaching.moves(1.0, 1.05, tol=0.1) == "stays level"
    # uniform's row is matched by level, not by position: rows in any order
    idx = pd.MultiIndex.from_tuples([(0.2, "fmr"), (0.2, "uniform"), (0.8, "uniform"), (0.8, "fmr")],
                                    names=["exposure", "strategy"])
    t = pd.DataFrame({"test_hr10": [0.7, 0.5, 0.6, 0.55], "mined_precision": [0.2, np.nan, np.nan, 0.1],
                      "random_precision": [0.05, np.nan, np.nan, 0.04]}, index=idx)
    d = exercises.vs_uniform(t, "test_hr10", "exposure")
    assert list(d.index) == list(idx) and np.allclose(d.to_numpy(), [0.2, 0.0, 0.0, -0.05])
    assert np.allclose(exercises.mined_over_random(t).dropna().to_numpy(), [4.0, 2.5])
    # per-run rows averaged over seeds, and the runs flagged as runaway, per label
    rec = lambda v, runaway=None: SimpleNamespace(v=v, runaway=runaway)
    sol = teaching.Solution({(3, 1): rec(1.0, 5), (3, 2): rec(3.0), (15, 1): rec(5.0), (15, 2): rec(7.0)}, [1, 2], [],
                            pd.DataFrame(index=pd.Index([3, 15], name="warmup_epochs")))
    means = exercises.seed_means(sol, lambda r, w: {"v": r.v, "w2": 2 * w})
    assert means.index.name == "warmup_epochs" and list(means.index) == [3, 15]
    assert means["v"].tolist() == [2.0, 6.0] and means["w2"].tolist() == [6, 30]
    assert exercises.ran_away(sol, lambda w: f"warm-up {w}") == "runaway mining flagged for warm-up 3 (1 of 2 seeds)"
    assert exercises.ran_away(sol._replace(seeds=[2])) == "runaway mining flagged for no run"


def test_exercise5_reading():
    """Exercise 5's reading follows its table: a weaker signal that lowers the backbone, the
    precision ratio and fmr's change against uniform reads as mining doing worse."""
    idx = pd.MultiIndex.from_product([[0.3, 0.9], ["uniform", "fmr"]], names=["stickiness", "strategy"])
    table = pd.DataFrame({"mined_precision": [np.nan, 0.1, np.nan, 0.2],
                          "random_precision": [np.nan, 0.05, np.nan, 0.05],
                          "test_hr10": [0.9, 0.85, 0.95, 0.94], "test_ndcg10": [0.70, 0.60, 0.80, 0.78]}, index=idx)
    sol = teaching.Solution({(lab, 1): SimpleNamespace(runaway=None) for lab in idx}, [1], [], table)
    r = exercises.exercise5(sol)
    assert r.table["mined_over_random"].dropna().tolist() == [2.0, 4.0]
    (line,) = r.lines
    assert line.startswith("Exercise 5 (means over seeds [1],")
    assert "uniform's test NDCG@10 falls (0.800 -> 0.700" in line and "the ratio falls" in line
    assert "goes from -0.020 to -0.100" in line and "mining does worse" in line
    better = exercises.exercise5(sol._replace(table=table.assign(test_ndcg10=[0.70, 0.72, 0.80, 0.78])))
    assert "do not settle the question" in better.lines[0]


# --------------------------------------------------------------------------- walkthrough toy
NEGS = [[[3, 6, 7], [2, 4, 8]], [[6, 8, 2], [7, 3, 6]], [[8, 4, 6], [1, 4, 7]], [[3, 2, 7], [8, 6, 2]]]


def _toy(**kw):
    L = walkthrough.logit_rows(2, 8, {0: {1: 1.0, 3: 2.0, 6: 0.2}, 1: {5: 1.5, 2: 1.7, 4: -0.5}})
    return walkthrough.ToyUFN(L, [1, 5], m=1, n_neg=3, alpha=0.3, d=0.9, lr=1.0, truth={0: {3}}, **kw)


def test_toy_story():
    """Item 3 of user A: recorded (step 1), re-fed once (step 2), re-fed a second time and
    reversed with a teacher soft label (step 3), not re-recorded in that step; item 2 of user B:
    recorded once, re-fed once, then below the positive, its counter kept."""
    toy = _toy()
    steps = [toy.step(n) for n in NEGS]
    assert all(s["memory"]["agree"].all() for s in steps)
    a = [s["candidates"].loc[("A", "neg 1")] for s in steps]
    assert [x["item"] for x in a] == [3, 3, 3, 3]
    assert [x["source"] for x in a] == ["N_ran", "N_rec (re-fed)", "N_rec (re-fed)", "N_ran"]
    assert [x["count"] for x in a[1:3]] == [1, 2]
    assert [x["in_N_false"] for x in a] == [False, False, True, False]
    assert a[2]["label"] == 1.0 and 0.5 < a[2]["soft_label"] < 1 and not a[2]["recorded"]
    assert steps[2]["memory"].loc["A", "N_false"] == [3]
    # step 4: item 3 is in N_false but drawn at random, so it is an ordinary negative (no reversal)
    assert steps[3]["memory"].loc["A", "N_false"] == [3] and a[3]["label"] == 0.0
    assert steps[1]["memory"].loc["B", "N_rec"] == [] and steps[3]["memory"].loc["B", "counters"] == {2: 1}
    L = toy.losses_table()
    assert L.loc[3, "L_con"] > 0 and L.loc[3, "L_basic"] < L.loc[3, "L_basic_without_reversal"]
    assert (L.drop(index=3)["L_con"] == 0).all()
    assert L.loc[3, "L_final"] == pytest.approx(L.loc[3, "L_basic"] + 0.3 * L.loc[3, "L_con"])


@pytest.mark.parametrize("name", ["ufn", "fmr", "fcr"])
def test_toy_runs_the_trainer_step_with_the_real_strategy(name):
    """The toy's step is ``algorithm1.train_step`` with the real strategy: its labels follow the
    rule by hand (N_false = re-fed more than m times; reversed for ufn / fmr, not for fcr), L_con
    appears only with a consistency treatment, and the memory agrees with the oracle."""
    from ufnlib.negatives.strategies import Strategy
    toy = _toy(strategy=name)
    assert isinstance(toy.strategy, Strategy) and toy.strategy.name == name
    for t, n in enumerate(NEGS, start=1):
        out = toy.step(n)
        last = toy.last
        assert out["memory"]["agree"].all()
        mined = torch.zeros_like(last["mined"])
        mined[:, 1:] = last["refed"] & (last["counts"] > toy.m)
        assert torch.equal(last["mined"], mined)
        want = (last["cands"] == toy.pos[:, None]).float()
        if name != "fcr":
            want[mined] = 1.0
        assert torch.equal(last["labels"], want)
        l_con = toy.losses_table().loc[t, "L_con"]
        assert (l_con > 0) == (name != "fmr" and bool(mined.any()))
    assert toy.losses_table()["mined"].sum() > 0


def test_source_and_tables():
    from ufnlib.training import algorithm1
    txt = walkthrough.source(algorithm1.basic_loss)
    assert txt.startswith("# ufnlib/training/algorithm1.py, lines ") and "def basic_loss" in txt
    whole = walkthrough.source(algorithm1)
    n = len(whole.splitlines()) - 1
    assert whole.startswith(f"# ufnlib/training/algorithm1.py, lines 1-{n}\n") and "def train_step" in whole
    assert n <= 300                                  # Algorithm 1 in one sitting
    for d in (0.1, 0.5, 0.9, 0.99):                  # the first update whose rate is d
        k = walkthrough.ema_reaches(d)
        assert ema_decay(d, k) == d and (k == 1 or ema_decay(d, k - 1) < d)
    assert walkthrough.ema_reaches(0.9) == 80
    e = walkthrough.ema_schedule(0.999, 3)
    assert e["decay"].tolist() == pytest.approx([2 / 11, 3 / 12, 4 / 13])
    w = walkthrough.warmup_table([100, 60, 40, 30, 25, 20, 19, 18.9], ufnlib.Config())
    assert w["warmup_ended"].tolist() == [False] * 7 + [True]
