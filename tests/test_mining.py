"""FMR memory (vectorised) against the plain oracle, the warm-up rule, the EMA teacher."""
import random

import pytest
import torch

from ufnlib.negatives.fmr import FMRMemory
from ufnlib.negatives.oracle import PlainFMR


def _random_batch(rng, n_inter, P, n, n_items, dup_rate):
    """Positions (interaction ids) with deliberate repeats, random negatives with repeats."""
    inter = [rng.randrange(n_inter) for _ in range(P)]
    for p in range(1, P):
        if rng.random() < dup_rate:
            inter[p] = inter[rng.randrange(p)]          # an interaction seen twice in a batch
    negs = [[rng.randrange(1, n_items + 1) for _ in range(n)] for _ in range(P)]
    pos = [rng.randrange(1, n_items + 1) for _ in range(P)]
    return inter, negs, pos


def _labels(mode, refed, counts, m):
    """The caller's rule: reversal (label 1) for re-fed entries with count > m."""
    P, n = len(refed), len(refed[0])
    labels = [[1] + [0] * n for _ in range(P)]
    excl = [[False] * n for _ in range(P)]
    for p in range(P):
        for s in range(n):
            if refed[p][s] and counts[p][s] > m:
                if mode == "reverse":
                    labels[p][s + 1] = 1
                else:
                    excl[p][s] = True
    return labels, excl


BACKENDS = ["torch", "numba"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("count_mode", ["cumulative", "consecutive"])
@pytest.mark.parametrize("mode", ["reverse", "remove"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_memory_equals_oracle(count_mode, mode, seed, backend):
    rng = random.Random(seed)
    n_inter, n, n_items, m = 12, 6, 9, 1        # tiny catalogue: many repeats and re-recordings
    epochs, steps, P = 6, 4, 10
    vec = FMRMemory(n_inter, n, n_items, m, slots=n_items, count_mode=count_mode, backend=backend)
    ora = PlainFMR(m, count_mode)
    n_reversed = 0
    for _ in range(epochs):
        for _ in range(steps):
            inter, negs, pos = _random_batch(rng, n_inter, P, n, n_items, dup_rate=0.2)
            it = torch.tensor(inter)
            v_negs, v_ref, v_cnt = vec.inject(it, torch.tensor(negs))
            o_negs, o_ref, o_cnt = ora.inject(inter, negs)
            assert v_negs.tolist() == o_negs
            assert v_ref.tolist() == o_ref
            assert v_cnt.tolist() == o_cnt
            labels, excl = _labels(mode, o_ref, o_cnt, m)
            n_reversed += sum(map(sum, excl)) + sum(sum(r[1:]) for r in labels)
            cands = [[pos[p]] + o_negs[p] for p in range(P)]
            logits = [[rng.choice([-1.0, 0.0, 0.5, 1.0]) for _ in range(n + 1)] for _ in range(P)]
            ex = excl if mode == "remove" else None
            vec.record(it, torch.tensor(cands), torch.tensor(logits), torch.tensor(labels, dtype=torch.float32),
                       exclude=torch.tensor(ex) if ex else None)
            ora.record(inter, cands, logits, labels, exclude=ex)
            # N_rec identical for every interaction
            for i in range(n_inter):
                L = int(vec.rec_len[i])
                assert vec.rec_items[i, :L].tolist() == ora.n_rec.get(i, [])
            # counters identical (as a multiset of (interaction, item) -> count > 0)
            vc = {(i, int(vec.hist_items[i, k])): int(vec.hist_count[i, k])
                  for i in range(n_inter) for k in range(vec.K)
                  if int(vec.hist_items[i, k]) != 0 and int(vec.hist_count[i, k]) > 0}
            oc = {k: c for k, c in ora.count.items() if c > 0}
            assert vc == oc
    assert vec.evictions == 0
    assert n_reversed > 0, "the toy never reached the reversal rule: the test would be vacuous"


def test_reversed_item_is_not_rerecorded():
    """A reversed entry has label 1, so it is not recorded again even if it outscores the positive."""
    mem = FMRMemory(n_inter=1, n_neg=3, n_items=10, m=0)
    it = torch.tensor([0])
    cands = torch.tensor([[1, 5, 6, 7]])
    logits = torch.tensor([[0.0, 1.0, 1.0, -1.0]])
    mem.record(it, cands, logits, torch.tensor([[1.0, 0, 0, 0]]))
    assert mem.rec_items[0, :mem.rec_len[0]].tolist() == [5, 6]
    negs, refed, counts = mem.inject(it, torch.tensor([[9, 9, 9]]))
    assert negs.tolist() == [[5, 6, 9]] and counts.tolist() == [[1, 1, 0]]
    labels = torch.tensor([[1.0, 1.0, 1.0, 0.0]])       # m = 0: both re-fed entries reversed
    mem.record(it, torch.cat([torch.tensor([[1]]), negs], 1), torch.tensor([[0.0, 2.0, 2.0, 2.0]]), labels)
    assert mem.rec_items[0, :mem.rec_len[0]].tolist() == [9]


@pytest.mark.parametrize("count_mode", ["cumulative", "consecutive"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n, slots", [(8, 10), (3, 24)])
def test_cpu_kernels_equal_tensor_implementation_with_evictions(count_mode, seed, n, slots):
    """The numba loops and the batched tensor code leave identical memories (every tensor, slot
    by slot) and return identical negatives, flags and counters, also when the bounded history
    evicts (few slots, many distinct items) and interactions repeat within a batch. With many
    slots and short N_rec the kernel picks the few slots to evict by repeated minimum, with few
    slots by a sort: both are covered."""
    g = torch.Generator().manual_seed(seed)
    n_inter, n_items, m, P = 30, 40 if slots == 10 else 400, 2, 40
    mems = [FMRMemory(n_inter, n, n_items, m, slots=slots, count_mode=count_mode, backend=b)
            for b in BACKENDS]
    n_mined = 0
    for _ in range(60):
        inter = torch.randint(n_inter, (P,), generator=g)
        negs = torch.randint(1, n_items + 1, (P, n), generator=g)
        pos = torch.randint(1, n_items + 1, (P, 1), generator=g)
        logits = torch.randn(P, n + 1, generator=g)
        out = [mem.inject(inter, negs) for mem in mems]
        for a, b in zip(out[0], out[1]):
            assert torch.equal(a, b)
        v_negs, refed, counts = out[0]
        labels = torch.zeros(P, n + 1)
        labels[:, 0] = 1
        labels[:, 1:][refed & (counts > m)] = 1
        n_mined += int((refed & (counts > m)).sum())
        cands = torch.cat([pos, v_negs], 1)
        recs = [mem.record(inter, cands, logits, labels) for mem in mems]
        assert torch.equal(recs[0], recs[1])
        for k, t in mems[0].tensors().items():
            assert torch.equal(t, mems[1].tensors()[k]), k
        assert mems[0].evictions == mems[1].evictions
    if count_mode == "cumulative":   # (consecutive counters never outnumber N_rec <= n <= slots)
        assert mems[0].evictions > 0, "no eviction happened: the test would not cover the bound"
    assert n_mined > 0, "nothing was mined: the reversal path would be untested"


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_is_bounded_and_evicts_oldest_unreversed(backend):
    mem = FMRMemory(n_inter=1, n_neg=2, n_items=100, m=5, slots=2, backend=backend)
    it = torch.tensor([0])
    before = mem.nbytes()
    for k in range(10):                         # each step records two new items
        a, b = 2 * k + 1, 2 * k + 2
        mem.record(it, torch.tensor([[99, a, b]]), torch.tensor([[0.0, 1.0, 1.0]]), torch.tensor([[1.0, 0, 0]]))
        mem.inject(it, torch.zeros(1, 2, dtype=torch.long))
    assert mem.nbytes() == before
    assert sorted(mem.hist_items[0].tolist()) == [19, 20]   # the two most recent
    assert mem.evictions == 18


@pytest.mark.parametrize("strategy", ["ufn", "srns_removal", "ufn_srns_rec"])
def test_memory_does_not_grow_across_epochs(strategy):
    """Bytes held by the memory tensors (FMR's, SRNS's) are fixed at construction (no
    per-element containers), while the memory is in use."""
    from ufnlib import Config, load_split
    from ufnlib.training.train import Trainer
    srns = strategy != "ufn"
    cfg = Config(dataset="synthetic:users=80,items=60", strategy=strategy, warmup="fixed", warmup_epochs=1,
                 m=1, hidden=16, n_neg=10, max_epochs=4, patience=10,
                 **({"srns_t": 2} if srns else {}))
    tr = Trainer(cfg, load_split(cfg.dataset), progress=False)
    sizes = []
    for _ in range(4):
        tr.maybe_end_warmup()
        tr.history.append(tr.run_epoch())
        tr.epoch += 1
        mem = tr.strategy.memory
        sizes.append((mem.nbytes(), {k: t.data_ptr() for k, t in mem.tensors().items()}))
    assert all(s == sizes[0] for s in sizes)
    assert tr.history[-1]["recorded"] > 0 and tr.history[-1]["refed"] > 0
    if srns:
        assert tr.history[-1]["mined"] > 0 and tr.history[-1]["srns_full"] > 0


def test_warmup_rule():
    from ufnlib import Config
    from ufnlib.training.algorithm1 import warmup_ended
    cfg = Config()
    L = [100, 60, 40, 30, 25, 20, 19, 18.9]
    # drop over first five epochs = 100 - 20 = 80 -> threshold 0.4; last drop 0.1 < 0.4
    assert warmup_ended(L, cfg)
    assert not warmup_ended(L[:7], cfg)                       # needs more than 7 epochs
    assert not warmup_ended(L[:-1] + [18.0], cfg)             # last drop 1.0 >= 0.4
    fixed = Config(warmup="fixed", warmup_epochs=3)
    assert not warmup_ended([1, 1], fixed) and warmup_ended([1, 1, 1], fixed)


def test_teacher_matches_torch_ema_schedule():
    """The AveragedModel teacher follows torch-ema's decay min(d, (1+k)/(10+k)) exactly."""
    from torch_ema import ExponentialMovingAverage

    from ufnlib.training.algorithm1 import make_teacher
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    ref = ExponentialMovingAverage(model.parameters(), decay=0.9)
    teacher = make_teacher(model, 0.9)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(30):
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).sum().backward()
        opt.step()
        ref.update()
        teacher.update_parameters(model)
    for a, b in zip(ref.shadow_params, teacher.module.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(teacher.module.weight, model.weight)


def test_consistency_only_on_mined_entries():
    from ufnlib.training.algorithm1 import consistency_loss
    s = torch.tensor([[0.0, 1.0, -1.0]], requires_grad=True)
    t = torch.tensor([[5.0, 2.0, 3.0]])
    mask = torch.tensor([[False, True, False]])
    consistency_loss(s, t, mask).backward()
    assert s.grad[0, 0] == 0 and s.grad[0, 2] == 0 and s.grad[0, 1] != 0
    # BCE(1.0, sigmoid(2.0)) by hand
    p, q = torch.sigmoid(torch.tensor(1.0)), torch.sigmoid(torch.tensor(2.0))
    want = -(q * torch.log(p) + (1 - q) * torch.log(1 - p))
    assert torch.isclose(consistency_loss(s.detach(), t, mask), want, atol=1e-6)


@pytest.mark.parametrize("strategy", ["fmr", "fcr", "ufn", "removal", "ema_eval"])
def test_strategies_train_and_record_teacher(strategy, tmp_path):
    import ufnlib
    cfg = ufnlib.Config(dataset="synthetic:users=80,items=60", strategy=strategy, warmup="fixed",
                        warmup_epochs=1, m=1, hidden=16, n_neg=10, max_epochs=4, patience=10)
    rec = ufnlib.run(cfg, root=tmp_path, progress=False)
    assert rec["warmup_end_epoch"] == 1
    uses_teacher = strategy in ("fcr", "ufn", "ema_eval")
    # the teacher exists from the warm-up end on; an epoch selected before it is the student's
    teacher_selected = uses_teacher and rec["selection"]["best_epoch"] > rec["warmup_end_epoch"]
    assert (rec["reported_model"] != "student") == teacher_selected
    assert ("metrics_student" in rec) == teacher_selected
    if strategy != "ema_eval":
        assert rec["history"][-1]["mined"] > 0
        assert rec["history"][-1]["mined_precision"] is not None
    if uses_teacher:
        assert "valid_student" in rec["history"][-1]


def test_teacher_logits_on_a_subset_equal_the_full_computation():
    """Encoding only the sequences that hold mined entries gives the same teacher logits."""
    from ufnlib import Config, load_split
    from ufnlib.training.algorithm1 import make_teacher
    from ufnlib.training.train import Trainer
    from ufnlib.training.weights import teacher_entries, teacher_positions
    cfg = Config(dataset="synthetic:users=80,items=60", strategy="ufn", hidden=16, n_neg=10, dropout=0.0)
    tr = Trainer(cfg, load_split(cfg.dataset), progress=False)
    tr.teacher = make_teacher(tr.model, cfg.decay)
    b = tr.data.batch(torch.arange(40))
    P = len(b.targets)
    cands = torch.cat([b.targets[:, None], tr.sampler.sample(b.pos_users, cfg.n_neg)], 1)
    need = torch.zeros(P, dtype=torch.bool)
    need[torch.randperm(P, generator=torch.Generator().manual_seed(0))[: P // 3]] = True
    idx, h = teacher_positions(tr, b, need)
    t = tr.teacher.module
    with torch.no_grad():
        sub = t.score(h, cands[idx], b.pos_users[idx])
        full = t.score(torch.cat([t.encode(g.inputs, g.users)[g.real] for g in b.groups]), cands, b.pos_users)
    assert set(need.nonzero()[:, 0].tolist()) <= set(idx.tolist())
    assert torch.allclose(sub, full[idx], atol=1e-5)
    # only the masked entries, aligned with logits[mask]
    mask = torch.zeros_like(cands, dtype=torch.bool)
    mask[need] = torch.rand(int(need.sum()), cands.shape[1], generator=torch.Generator().manual_seed(1)) < 0.2
    mask[need.nonzero()[0, 0], 3] = True
    ent = teacher_entries(tr, b, cands, mask)
    assert ent.shape == (int(mask.sum()),)
    assert torch.allclose(ent, full[mask], atol=1e-5)
