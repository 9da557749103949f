"""Notebook 10's splits on constructed cases with known answers: the groups, the per-group
change and contribution (they add up to the overall change), the interval, the verdict word,
the pairing of each UFN config with its SASRec, and what the top-10 lists hold."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ufnlib.analysis import comparison, report
from ufnlib.analysis import two_protocols as tp
from ufnlib.analysis import two_protocols_report as tpr
from ufnlib.experiments import profiles
from ufnlib.training.evaluate import per_user_metric

NDCG = {r: 1 / math.log2(r + 2) for r in range(10)}      # per-user NDCG@10 of a 0-based rank


def make_pair(base: dict, treat: dict, mined=None, name="toy") -> tp.Pair:
    """A Pair from hand-built [seeds, users] rank arrays per protocol."""
    comp = tp.Comparison("Table 2", name, "toy", "sasrec", {})
    ranks = {p: (np.atleast_2d(base[p]), np.atleast_2d(treat[p])) for p in tp.PROTOCOLS}
    n = ranks["full"][0].shape[1]
    return tp.Pair(comp, np.arange(n), ranks, None if mined is None else np.atleast_2d(mined).astype(bool))


# --------------------------------------------------------------------------------- groups
def test_popularity_deciles_of_distinct_frequencies():
    """20 users with frequencies 0..19: ten groups of two users each, labelled by their range."""
    codes, labels, edges = tp.popularity_groups(np.arange(20))
    assert codes.tolist() == [g for g in range(10) for _ in range(2)]
    assert labels == [f"{2 * g}-{2 * g + 1}" for g in range(10)]
    assert edges.tolist() == list(range(2, 20, 2))          # the edges between groups


def test_popularity_ties_stay_in_one_group():
    """Half the users at frequency 1: they share one group (fewer, larger groups, no user split
    across two groups for the same frequency); the maximum falls in the last group."""
    freq = np.array([1] * 10 + [2, 3, 4, 5, 6, 7, 8, 9, 10, 50])
    codes, labels, _ = tp.popularity_groups(freq)
    assert len(set(codes[:10])) == 1 and codes[0] == 0 and labels[0] == "1"
    assert codes[-1] == max(codes) and labels[-1].endswith("50")
    for f in np.unique(freq):
        assert len(set(codes[freq == f])) == 1
    assert (np.diff(codes[np.argsort(freq, kind="stable")]) >= 0).all()      # ordered by popularity
    one, labels1, _ = tp.popularity_groups(np.array([3, 3, 7, 7]))            # two distinct values
    assert one.tolist() == [0, 0, 1, 1] and labels1 == ["3", "7"]


def test_popularity_codes_place_other_items_on_the_same_edges():
    _, _, edges = tp.popularity_groups(np.arange(20))
    assert tp.popularity_codes(np.array([0, 1, 2, 19, 500]), edges).tolist() == [0, 0, 1, 9, 9]


def test_rank_bands_use_the_median_over_seeds():
    ranks = np.array([[0, 9, 10, 99, 100, 999, 1000, 5],
                      [0, 9, 10, 99, 100, 999, 1000, 500],
                      [50, 9, 10, 99, 100, 999, 1000, 700]])
    codes, labels = tp.rank_groups(ranks)
    assert labels == ["top 10", "11-100", "101-1000", "beyond 1000"]
    assert codes.tolist() == [0, 0, 1, 1, 2, 2, 3, 2]        # user 0: median 0; user 7: median 500


def test_mined_groups_count_seeds():
    m = np.array([[0, 1, 1, 0], [0, 0, 1, 0], [0, 1, 1, 1]])
    codes, labels = tp.mined_groups(m)
    assert codes.tolist() == [0, 1, 2, 1] and labels[2] == "in every seed"
    assert tp.mined_groups(np.array([[0, 1]]))[0].tolist() == [0, 2]      # one seed: none or every


# ------------------------------------------------------------------------ the split's numbers
def toy():
    """Four users, two seeds. Full ranking: UFN lifts users 2 and 3 from SASRec's rank 20 to rank
    0 and drops user 0 from rank 0 to rank 50; sampled: UFN equals SASRec except user 1 (rank 3 ->
    0 in both seeds)."""
    b_full = np.array([[0, 5, 20, 20], [0, 5, 20, 20]])
    t_full = np.array([[50, 5, 0, 0], [50, 5, 0, 0]])
    b_s = np.array([[0, 3, 1, 1], [0, 3, 1, 1]])
    t_s = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    return make_pair({"full": b_full, "sampled": b_s}, {"full": t_full, "sampled": t_s},
                     mined=[[1, 0, 0, 1], [1, 0, 0, 0]])


def test_split_gains_and_contributions_have_the_known_values():
    pair = toy()
    codes = np.array([0, 0, 1, 1])               # group A: users 0, 1; group B: users 2, 3
    f = tp.split_frame(pair, "toy", codes, ["A", "B"]).set_index(["protocol", "group"])
    full, s = tpr.FULL, tpr.SAMPLED
    base_full = (1 + NDCG[5]) / 4                # SASRec's overall full mean
    assert f.loc[(full, "A"), "sasrec"] == pytest.approx((1 + NDCG[5]) / 2)
    assert f.loc[(full, "A"), "change"] == pytest.approx(-0.5)          # user 0 loses 1, user 1 none
    assert f.loc[(full, "B"), "change"] == pytest.approx(1.0)           # both gain 1
    assert f.loc[(full, "A"), "contribution"] == pytest.approx(-0.5 * 0.5 / base_full)
    assert f.loc[(full, "B"), "contribution"] == pytest.approx(1.0 * 0.5 / base_full)
    # a split's contributions add up to the overall relative change
    ov = tp.overall_frame([pair.comparison], {"toy": pair}).set_index("protocol")
    for p in (s, full):
        assert f.loc[p, "contribution"].sum() == pytest.approx(ov.loc[p, "change"])
    assert ov.loc[full, "change"] == pytest.approx((2 - 1) / 4 / base_full)
    assert f.loc[(s, "A"), "change"] == pytest.approx((1 - NDCG[3]) / 2)
    assert f.loc[(s, "B"), "change"] == 0 and f.loc[(s, "B"), "word"] == "no clear difference"
    assert f.loc[(s, "B"), "p"] == 1
    assert (f["users"] == 2).all() and (f["share"] == 0.5).all()


def test_no_spread_gives_a_point_interval_and_a_tie_gives_no_difference():
    """Every user and seed gains exactly 0.5: the interval is that point and the word helps;
    equal arms: no clear difference."""
    b = np.zeros((3, 40))
    r = tp.compare(b, b + 0.5)
    assert r["lo"] == pytest.approx(0.5) and r["hi"] == pytest.approx(0.5) and r["word"] == "helps"
    r = tp.compare(b + 0.2, b + 0.2)
    assert r["change"] == 0 and r["p"] == 1 and r["word"] == "no clear difference"


def test_interval_covers_the_seed_spread():
    """Two seeds whose gains differ (+0.1, +0.3 for every user): every user gains on average, so a
    per-user test is as significant as it gets, but two seeds this far apart do not settle it."""
    b = np.zeros((2, 50))
    t = np.stack([np.full(50, 0.1), np.full(50, 0.3)])
    r = tp.compare(b, t)
    assert r["change"] == pytest.approx(0.2) and r["p_users"] < 1e-6
    assert r["lo"] < 0 < r["hi"] and r["word"] == "no clear difference"


def test_words_are_the_comparison_models():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, (3, 200))
    treat = base + 0.05 + rng.normal(0, 0.01, (3, 200))
    assert tp.compare(base, treat)["word"] == "helps" and tp.compare(treat, base)["word"] == "hurts"
    assert tp.compare(base[:1], treat[:1])["word"] == "one seed, not decided"
    assert tpr.RULE.startswith(comparison.RULE)


def test_splits_of_a_pair_read_the_mined_flags_and_sasrec_full_ranks():
    pair = toy()
    freq = np.array([0, 1, 2, 3, 4])          # item i has frequency i (item 0 is padding)
    out = tp.splits(pair, freq, np.array([1, 2, 3, 4]))
    assert set(out) == {"popularity", "sasrec_rank", "mined"}
    rk = out["sasrec_rank"][out["sasrec_rank"]["protocol"] == tpr.FULL].set_index("group")
    assert rk.loc["top 10", "users"] == 2 and rk.loc["11-100", "users"] == 2       # ranks 0, 5 | 20, 20
    assert rk.loc["11-100", "change"] == pytest.approx(1.0)
    mn = out["mined"][out["mined"]["protocol"] == tpr.FULL].set_index("group")
    assert mn.loc["in every seed", "users"] == 1 and mn.loc["in every seed", "change"] == pytest.approx(-1.0)
    assert mn.loc["in some seeds", "change"] == pytest.approx(1.0)               # user 3
    no_flags = make_pair({p: v[0] for p, v in pair.ranks.items()}, {p: v[1] for p, v in pair.ranks.items()})
    assert "mined" not in tp.splits(no_flags, freq, np.array([1, 2, 3, 4]))
    pair.comparison.config["exclude_heldout"] = True          # out of reach: the flags say nothing
    assert "mined" not in tp.splits(pair, freq, np.array([1, 2, 3, 4]))


def test_per_user_metric_matches_the_toy_table():
    assert per_user_metric(np.array([0, 3, 10]), "ndcg@10").tolist() == pytest.approx([1, NDCG[3], 0])


# ------------------------------------------------------------------------ the comparisons
def test_each_ufn_config_is_paired_with_its_sasrec():
    """Figure 3's swept fields and the warm-up rules go back to the base; batch size, budget and
    the held-out setting stay; every baseline is a run the plans already hold."""
    for profile in ("smoke", "paper"):
        plan = profiles.two_protocols(profile)
        keys = set(plan)
        ufn = [c for c in plan if c.strategy == "ufn"]
        for c in ufn:
            b = tp.baseline_of(c, profile)
            assert b.strategy == "uniform" and b in keys, (profile, c)
            assert (b.batch_size, b.log_test_every, b.exclude_heldout, b.seed) == \
                (c.batch_size, c.log_test_every, c.exclude_heldout, c.seed)
    m10 = profiles.make(dataset="beauty", strategy="ufn", m=10, seed=2)
    assert tp.baseline_of(m10, "paper") == profiles.make(dataset="beauty", strategy="uniform", seed=2)
    assert tp.describe(m10, "paper") == ("Figure 3", "SASRec + UFN, beauty, m = 10")
    fixed = profiles.make(dataset="beauty", strategy="ufn", **profiles.fixed_budget("paper"))
    assert tp.describe(fixed, "paper")[0] == "notebook 09" and "fixed budget 200" in tp.describe(fixed, "paper")[1]


def test_notebook_10_reads_only_runs_other_notebooks_ask_for():
    for profile in profiles.PROFILES:
        others = {c for nb in profiles.NOTEBOOKS if nb != "10" for c in profiles.plan_on(nb, profile)}
        assert set(profiles.plan("10", profile)) <= others


def test_comparisons_group_seeds_and_name_missing_runs():
    plan = [profiles.make(dataset="beauty", strategy=s, seed=k) for s in ("uniform", "ufn") for k in (1, 2)]

    from ufnlib.config import config_key
    from ufnlib.experiments.store import Record
    have = [Record(key=config_key(c), config=c.to_dict()) for c in plan
            if not (c.strategy == "uniform" and c.seed == 2)]
    res = type("R", (), {"records": have})()
    (c,) = tp.comparisons(plan, res, "paper")
    assert c.name == "SASRec + UFN, beauty" and c.seeds == [1] and c.missing == ["beauty/sasrec/uniform/s2"]


# ---------------------------------------------------------------------------- top-10 lists
def test_top10_popularity_of_toy_lists():
    freq = np.array([0, 100, 50, 10, 1, 1])                   # items 1..5
    top = {"SASRec": np.array([[1, 2], [1, 3]]), "UFNRec": np.array([[1, 4], [5, 3]])}
    test_items = np.array([2, 4])
    _, labels, edges = tp.popularity_groups(freq[test_items])   # frequencies 1 and 50: groups [1, 50), [50, ...)
    assert labels == ["1", "50"]
    t = tp.top10_popularity(top, freq, test_items, edges, labels)
    assert t.loc["SASRec top-10", "mean_frequency"] == pytest.approx((100 + 50 + 100 + 10) / 4)
    assert t.loc["UFNRec top-10", "mean_frequency"] == pytest.approx((100 + 1 + 1 + 10) / 4)
    assert t.loc["only in UFNRec's", "slots"] == 2 and t.loc["only in UFNRec's", "mean_frequency"] == 1   # 4, 5
    assert t.loc["only in SASRec's", "mean_frequency"] == pytest.approx(75)                            # 2, 1
    assert t.loc["UFNRec top-10", "distinct"] == 4 and t.loc["SASRec top-10", "distinct"] == 3
    assert t.loc["SASRec top-10", "share 50"] == 0.75              # 100, 50, 100 of 100, 50, 100, 10
    assert t.loc["UFNRec top-10", "share 1"] == 0.75               # 1, 1, 10 of 100, 1, 1, 10
    assert t.loc["test items", "share 1"] == 0.5
    assert t.attrs["overlap"] == pytest.approx(0.5)
    assert "less popular" not in tpr.top10_sentence(t) and "mean training frequency of 28.0" in tpr.top10_sentence(t)
    from ufnlib.analysis.report import plain
    t.attrs["seed"] = 1                                         # stored as numbers, the same sentence back
    pair = toy()
    stored = plain(tpr.answer_numbers(tp.overall_frame([pair.comparison], {"toy": pair}), "toy", {}, top10=t))
    assert tpr.top10_sentence(t) in tpr.answer_lines(stored)


def test_the_answer_is_filled_from_the_frames():
    """The words follow the frames: counts per protocol, the disagreement, the lean by popularity."""
    pair = toy()
    ov = tp.overall_frame([pair.comparison], {"toy": pair})
    focus = {"popularity": tp.split_frame(pair, "popularity", np.array([0, 0, 1, 1]), ["1-2", "3-4"]),
             "sasrec_rank": tp.split_frame(pair, "sasrec_rank", *tp.rank_groups(pair.ranks["full"][0]))}
    lines = tpr.answer(ov, "toy", focus, n_items=1001, eval_neg=100)
    assert lines[0].startswith("Over the 1 comparisons computed")
    assert "from the more popular test items" in lines[3]            # group 3-4 gains, 1-2 loses under full
    assert "the band that adds most is 11-100" in lines[4]
    assert "not computed" in lines[5] and "roughly the top 100 of the 1,001 items" in lines[-1]
    from ufnlib.analysis.report import plain
    stored = plain(tpr.answer_numbers(ov, "toy", focus, n_items=1001, eval_neg=100))   # what notebook 10 stores
    assert tpr.answer_lines(stored) == lines
    assert not any(isinstance(v, str) and "Over the" in v for v in stored.values())
    line = tpr.readme_line(ov, "toy", focus)
    assert line.startswith("- **Two protocols (notebook 10).**") and "\n" not in line
    assert isinstance(tpr.overall_display(ov), pd.DataFrame) and len(tpr.split_display(focus["popularity"])) == 2


def test_readme_section_reads_notebook_10s_numbers(tmp_path, monkeypatch):
    """scripts/update_readme.py's two_protocols section: the line ``readme_line_of`` makes of the
    numbers notebook 10 stored (the notebook prints the same), or 'not computed'."""
    import importlib.util
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("update_readme", root / "scripts" / "update_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t = tmp_path / "results" / "paper" / "tables"
    monkeypatch.setattr(mod, "TABLES", t)
    assert mod.two_protocols().startswith("Not computed yet")
    t.mkdir(parents=True)
    pair = toy()
    ov = tp.overall_frame([pair.comparison], {"toy": pair})
    nums = tpr.readme_numbers(ov, "toy", {})
    (t / "10_two_protocols.json").write_text(json.dumps(report.plain({"readme": nums})))
    line = tpr.readme_line(ov, "toy", {})
    assert mod.two_protocols() == line and line.startswith("- **Two protocols (notebook 10).** Over 1 UFN-vs-SASRec")
    text = "a\n<!-- results:two_protocols -->\nold\n<!-- /results:two_protocols -->\nb"
    assert f"\n{line}\n" in mod.render(text)


def test_the_mined_split_says_why_it_is_not_computed():
    """Notebook 10's mined split: the reason names the fixed-budget comparison and its seeds."""
    from types import SimpleNamespace as NS

    from ufnlib.analysis import two_protocols_report as tpr
    fixed = NS(backbone="sasrec", name="SASRec + UFN, beauty, budget 200", seeds=[1],
               config={"log_test_every": 4, "exclude_heldout": False})
    out = NS(backbone="sasrec", name="out", seeds=[1, 2, 3], config={"log_test_every": 4, "exclude_heldout": True})
    default = NS(backbone="sasrec", name="default", seeds=[1, 2, 3], config={"log_test_every": 0})
    said = tpr.mined_missing([default, out, fixed], 3)
    assert "(SASRec + UFN, beauty, budget 200) has seed(s) 1 with both runs of one code generation" in said
    assert said.endswith("the split needs 3")
    assert tpr.mined_missing([default, out], 3) == tpr.MINED_NONE
