"""Figure 5's claims with a margin (ufnlib.analysis.case_claims): the clustered interval reduces
to the textbook one when every user has one pair, widens when a user's pairs move together, the
paired interval is scipy's, and each claim's word follows where its interval lies."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ufnlib.analysis import case_claims as cc


def test_clustered_difference_with_one_pair_per_user_is_the_two_sample_interval():
    rng = np.random.default_rng(0)
    a, b = rng.random(4000) < 0.3, rng.random(3000) < 0.2
    ua, ub = np.arange(4000), np.arange(4000, 7000)           # disjoint users, one pair each
    c = cc.clustered_difference(ua, a, ub, b)
    g = 7000
    se = np.sqrt(g / (g - 1) * (a.mean() * (1 - a.mean()) / len(a) + b.mean() * (1 - b.mean()) / len(b)))
    assert c["diff"] == pytest.approx(a.mean() - b.mean())
    assert c["high"] - c["diff"] == pytest.approx(stats.norm.ppf(0.975) * se)
    assert c["users"] == g


def test_clustering_widens_the_interval_when_a_users_pairs_agree():
    rng = np.random.default_rng(1)
    per_user = rng.random(500) < 0.4
    users = np.repeat(np.arange(500), 10)                   # ten identical pairs per user
    flags = np.repeat(per_user, 10)
    clustered = cc.clustered_difference(users, flags)
    naive = cc.clustered_difference(np.arange(len(flags)), flags)     # as if every pair were its own user
    width = lambda c: c["high"] - c["low"]
    assert clustered["a"] == pytest.approx(per_user.mean())
    assert width(clustered) / width(naive) == pytest.approx(np.sqrt(10), rel=0.01)


def test_paired_difference_is_scipys_paired_t_interval_and_skips_undefined_users():
    rng = np.random.default_rng(2)
    x, y = rng.random(200), rng.random(200)
    x[:5] = np.nan
    c = cc.paired_difference(x, y)
    ci = stats.ttest_rel(x[5:], y[5:]).confidence_interval()
    assert (c["low"], c["high"]) == pytest.approx((ci.low, ci.high))
    assert c["users"] == 195


def _flags(n, p_mined, p_random, seed=0, p_any=(0.9, 0.9)):
    """(users, dominant, any_attribute, later) per set: ``p_mined`` and ``p_random`` are the
    dominant-category shares, ``p_any`` the any-attribute shares (mined, random)."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n), 3)
    flag = lambda p: rng.random(len(users)) < p
    mined = (flag(p_mined).astype(float), flag(p_any[0]), flag(0.01))
    rand = (flag(p_random).astype(float), flag(p_any[1]), flag(0.01))
    return {"mined": (users, *mined), "random": (users, *rand)}


def _per_user(n, share_ufn, share_sas, seed=0):
    rng = np.random.default_rng(seed)
    return {"UFNRec": (rng.random(n) < share_ufn, rng.random(n) < 0.1),
            "SASRec": (rng.random(n) < share_sas, rng.random(n) < 0.1)}


def test_claims_words_follow_the_intervals():
    words = [c.ours for c in cc.claims(_flags(3000, 0.8, 0.6), _per_user(3000, 0.6, 0.4))]
    assert words[0] == "holds" and words[2] == "holds"                   # clear gaps, above one half
    assert words[1] == "not shown" and words[3] == "not shown"           # equal rates: no side
    words = [c.ours for c in cc.claims(_flags(3000, 0.45, 0.3), _per_user(3000, 0.4, 0.6))]
    assert words[0] == "contradicted"      # above random, but the mined share lies below one half
    assert words[2] == "contradicted"      # UFN's share decided below SASRec's
    assert all(c.ours == "not computed" for c in cc.claims(None, None))
    assert all("one training seed" in c.detail for c in cc.claims(_flags(300, 0.8, 0.6), _per_user(300, 0.6, 0.4)))


def test_a_tiny_gap_is_not_shown_even_when_the_point_estimates_differ():
    pu = _per_user(400, 0.50, 0.49, seed=3)
    c = cc.claims(None, pu)[2]
    assert c.ours == "not shown", c.detail


def test_the_premise_quotes_the_trainers_own_counters_when_given():
    t = {"epoch": 200, "mined_later_share": 0.0009354, "random_later_share": 0.000166}
    premise = cc.claims(_flags(300, 0.8, 0.6), _per_user(300, 0.6, 0.4), t)[1]
    assert "during training (epoch 200, last mining epoch) mined 0.094%, random 0.017%" in premise.detail
    bare = cc.claims(_flags(300, 0.8, 0.6), _per_user(300, 0.6, 0.4))[1]
    assert "during training" not in bare.detail and bare.ours == premise.ours


def test_main_interest_needs_a_dominant_share_above_random_and_one_half():
    words = [cc.claims(_flags(3000, pm, pr), None)[0].ours for pm, pr in ((0.8, 0.6), (0.45, 0.3), (0.7, 0.7))]
    assert words == ["holds", "contradicted", "not shown"]
    assert cc.claims(_flags(3000, 0.7, 0.8), None)[0].ours == "contradicted"     # above half, below random


def test_pairs_of_users_without_a_dominant_category_are_left_out():
    f = _flags(3000, 0.8, 0.6)
    users, dom, *rest = f["mined"]
    dom = dom.copy()
    dom[users < 100] = np.nan
    assert cc.claims({"mined": (users, dom, *rest), "random": f["random"]}, None)[0].ours == "holds"
    none = {k: (v[0], np.full(len(v[0]), np.nan), *v[2:]) for k, v in f.items()}
    assert cc.claims(none, None)[0].ours == "not computed"


def test_any_attribute_yes_but_dominant_category_below_half_does_not_hold():
    """The reviewer's case, from categories to the word: every mined item shares an attribute (a
    brand) with the history, far more often than random negatives, but only 30% carry the user's
    dominant category: the any-attribute rule would say 'holds', the claim must not."""
    from types import SimpleNamespace

    from ufnlib.analysis.casestudy import dominant_category, pair_flags

    n = 400
    cats = {1: ["Skin Care", "BrandX"], 2: ["Skin Care", "BrandY"], 3: ["Makeup", "BrandX"],   # history
            4: ["Skin Care", "BrandZ"],      # dominant category, no shared brand
            5: ["Hair Care", "BrandX"],      # only the brand in common
            6: ["Fragrance", "BrandW"]}      # nothing in common
    split = SimpleNamespace(train_seq=lambda u: np.array([1, 2, 3]),
                            valid=np.full(n, 7), test=np.full(n, 8))
    assert dominant_category(split, cats, 0) == "Skin Care"
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n), 10)
    mined_items = np.where(rng.random(len(users)) < 0.3, 4, 5)
    random_items = np.where(rng.random(len(users)) < 0.1, 4, 6)
    mined = pair_flags(split, cats, users, mined_items)
    rand = pair_flags(split, cats, users, random_items)
    flags = {"mined": (users, *mined), "random": (users, *rand)}
    dom, any_attr = mined[0], mined[1]
    # item 4 shares 'Skin Care' with the history too, so the any-attribute rule is yes for every mined pair
    assert any_attr.all() and any_attr.mean() > 0.5 + 0.3 and rand[1].mean() < 0.2
    old = [cc.clustered_difference(users, any_attr, users, rand[1]), cc.clustered_difference(users, any_attr)]
    assert cc.side(old[0]) == "holds" and cc.side(old[1], 0.5) == "holds"       # the old rule: holds
    assert 0.25 < np.mean(dom) < 0.35
    c = cc.claims(flags, None)[0]
    assert c.ours != "holds" and c.ours == "contradicted", c.detail
    assert "dominant history category" in c.test and "secondary, not deciding" in c.detail
