"""SASRec backbone (causality, padding invariance), gather_dot, and training batches."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import reversed_batch

import ufnlib
from ufnlib.data.batches import NextItemData, left_pad, length_groups
from ufnlib.data.datasets import leave_one_out, parse
from ufnlib.models.layers import attention_mask, gather_dot
from ufnlib.models.sasrec import SASRec

N_ITEMS = 40


def make_model(seed=0, **kw):
    cfg = ufnlib.Config(**{"hidden": 16, "blocks": 2, "heads": 2, "maxlen": 12, "dropout": 0.3,
                           **kw})
    torch.manual_seed(seed)
    return SASRec(N_ITEMS, cfg)


def random_seqs(n, w, seed=0, min_len=1):
    """Left-padded id matrix [n, w] with random real lengths in min_len..w."""
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(1, N_ITEMS + 1, (n, w), generator=g)
    lens = torch.randint(min_len, w + 1, (n,), generator=g)
    pad = torch.arange(w)[None, :] < (w - lens)[:, None]
    return seq.masked_fill(pad, 0)


# ----------------------------------------------------------------------------- causality
@pytest.mark.parametrize("attend_padding", [False, True])
def test_later_items_never_change_earlier_outputs(attend_padding):
    model = make_model(attend_padding=attend_padding).eval()
    seq = random_seqs(6, 12, min_len=12)          # full rows: every position real
    base = model.encode(seq)
    for j in (3, 7, 11):
        changed = seq.clone()
        changed[:, j] = changed[:, j] % N_ITEMS + 1
        out = model.encode(changed)
        torch.testing.assert_close(out[:, :j], base[:, :j], rtol=0, atol=1e-5)
        assert not torch.allclose(out[:, j], base[:, j], atol=1e-4)   # the change does matter


def test_causality_in_training_mode_with_dropout():
    """The attention path used in training (explicit mask + dropout) is causal too: with the
    same random stream, dropout masks coincide and earlier outputs must not move."""
    model = make_model(dropout=0.3).train()
    seq = random_seqs(4, 12, seed=1, min_len=12)
    torch.manual_seed(5)
    base = model.encode(seq)
    changed = seq.clone()
    changed[:, 8] = changed[:, 8] % N_ITEMS + 1
    torch.manual_seed(5)
    out = model.encode(changed)
    torch.testing.assert_close(out[:, :8], base[:, :8], rtol=0, atol=1e-5)
    assert not torch.allclose(out[:, 8:], base[:, 8:], atol=1e-4)


def test_attention_mask():
    real = torch.tensor([[False, False, True, True]])
    m = attention_mask(real, causal=True)[0, 0]
    assert m.tolist() == [[True, False, False, False],
                          [False, True, False, False],
                          [False, False, True, False],
                          [False, False, True, True]]
    m2 = attention_mask(real, causal=False)[0, 0]
    assert m2[2].tolist() == [False, False, True, True]


# ---------------------------------------------------------------------- padding invariance
def test_padding_invariance():
    model = make_model().eval()
    short = random_seqs(8, 5, seed=2)             # rows left-padded inside a window of 5
    wide = torch.cat([torch.zeros(8, 7, dtype=torch.long), short], 1)   # same rows, window 12
    a, b = model.encode(short), model.encode(wide)[:, -5:]
    real = short > 0
    torch.testing.assert_close(a[real], b[real], rtol=1e-5, atol=1e-5)
    assert (b[~real] == 0).all() and (a[~real] == 0).all()             # padded outputs zeroed...
    torch.testing.assert_close(model.final(short), model.final(wide), rtol=1e-5, atol=1e-5)


def test_padding_invariance_across_batch_composition():
    """A row's outputs do not depend on the other rows of the batch."""
    model = make_model().eval()
    seq = random_seqs(10, 12, seed=4)
    together = model.encode(seq)
    alone = torch.cat([model.encode(seq[i:i + 1]) for i in range(10)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_padded_positions_are_zero_before_last_layernorm():
    model = make_model().eval()
    seq = torch.tensor([[0, 0, 0, 3, 4, 5]])
    out = model.encode(seq)
    # last_ln of a zero vector is its bias: padded positions carry no item information
    torch.testing.assert_close(out[0, :3], model.last_ln.bias.expand(3, -1))


def test_attend_padding_runs_and_differs():
    model = make_model(attend_padding=True).eval()
    seq = random_seqs(5, 12, seed=3, min_len=2)
    seq[0, :6] = 0                                 # make sure some row is padded
    out = model.encode(seq)
    assert out.shape == (5, 12, 16) and torch.isfinite(out).all()
    sound = make_model(attend_padding=False).eval()
    sound.load_state_dict(model.state_dict())
    # with padded keys visible the padded row's real outputs differ from the masked model's
    assert not torch.allclose(out[0, 6:], sound.encode(seq)[0, 6:], atol=1e-5)
    # a fully real row is the same in both (no padded key to attend to)
    full = random_seqs(2, 12, seed=9, min_len=12)
    torch.testing.assert_close(model.encode(full), sound.encode(full), rtol=1e-5, atol=1e-5)


def test_scores_are_dot_products():
    model = make_model().eval()
    h = model.final(random_seqs(3, 12, seed=5))
    items = torch.tensor([[1, 2, 3], [40, 40, 7], [5, 6, 1]])
    s = model.score(h, items)
    want = (model.item_emb.weight[items] * h[:, None]).sum(-1)
    torch.testing.assert_close(s, want)
    full = model.score_all(h)
    assert full.shape == (3, N_ITEMS)
    torch.testing.assert_close(full.gather(1, items - 1), want)


# ------------------------------------------------------------------------------- gather_dot
def test_gather_dot_gradcheck():
    g = torch.Generator().manual_seed(0)
    table = torch.randn(7, 4, dtype=torch.float64, generator=g, requires_grad=True)
    h = torch.randn(5, 4, dtype=torch.float64, generator=g, requires_grad=True)
    items = torch.tensor([[1, 1, 2], [0, 6, 6], [3, 3, 3], [2, 5, 1], [6, 0, 4]])   # repeats
    assert torch.autograd.gradcheck(lambda t, x: gather_dot(t, x, items), (table, h))


def test_gather_dot_matches_autograd():
    g = torch.Generator().manual_seed(1)
    table = torch.randn(30, 8, generator=g)
    h = torch.randn(20, 8, generator=g)
    items = torch.randint(0, 30, (20, 11), generator=g)
    w = torch.randn(20, 11, generator=g)
    t1, h1 = table.clone().requires_grad_(), h.clone().requires_grad_()
    t2, h2 = table.clone().requires_grad_(), h.clone().requires_grad_()
    out1 = gather_dot(t1, h1, items)
    out2 = (t2[items] * h2[:, None]).sum(-1)
    torch.testing.assert_close(out1, out2)
    (out1 * w).sum().backward()
    (out2 * w).sum().backward()
    torch.testing.assert_close(t1.grad, t2.grad)
    torch.testing.assert_close(h1.grad, h2.grad)
    # h alone (table frozen) also works
    h3 = h.clone().requires_grad_()
    (gather_dot(table, h3, items) * w).sum().backward()
    torch.testing.assert_close(h3.grad, h2.grad)


@pytest.mark.parametrize("p,attention", [(0.5, False), (0.2, False), (0.7, True)])
def test_compiled_dropout_is_bitwise_the_tensor_code(p, attention):
    """The compiled pass and the tensor code draw the same hashed mask: equal bits forward
    (signed zeros included) and backward."""
    pytest.importorskip("numba")
    from ufnlib.models import layers
    g = torch.Generator().manual_seed(4)
    x = torch.randn((30, 2, 17, 17) if attention else (30, 17, 50), generator=g)
    x.view(-1)[:3] = -0.0
    w = torch.randn(x.shape, generator=g)
    drop = layers.Dropout(p, maxlen=20, attention=attention).train()
    noise = layers.Noise(torch.full((30,), -12345), torch.arange(30) * 3 + 1)
    a = x.clone().requires_grad_()
    out = drop(a, noise)
    assert layers._kernels_for(x) is not None           # the compiled pass ran above
    b = x.clone().requires_grad_()
    keys = noise.keys(drop.site).view(-1, *[1] * (x.dim() - 1))
    u = layers._shr(layers.hashed_bits(keys, layers.window_index(x.shape, 20, attention)[None]), 40)
    want = b * ((u >= math.ceil(p * 2**24)).to(torch.float32) * (1.0 / (1.0 - p)))
    assert torch.equal(out.detach().view(torch.int32), want.detach().view(torch.int32))
    (out * w).sum().backward()
    (want * w).sum().backward()
    assert torch.equal(a.grad.view(torch.int32), b.grad.view(torch.int32))


def test_dropout_keeps_the_right_share_seeded_and_uncorrelated():
    """About 1 - p of the entries are kept (scaled by 1 / (1 - p)); without a Noise the mask
    follows torch's seed and changes from call to call; neighbouring draws are uncorrelated and
    uniform."""
    from ufnlib.models.layers import Dropout, Noise, _shr, hashed_bits
    drop = Dropout(0.3, maxlen=1000).train()
    x = torch.ones(1000, 1000, 1)
    torch.manual_seed(0)
    m1, m2 = drop(x), drop(x)
    torch.manual_seed(0)
    assert torch.equal(drop(x), m1)
    assert not torch.equal(m1, m2)
    assert m1.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    kept = (m1 > 0).float().mean().item()
    assert abs(kept - 0.7) < 5 * math.sqrt(0.21 / 1e6)
    u = _shr(hashed_bits(Noise.draw(1).keys(0), torch.arange(200_000)), 40).double() / 2**24
    assert abs(u.mean().item() - 0.5) < 0.005 and abs(u.var().item() - 1 / 12) < 0.002
    assert abs(np.corrcoef(u[:-1].numpy(), u[1:].numpy())[0, 1]) < 0.01
    rows = (m1[:-1, :, 0] > 0).float().flatten().numpy(), (m1[1:, :, 0] > 0).float().flatten().numpy()
    assert abs(np.corrcoef(*rows)[0, 1]) < 0.01                                     # row to row
    assert drop.eval()(x) is x


@pytest.mark.parametrize("attention", [False, True])
def test_dropout_mask_does_not_depend_on_the_layout(attention):
    """An element's mask is set by its row's seed and index in the batch and its coordinates in
    the full window: a trimmed window, a subset of rows in another order, or rows beside other
    seeds' rows (a bundle) draw the same masks; another seed or site draws others."""
    from ufnlib.models.layers import Dropout, Noise
    L, B = 12, 9
    drop = Dropout(0.5, maxlen=L, attention=attention).train()
    noise = Noise.draw(B, torch.Generator().manual_seed(3))
    full = torch.ones((B, 1, L, L) if attention else (B, L, 4))
    m_full = drop(full, noise)
    W = 5                                                          # the last 5 positions
    part = torch.ones((B, 1, W, W) if attention else (B, W, 4))
    want = m_full[:, :, -W:, -W:] if attention else m_full[:, -W:]
    assert torch.equal(drop(part, noise), want)
    rows = torch.tensor([7, 2, 4])
    assert torch.equal(drop(part[rows], noise.take(rows)), want[rows])
    other = Noise.draw(B, torch.Generator().manual_seed(4))
    both = Noise(torch.cat([noise.seeds, other.seeds]), torch.cat([noise.rows, other.rows]))
    m_both = drop(torch.cat([part, part]), both)
    assert torch.equal(m_both[:B], want) and not torch.equal(m_both[B:], want)
    drop.site = 1
    assert not torch.equal(drop(part, noise), want)


def test_gather_dot_table_gradient_is_bitwise_index_add():
    """The compiled scatter (CPU, numba) adds the same float32 products in the same order as
    ``index_add_`` of the outer product: equal bits, repeated items included."""
    pytest.importorskip("numba")
    from ufnlib.models import layers
    g = torch.Generator().manual_seed(2)
    table = torch.randn(40, 50, generator=g)
    h = torch.randn(300, 50, generator=g)
    items = torch.randint(0, 40, (300, 101), generator=g)        # every row repeated many times
    w = torch.randn(300, 101, generator=g) * 1e-3
    t = table.clone().requires_grad_()
    (gather_dot(t, h, items) * w).sum().backward()
    want = torch.zeros_like(table).index_add_(0, items.reshape(-1), (w[:, :, None] * h[:, None, :]).reshape(-1, 50))
    assert layers._kernels() is not None
    assert torch.equal(t.grad, want)


# ----------------------------------------------------------------------------- batches
def test_left_pad():
    items = np.array([10, 11, 12, 20, 30, 31, 32, 33])
    off = np.array([0, 3, 4, 8])
    idx = left_pad(off[:-1], off[1:], 3)
    assert idx.tolist() == [[0, 1, 2], [-1, -1, 3], [5, 6, 7]]
    assert np.where(idx >= 0, items[idx], 0).tolist() == [[10, 11, 12], [0, 0, 20], [31, 32, 33]]
    idx = left_pad(off[:-1] + 1, off[1:], 4)   # starts shifted: drop first item
    assert idx.tolist() == [[-1, -1, 1, 2], [-1, -1, -1, -1], [-1, 5, 6, 7]]


def test_length_groups_partition():
    lens = np.array([1] * 30 + [50] * 30 + [20] * 5)
    rng = np.random.default_rng(0)
    lens = lens[rng.permutation(len(lens))]
    groups = length_groups(lens)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lens)))
    assert len(groups) >= 2                        # 30 x 49 padded tokens are worth a group
    maxes = [lens[g].max() for g in groups]
    assert maxes == sorted(maxes)
    assert set(lens[groups[0]].tolist()) == {1}
    assert len(length_groups(np.array([4, 4, 4]))) == 1


@pytest.fixture(scope="module")
def mixed_split():
    """Many short users and a few long ones (longer than maxlen), so that a batch splits into
    several length groups and some rows are truncated; plus train-only users."""
    rng = np.random.default_rng(0)
    lines = []
    for u in range(1, 61):
        n = int(rng.integers(3, 6)) if u % 6 else int(rng.integers(30, 45))
        if u % 17 == 0:
            n = 2                                   # train-only user
        lines.append(" ".join(map(str, [u, *rng.integers(1, N_ITEMS + 1, n)])))
    return leave_one_out(parse("\n".join(lines).encode(), "s3rec"))


def test_next_item_batch_matches_split(mixed_split):
    sp, maxlen = mixed_split, 20
    data = NextItemData(sp, maxlen)
    train_len = np.diff(sp.train_offsets)
    users, b = reversed_batch(data, sp, maxlen)
    # scored positions, group by group, row-major
    n_scored = 0
    for g in b.groups:
        assert (g.inputs[g.real] > 0).all()
        n_scored += int(g.real.sum())
    assert n_scored == len(b.targets) == len(b.inter) == len(b.pos_users)
    assert n_scored == int(np.minimum(train_len[users.numpy()] - 1, maxlen).sum())
    inter = b.inter.numpy()
    assert len(set(inter.tolist())) == len(inter)                  # each interaction once
    assert (sp.train_items[inter] == b.targets.numpy()).all()      # inter indexes train_items
    pu = b.pos_users.numpy()
    start, end = sp.train_offsets[pu], sp.train_offsets[pu + 1]
    assert ((inter >= start + 1) & (inter < end)).all()            # target is not the first item
    assert (inter >= end - maxlen).all()                           # the last maxlen targets
    inputs = torch.cat([g.inputs[g.real] for g in b.groups]).numpy()
    assert (sp.train_items[inter - 1] == inputs).all()              # target = next train item
    # per user, by the definition: input train[:-1], target train[1:], last maxlen
    k = 0
    for g in b.groups:
        for row, u in enumerate(g.users.tolist()):
            tr = sp.train_seq(u)
            want_t = tr[1:][-maxlen:]
            assert b.targets[k:k + len(want_t)].tolist() == want_t.tolist()
            assert g.inputs[row][g.real[row]].tolist() == tr[:-1][-maxlen:].tolist()
            assert (pu[k:k + len(want_t)] == u).all()
            k += len(want_t)
    assert k == n_scored


def test_grouped_and_padded_batches_give_identical_logits(mixed_split):
    sp, maxlen = mixed_split, 20
    data = NextItemData(sp, maxlen)
    users = torch.from_numpy(data.train_users)
    grouped, padded = data.batch(users, trim=True), data.batch(users, trim=False)
    assert len(grouped.groups) >= 2 and len(padded.groups) == 1
    assert padded.groups[0].inputs.shape == (len(users), maxlen)
    model = make_model(maxlen=maxlen).eval()

    def logits(b):
        h = torch.cat([model.encode(g.inputs, g.users)[g.real] for g in b.groups])
        order = torch.argsort(b.inter)                 # align positions by interaction id
        cands = torch.stack([b.targets, (b.targets % N_ITEMS) + 1, b.targets * 0 + 3], 1)
        return b.inter[order], model.score(h, cands)[order]
    i1, l1 = logits(grouped)
    i2, l2 = logits(padded)
    assert torch.equal(i1, i2)
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-5)

