"""Negative sampling and evaluation: exclusions, metrics by hand, ties, full-ranking masks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import ufnlib
from ufnlib.data.batches import NegativeSampler, is_member, membership_keys
from ufnlib.data.datasets import leave_one_out, parse
from ufnlib.training.evaluate import Evaluator, metrics_from_ranks, per_user_metric

SMALL = "synthetic:users=60,items=30,clusters=4"   # small catalogue: collisions are frequent


@pytest.fixture(scope="module")
def small_split():
    return leave_one_out(ufnlib.load(SMALL))


def _sets(split, which="train"):
    if which == "train":
        return [set(split.train_seq(u).tolist()) for u in range(split.n_users)]
    return [set(split.seqs.seq(u).tolist()) for u in range(split.n_users)]


# ------------------------------------------------------------------------- negative sampler
def test_membership_keys(small_split):
    sp = small_split
    keys = membership_keys(sp, "train")
    assert (keys[1:] > keys[:-1]).all()                 # sorted, unique
    n1 = sp.n_items + 1
    got = {(int(k) // n1, int(k) % n1) for k in keys}
    want = {(u, i) for u, s in enumerate(_sets(sp)) for i in s}
    assert got == want
    all_keys = membership_keys(sp, "all")
    assert {(int(k) // n1, int(k) % n1) for k in all_keys} == \
        {(u, i) for u, s in enumerate(_sets(sp, "all")) for i in s}
    with pytest.raises(ValueError):
        membership_keys(sp, "valid")


def test_is_member_exhaustive(small_split):
    sp = small_split
    keys = membership_keys(sp, "train")
    uu, ii = np.meshgrid(np.arange(sp.n_users), np.arange(1, sp.n_items + 1), indexing="ij")
    got = is_member(keys, torch.from_numpy(uu.ravel()), torch.from_numpy(ii.ravel()), sp.n_items)
    sets = _sets(sp)
    want = [i in sets[u] for u, i in zip(uu.ravel(), ii.ravel())]
    assert got.tolist() == want


def test_sampler_never_returns_a_train_item(small_split):
    sp = small_split
    sets = _sets(sp)
    # the test is only meaningful if raw uniform draws often hit train items
    assert np.mean([len(s) / sp.n_items for s in sets]) > 0.15
    users = torch.arange(sp.n_users).repeat_interleave(3)
    g = torch.Generator().manual_seed(0)
    out = NegativeSampler(membership_keys(sp, "train"), sp.n_items, g).sample(users, 200)
    assert out.shape == (len(users), 200) and out.dtype == torch.int64
    assert out.min() >= 1 and out.max() <= sp.n_items
    for u, row in zip(users.tolist(), out.tolist()):
        assert not (set(row) & sets[u])
    # and it is not degenerate: every allowed item of a user shows up in 600 draws
    u0 = 0
    allowed = set(range(1, sp.n_items + 1)) - sets[u0]
    assert set(out[users == u0].flatten().tolist()) == allowed


def test_sampler_is_deterministic_for_a_seed(small_split):
    sp = small_split
    keys = membership_keys(sp, "train")
    users = torch.arange(sp.n_users)

    def draw(seed):
        return NegativeSampler(keys, sp.n_items, torch.Generator().manual_seed(seed)).sample(users, 50)
    a, b, c = draw(7), draw(7), draw(8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("which", ["train", "all"])
def test_sampler_kernel_gives_the_same_answers_and_draws(small_split, which):
    """The compiled per-user membership test answers as ``is_member`` for every (user, item) pair,
    users outside the keys included, and the sampler draws the same negatives with and without it."""
    pytest.importorskip("numba")
    sp = small_split
    keys = membership_keys(sp, which)
    s = NegativeSampler(keys, sp.n_items, torch.Generator().manual_seed(0))
    assert s.kernel is not None
    users = torch.arange(sp.n_users + 2).repeat_interleave(2)          # two rows per user, two unknown users
    items = torch.arange(1, sp.n_items + 1).repeat(len(users), 1)
    got, n_bad = s.excluded(users, items)
    want = is_member(keys, users[:, None].expand_as(items), items, sp.n_items)
    assert torch.equal(got, want) and n_bad == int(want.sum()) > 0

    def draw(kernel):
        sampler = NegativeSampler(keys, sp.n_items, torch.Generator().manual_seed(3))
        if not kernel:
            sampler.kernel = None
        return [sampler.sample(users[:sp.n_users * 2], 60) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(draw(True), draw(False)))


def test_sampler_user_with_every_item_raises():
    # user 0 interacted with every item: no negative exists; must fail, not loop forever
    sp = leave_one_out(parse(b"1 1 2 3 4\n2 1 2\n", "s3rec"))
    sampler = NegativeSampler(membership_keys(sp, "all"), sp.n_items, torch.Generator().manual_seed(0))
    assert set(sampler.sample(torch.tensor([1]), 50).flatten().tolist()) == {3, 4}
    with pytest.raises(ufnlib.DataError, match="every item"):
        sampler.sample(torch.tensor([1, 0]), 3)


def test_evaluation_negatives_exclude_every_interaction(small_split):
    sp = small_split
    ev = Evaluator(sp, maxlen=10, eval_neg=40, eval_seed=0)
    assert ev.users.tolist() == np.flatnonzero(sp.test > 0).tolist()
    assert ev.negatives.shape == (len(ev.users), 40)
    assert ev.negatives.min() >= 1 and ev.negatives.max() <= sp.n_items
    sets = _sets(sp, "all")
    for j, u in enumerate(ev.users):
        assert not (set(ev.negatives[j].tolist()) & sets[u])
        assert sp.valid[u] in sets[u] and sp.test[u] in sets[u]
    # fixed by the seed, independent of anything else
    again = Evaluator(sp, maxlen=10, eval_neg=40, eval_seed=0)
    other = Evaluator(sp, maxlen=10, eval_neg=40, eval_seed=1)
    assert torch.equal(ev.negatives, again.negatives)
    assert not torch.equal(ev.negatives, other.negatives)


def test_evaluation_inputs(small_split):
    sp = small_split
    maxlen = 4
    ev = Evaluator(sp, maxlen=maxlen, eval_neg=5)
    for j, u in enumerate(ev.users):
        tr = sp.train_seq(u).tolist()
        v = ev.inputs["valid"][j].tolist()
        t = ev.inputs["test"][j].tolist()
        want_v = tr[-maxlen:]
        want_t = (tr + [int(sp.valid[u])])[-maxlen:]
        assert v == [0] * (maxlen - len(want_v)) + want_v
        assert t == [0] * (maxlen - len(want_t)) + want_t
        assert ev.targets["valid"][j] == sp.valid[u] and ev.targets["test"][j] == sp.test[u]


# -------------------------------------------------------------------------------- metrics
def test_metrics_from_ranks_by_hand():
    m = metrics_from_ranks(np.array([0, 1, 4, 9, 10]))
    n = 5
    assert m["hr@1"] == pytest.approx(1 / n)
    assert m["hr@5"] == pytest.approx(3 / n)
    assert m["hr@10"] == pytest.approx(4 / n)
    assert m["ndcg@1"] == pytest.approx(1.0 / n)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / n)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(11)) / n)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 10 + 1 / 11) / n)
    assert set(m) == {"hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", "mrr"}


def test_metric_edges():
    assert metrics_from_ranks(np.zeros(3, int)) == {k: 1.0 for k in metrics_from_ranks([0])}
    far = metrics_from_ranks(np.array([100]))
    assert all(v == 0.0 for k, v in far.items() if k != "mrr") and far["mrr"] == pytest.approx(1 / 101)


@pytest.mark.parametrize("metric", ["hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", "mrr"])
def test_per_user_metric_averages_to_metric(metric):
    r = np.array([0, 1, 4, 9, 10, 3, 57])
    assert per_user_metric(r, metric).mean() == pytest.approx(metrics_from_ranks(r)[metric])


# ------------------------------------------------------------------------ ranks and ties
class StubModel(nn.Module):
    """A model without parameters whose scores are a fixed function of the item id."""

    def __init__(self, n_items, item_score):
        super().__init__()
        self.n_items, self.item_score = n_items, item_score   # item_score: ids tensor -> scores
        self.seen_inputs = []

    def final(self, seq, users=None):
        self.seen_inputs.append(seq.clone())
        return torch.zeros(len(seq), 1)

    def score(self, h, items, users=None):
        return self.item_score(items).to(torch.float32)

    def score_all(self, h, users=None):
        return self.score(h, torch.arange(1, self.n_items + 1).expand(len(h), -1))


def _history(split, u, which):
    h = set(split.train_seq(u).tolist())
    if which == "test":
        h.add(int(split.valid[u]))
    h.discard(int(split.test[u] if which == "test" else split.valid[u]))
    return h


@pytest.mark.parametrize("which", ["valid", "test"])
def test_ties_never_favour_the_target(small_split, which):
    sp = small_split
    ev = Evaluator(sp, maxlen=10, eval_neg=20, batch_size=7)
    model = StubModel(sp.n_items, lambda items: torch.zeros(items.shape))
    r = ev.ranks(model, which)
    assert (r["sampled"] == 20).all()                      # all 20 negatives tie -> last
    for j, u in enumerate(ev.users):
        assert r["full"][j] == sp.n_items - len(_history(sp, u, which)) - 1


@pytest.mark.parametrize("which", ["valid", "test"])
def test_ranks_match_brute_force(small_split, which):
    """Scores = a fixed random permutation value per item (with deliberate ties); ranks in small,
    length-sorted batches must equal a per-user computation from the definition."""
    sp = small_split
    gen = torch.Generator().manual_seed(3)
    table = torch.randint(0, 8, (sp.n_items + 1,), generator=gen).float()   # many ties
    model = StubModel(sp.n_items, lambda items: table[items])
    ev = Evaluator(sp, maxlen=6, eval_neg=15, batch_size=4)
    r = ev.ranks(model, which)
    tab = table.tolist()
    for j, u in enumerate(ev.users):
        tgt = int(sp.test[u] if which == "test" else sp.valid[u])
        negs = ev.negatives[j].tolist()
        assert r["sampled"][j] == sum(tab[i] >= tab[tgt] for i in negs)
        hist = _history(sp, u, which)
        cands = [i for i in range(1, sp.n_items + 1) if i not in hist and i != tgt]
        assert r["full"][j] == sum(tab[i] >= tab[tgt] for i in cands)


def test_full_ranking_excludes_history_but_keeps_target():
    # item 12 in the catalogue; scores = -id, so low ids score high
    sp = leave_one_out(parse(b"1 1 2 3 4 12\n2 4 7 1 7\n3 9 10 11 12\n", "s3rec"))
    model = StubModel(12, lambda items: -items)
    ev = Evaluator(sp, maxlen=5, eval_neg=3, batch_size=2)
    v, t = ev.ranks(model, "valid"), ev.ranks(model, "test")
    # user 0: valid 4, history {1,2,3} removed -> rank 0 (3 if the history were kept)
    #         test 12, history {1,2,3,4} removed -> beaten by 5..11 = 7
    # user 1: train [4, 7], valid 1 -> rank 0; test 7 is also a train item: it stays a
    #         candidate; history {4, 1} removed -> beaten by 2, 3, 5, 6 = 4
    # user 2: train [9, 10], valid 11 -> beaten by 1..8 = 8; test 12 -> 1..8 = 8
    assert v["full"].tolist() == [0, 0, 8]
    assert t["full"].tolist() == [7, 4, 8]


def test_ranks_restore_training_mode_and_trim(small_split):
    sp = small_split
    model = StubModel(sp.n_items, lambda items: torch.zeros(items.shape))
    model.train()
    ev = Evaluator(sp, maxlen=50, eval_neg=5, batch_size=8)
    ev.ranks(model, "test", modes=("sampled",))
    assert model.training
    for seq in model.seen_inputs:                       # each batch trimmed to its longest row
        assert seq.shape[1] == max(int((seq > 0).sum(1).max()), 1)
        assert (seq[:, 0] > 0).any()


def test_evaluate_returns_metrics_of_ranks(small_split):
    sp = small_split
    ev = Evaluator(sp, maxlen=10, eval_neg=20)
    model = StubModel(sp.n_items, lambda items: items.float().sin())
    m, r = ev.evaluate(model, "test")
    assert set(m) == {"sampled", "full"}
    for mode in m:
        assert m[mode] == metrics_from_ranks(r[mode])
    assert (r["full"] >= 0).all() and (r["full"] < sp.n_items).all()
