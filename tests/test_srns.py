"""SRNS variance rule as a false-negative detector (Table 4): vectorised memory against the plain
oracle, exact toy answers, bounded memory, the four strategies end to end, resume."""
import random

import numpy as np
import pytest
import torch

from ufnlib.negatives.fmr import FMRMemory
from ufnlib.negatives.oracle import PlainFMR, PlainSRNS
from ufnlib.negatives.srns import SRNSMemory, gumbel, variance_rule

SMALL = dict(dataset="synthetic:users=80,items=60", warmup="fixed", warmup_epochs=1, m=1, hidden=16,
             n_neg=10, max_epochs=4)
NEW = ["srns_removal", "srns_rec_removal", "ufn_srns", "ufn_srns_rec"]
BACKENDS = ["torch", "numba"]


def _f32(rows):
    return torch.tensor(rows, dtype=torch.float32).tolist()


class ToyScores:
    """Logits for (interaction, item): per pair a fixed level and noise scale -- stable high pairs
    (false-negative like), hard volatile pairs, easy pairs -- plus a jittered positive near 0."""

    def __init__(self, rng, n_inter, n_items):
        self.rng = rng
        self.kind = {(i, v): rng.choice("FHHEE") for i in range(n_inter) for v in range(1, n_items + 1)}

    def row(self, i, negs):
        r = self.rng
        out = [r.gauss(0.0, 0.05)]
        for v in negs:
            k = self.kind[(i, v)]
            out.append(r.gauss(2.0, 0.05) if k == "F" else r.gauss(0.3, 1.0) if k == "H" else r.gauss(-2.0, 0.5))
        return out


def _batch(rng, n_inter, P, n, n_items, dup_rate):
    inter = [rng.randrange(n_inter) for _ in range(P)]
    for p in range(1, P):
        if rng.random() < dup_rate:
            inter[p] = inter[rng.randrange(p)]
    negs = [[rng.randrange(1, n_items + 1) for _ in range(n)] for _ in range(P)]
    return inter, negs


def _state(vec: SRNSMemory, n_inter):
    tracked = {}
    for i in range(n_inter):
        row = []
        for k in range(vec.S1):
            item = int(vec.items[i, k])
            if item:
                row.append((item, vec.history(i, k), min(int(vec.obs[i, k]), vec.T)))
        tracked[i] = row
    fn = {i: sorted(int(x) for x in vec.fn_items[i].tolist() if x) for i in range(n_inter)}
    return tracked, fn


def _oracle_state(ora: PlainSRNS, n_inter):
    tracked = {i: [(e[0], e[1], min(e[2], ora.T)) for e in ora.tracked.get(i, [])] for i in range(n_inter)}
    fn = {i: sorted(ora.n_false.get(i, [])) for i in range(n_inter)}
    return tracked, fn


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["tracked", "nrec"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_srns_equals_oracle(where, seed, backend):
    """Several epochs of toy batches (interactions repeated within a batch, items repeated within
    a row): same negatives, same flags, same tracked sets and score histories, same N_false.
    (A flagged entry is labelled 1 here and excluded: reversal and removal act alike on the
    memory, since either way the entry is not re-recorded.)"""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    n_inter, n, n_items, s1, T, alpha, tau = 10, 7, 12, 3, 3, 2.0, 0.7
    vec, ora = SRNSMemory(n_inter, s1, T, alpha, backend=backend), PlainSRNS(s1, T, alpha)
    fmr_v, fmr_o = FMRMemory(n_inter, n, n_items, m=1, slots=n_items), PlainFMR(m=1)
    toy = ToyScores(rng, n_inter, n_items)
    seen = dict(flags=0, full_unflagged=0, member=0, kept=0)
    for _ in range(8):                       # epochs
        for _ in range(4):                   # steps
            inter, negs = _batch(rng, n_inter, 9, n, n_items, dup_rate=0.25)
            it = torch.tensor(inter)
            if where == "tracked":
                v_negs, v_fed = vec.inject(it, torch.tensor(negs))
                o_negs, o_fed = ora.inject(inter, negs)
            else:
                v_negs, v_fed, _ = fmr_v.inject(it, torch.tensor(negs))
                o_negs, o_fed, _ = fmr_o.inject(inter, negs)
            assert v_negs.tolist() == o_negs and v_fed.tolist() == o_fed
            logits = _f32([toy.row(i, row) for i, row in zip(inter, o_negs)])
            lt = torch.tensor(logits)
            fn_before = {i: list(ora.n_false.get(i, [])) for i in range(n_inter)}
            v_flags = vec.observe(it, v_negs, lt, v_fed)
            o_flags = ora.observe(inter, o_negs, logits, o_fed)
            assert v_flags.tolist() == o_flags
            seen["flags"] += sum(map(sum, o_flags))
            seen["member"] += sum(o_fed[p][c] and o_negs[p][c] in fn_before[i]
                                  for p, i in enumerate(inter) for c in range(n))
            labels = [[1.0] + [1.0 if f else 0.0 for f in row] for row in o_flags]
            excl = [list(row) for row in o_flags]
            if where == "tracked":
                pool = [[not (o_flags[p][c] or labels[p][c + 1] == 1) for c in range(n)] for p in range(len(inter))]
                v_pool = torch.tensor(pool)
            else:
                cands = [[0] + row for row in o_negs]
                v_pool = fmr_v.record(it, torch.tensor(cands), lt, torch.tensor(labels), exclude=v_flags)
                fmr_o.record(inter, cands, logits, labels, exclude=excl)
                pool = [[logits[p][c + 1] > logits[p][0] and labels[p][c + 1] != 1 and not excl[p][c]
                         for c in range(n)] for p in range(len(inter))]
                assert v_pool.tolist() == pool
            noise = gumbel((len(inter), n), gen)
            v_sel = vec.refresh(it, v_negs, lt, v_pool, noise, tau)
            o_sel = ora.refresh(inter, o_negs, logits, pool, noise.tolist(), tau)
            assert v_sel.tolist() == o_sel
            seen["kept"] += vec.kept
            v_state, o_state = _state(vec, n_inter), _oracle_state(ora, n_inter)
            assert v_state == o_state
            for row in v_state[0].values():
                seen["full_unflagged"] += sum(full == T and not ora.is_false_negative(h) for _, h, full in row)
            assert vec.evictions == ora.evictions
    # the toy reached every branch: rule hits, N_false re-entries, full histories left alone, kept
    assert seen["flags"] > 0 and seen["full_unflagged"] > 0 and seen["kept"] > 0
    if where == "tracked":
        assert seen["member"] > 0


@pytest.mark.parametrize("where", ["tracked", "nrec"])
def test_compiled_and_tensor_memories_agree_at_scale(where):
    """Many interactions, S1 = 8, T = 3, n = 40 with repeated interactions and items: both
    backends give the same negatives, flags, selections and every memory tensor, step by step,
    with N_false evictions (F = S1) and kept candidates along the way."""
    g = torch.Generator().manual_seed(7)
    n_inter, n, n_items, s1, T, alpha, tau, P = 300, 40, 60, 8, 3, 1.0, 0.5, 256
    mems = [SRNSMemory(n_inter, s1, T, alpha, backend=b) for b in BACKENDS]
    fmrs = [FMRMemory(n_inter, n, n_items, m=1, backend=b) for b in BACKENDS]
    level = torch.randn(n_inter, n_items + 1, generator=g) * 2      # stable per-pair scores
    for step in range(40):
        inter = torch.randint(0, n_inter, (P,), generator=g)
        inter[P // 2:P // 2 + 30] = inter[:30]                     # repeated visits in a batch
        negs = torch.randint(1, n_items + 1, (P, n), generator=g)
        noise = gumbel((P, n), g)
        jitter = torch.randn(P, 1 + n, generator=g) * 0.05
        outs = []
        for mem, fmr in zip(mems, fmrs):
            if where == "tracked":
                ng, fed = mem.inject(inter, negs)
            else:
                ng, fed, _ = fmr.inject(inter, negs)
            lg = torch.cat([torch.zeros(P, 1), level[inter[:, None], ng]], 1) + jitter
            flags = mem.observe(inter, ng, lg, fed)
            labels = torch.cat([torch.ones(P, 1), flags.float()], 1)
            if where == "tracked":
                pool = ~flags
            else:
                pool = fmr.record(inter, torch.cat([torch.zeros(P, 1, dtype=ng.dtype), ng], 1), lg,
                                  labels, exclude=flags)
            sel = mem.refresh(inter, ng, lg, pool, noise, tau)
            outs.append((ng, fed, flags, pool, sel))
        for a, b in zip(*outs):
            assert torch.equal(a, b)
        for k, t in mems[0].tensors().items():
            assert torch.equal(t, mems[1].tensors()[k]), k
        assert (mems[0].evictions, mems[0].offered, mems[0].kept) == \
               (mems[1].evictions, mems[1].offered, mems[1].kept)
    assert mems[0].evictions > 0 and mems[0].kept > 0 and mems[0].n_false() > 0


def test_variance_rule_exact():
    """mean - alpha * std > 1/2 (population std), alpha = 5."""
    h = torch.tensor([[0.9] * 5,                        # stable, high: flagged
                      [0.6] * 5,                        # stable, above 1/2: flagged
                      [0.5] * 5,                        # exactly 1/2: not (strict)
                      [0.9, 0.5, 0.9, 0.5, 0.9],         # mean 0.74, std 0.196: volatile, not
                      [0.95, 0.9, 0.95, 0.9, 0.95],      # mean 0.93, std 0.0245: 0.808 > 0.5
                      [0.4] * 5])                       # below the positive
    assert variance_rule(h, 5.0).tolist() == [True, True, False, False, True, False]
    ora = PlainSRNS(s1=1, T=5, alpha=5.0)
    assert [ora.is_false_negative(r) for r in h.tolist()] == [True, True, False, False, True, False]
    assert not ora.is_false_negative([0.9] * 4)         # history not full


@pytest.mark.parametrize("backend", BACKENDS)
def test_tracked_candidates_scored_each_visit_and_refreshed_by_score(backend):
    """One interaction, S1 = 2, T = 3: the tracked candidates fill the first slots; each visit
    appends sigmoid(l_neg - l_pos) to their history (last T kept); with zero noise the refresh
    keeps the two largest logits, and a kept candidate keeps its history."""
    mem = SRNSMemory(n_inter=1, s1=2, T=3, alpha=100.0, backend=backend)         # alpha large: nothing is flagged
    it = torch.tensor([0])
    negs = torch.tensor([[7, 8, 9, 10]])
    _, fed = mem.inject(it, negs)
    assert not fed.any()                                         # empty memory feeds nothing
    lg = torch.tensor([[0.0, 1.0, -1.0, 3.0, 2.0]])
    sel = mem.refresh(it, negs, lg, torch.ones(1, 4, dtype=torch.bool), torch.zeros(1, 4, dtype=torch.float64), 1.0)
    assert sel.tolist() == [[False, False, True, True]] and mem.items[0].tolist() == [9, 10]
    want = []
    for step, d in enumerate([0.0, 1.0, -1.0, 2.0]):
        fresh = torch.tensor([[1, 2, 3, 4]])
        negs, fed = mem.inject(it, fresh)
        assert negs.tolist() == [[9, 10, 3, 4]] and fed.tolist() == [[True, True, False, False]]
        lg = torch.tensor([[d, 5.0, 4.0, -3.0, -3.0]])
        assert not mem.observe(it, negs, lg, fed).any()
        want.append(torch.sigmoid(torch.tensor(5.0 - d, dtype=torch.float64)).float().item())
        mem.refresh(it, negs, lg, torch.ones(1, 4, dtype=torch.bool), torch.zeros(1, 4, dtype=torch.float64), 1.0)
        assert mem.items[0].tolist() == [9, 10]
        assert mem.history(0, 0) == want[-3:]
    assert int(mem.obs[0, 0]) >= 3 and int(mem.obs[0, 0]) < 6    # ring counter stays bounded


@pytest.mark.parametrize("backend", BACKENDS)
def test_flagged_candidate_leaves_tracking_and_is_flagged_again_on_return(backend):
    mem = SRNSMemory(n_inter=1, s1=2, T=2, alpha=5.0, backend=backend)
    it = torch.tensor([0])
    allow = torch.ones(1, 3, dtype=torch.bool)
    zero = torch.zeros(1, 3, dtype=torch.float64)
    mem.refresh(it, torch.tensor([[5, 6, 1]]), torch.tensor([[0.0, 4.0, 3.0, -9.0]]), allow, zero, 1.0)
    assert mem.items[0].tolist() == [5, 6]
    flags = None
    for _ in range(2):                                       # item 5 stable at p ~ 0.98, item 6 volatile
        negs, fed = mem.inject(it, torch.tensor([[1, 2, 3]]))
        lg = torch.tensor([[0.0, 4.0, 3.0 if flags is None else -3.0, -9.0]])
        flags = mem.observe(it, negs, lg, fed)
        mem.refresh(it, negs, lg, ~flags, zero, 1.0)
    assert flags.tolist() == [[True, False, False]]
    assert mem.false_negatives()[1].tolist() == [5]
    assert 5 not in mem.items[0].tolist()                    # flagged: not tracked any more
    # item 5 comes back as a fresh candidate, is tracked again, and is flagged at its next feed
    mem.refresh(it, torch.tensor([[5, 2, 3]]), torch.tensor([[0.0, 9.0, -9.0, -9.0]]), allow, zero, 1.0)
    negs, fed = mem.inject(it, torch.tensor([[1, 2, 3]]))
    c = negs[0].tolist().index(5)
    flags = mem.observe(it, negs, torch.zeros(1, 4), fed)
    assert flags[0, c] and int(flags.sum()) == 1


def test_needs_fresh_candidates():
    from ufnlib import Config, ConfigError, load_split
    from ufnlib.training.train import Trainer
    cfg = Config(strategy="srns_removal", **{**SMALL, "n_neg": 8})
    with pytest.raises(ConfigError, match="n_neg"):
        Trainer(cfg, load_split(cfg.dataset), progress=False)


@pytest.mark.parametrize("strategy", NEW)
def test_strategies_run_and_record_diagnostics(strategy, tmp_path):
    import ufnlib
    rec = ufnlib.run(ufnlib.Config(strategy=strategy, **SMALL), root=tmp_path, progress=False)
    assert rec["warmup_end_epoch"] == 1
    h = rec["history"]
    assert "mined" not in h[0]                               # warm-up epoch: uniform
    for key in ("mined", "refed", "mined_precision", "random_precision", "mined_later_share",
                "nfalse_entries", "memory_mb", "srns_full", "srns_kept_share", "srns_tracked_mean"):
        assert key in h[-1], key
    assert h[-1]["refed"] > 0
    # T = 5 visits cannot fill in 3 mining epochs; with T = 2 the rule fires
    assert h[-1]["mined"] == 0 and h[-1]["srns_full"] == 0
    rec2 = ufnlib.run(ufnlib.Config(strategy=strategy, srns_t=2, **SMALL), root=tmp_path, progress=False)
    last = rec2["history"][-1]
    assert last["mined"] > 0 and last["mined_precision"] is not None and last["nfalse_pairs"] > 0
    uses_teacher = strategy.startswith("ufn")
    assert ("valid_student" in last) == uses_teacher


@pytest.mark.parametrize("strategy", ["srns_removal", "ufn_srns_rec"])
def test_interrupted_srns_run_resumes_identically(strategy, tmp_path):
    import ufnlib
    from ufnlib.experiments.store import load_ranks
    cfg = ufnlib.Config(strategy=strategy, srns_t=2, patience=10, **{**SMALL, "max_epochs": 5})
    assert ufnlib.run(cfg, root=tmp_path / "a", progress=False, stop_after_epochs=4) is None
    resumed = ufnlib.run(cfg, root=tmp_path / "a", progress=False)
    full = ufnlib.run(cfg, root=tmp_path / "b", progress=False)
    assert resumed["resumed_from_epoch"] == 4
    strip = lambda hs: [{k: v for k, v in h.items() if k not in ("train_seconds", "eval_seconds")} for h in hs]
    assert strip(resumed["history"]) == strip(full["history"])
    assert resumed["metrics"] == full["metrics"]
    a, b = load_ranks(cfg, tmp_path / "a"), load_ranks(cfg, tmp_path / "b")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert full["history"][3]["mined"] > 0                   # flags before the interruption
