"""The padding-free training layout (``models/packed.py``) against the padded one: the same masks,
the same function and gradients up to rounding, for every backbone; and when each layout runs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ufnlib.models.packed as packed
from ufnlib import Config
from ufnlib.data.batches import Group
from ufnlib.data.datasets import leave_one_out, parse
from ufnlib.models import make_data, make_model
from ufnlib.models.layers import Dropout, Noise

pytestmark = pytest.mark.skipif(not packed.available(torch.zeros(1)), reason="needs numba (compiled kernels)")

N_ITEMS = 40


@pytest.fixture(scope="module")
def split():
    """Short users and a few longer than maxlen, so that a batch has several length groups."""
    rng = np.random.default_rng(3)
    lines = []
    for u in range(1, 161):
        n = int(rng.integers(3, 6)) if u % 4 else int(rng.integers(9, 30))
        lines.append(" ".join(map(str, [u, *rng.integers(1, N_ITEMS + 1, n)])))
    return leave_one_out(parse("\n".join(lines).encode(), "s3rec"))


def setup(split, backbone, heads=1, dropout=0.3, seed=0):
    cfg = Config(backbone=backbone, hidden=16, user_hidden=8, blocks=2, heads=heads, maxlen=12,
                 dropout=dropout)
    torch.manual_seed(seed)
    model = make_model(cfg, split.n_items, split.n_users).train()
    data = make_data(cfg, split, torch.Generator().manual_seed(1))
    users = torch.from_numpy(data.train_users[::-1].copy())
    b = data.batch(users)
    assert len(b.groups) >= 2
    return model, b, Noise.draw(len(users), torch.Generator().manual_seed(seed + 7))


def both(model, b, noise, monkeypatch):
    """(packed, padded) outputs of ``encode_groups`` and the gradients of a fixed projection."""
    out = []
    for use in (True, False):
        monkeypatch.setattr(packed, "available", lambda *a, use=use: use)
        h = model.encode_groups(b.groups, noise)
        proj = torch.randn(h.shape, generator=torch.Generator().manual_seed(11))
        grads = torch.autograd.grad((h * proj).sum(), list(model.parameters()))
        out.append((h.detach(), dict(zip([n for n, _ in model.named_parameters()], grads))))
    return out


@pytest.mark.parametrize("backbone,heads", [("sasrec", 1), ("sasrec", 2), ("bert4rec", 2), ("ssept", 1)])
def test_packed_computes_the_padded_function(split, backbone, heads, monkeypatch):
    model, b, noise = setup(split, backbone, heads)
    (hp, gp), (hw, gw) = both(model, b, noise, monkeypatch)
    assert hp.shape == hw.shape == (len(b.targets), hw.shape[1])
    torch.testing.assert_close(hp, hw, rtol=0, atol=2e-5)
    for name, g in gw.items():
        if name.endswith("attn.k.bias"):      # exactly zero in exact arithmetic: rounding noise only
            assert gp[name].abs().max() < 1e-4 and g.abs().max() < 1e-4
            continue
        torch.testing.assert_close(gp[name], g, rtol=1e-4, atol=2e-5 * float(g.abs().max()), msg=name)


def test_packed_masks_are_the_padded_masks(split, monkeypatch):
    """With dropout, the outputs agree only if every mask agrees; with other noise they do not."""
    model, b, noise = setup(split, "sasrec", dropout=0.5)
    (hp, _), (hw, _) = both(model, b, noise, monkeypatch)
    torch.testing.assert_close(hp, hw, rtol=0, atol=2e-5)
    other = Noise(noise.seeds + 1, noise.rows)
    monkeypatch.setattr(packed, "available", lambda *a: True)
    assert (model.encode_groups(b.groups, other) - hp).abs().max() > 1e-2


def test_token_dropout_is_bitwise_the_padded_dropout():
    d = Dropout(0.4, maxlen=9)
    d.site = 3
    x = torch.randn(5, 7, 6)
    seq = torch.tensor([1, 1, 1, 1, 1, 1, 1])[None].expand(5, 7).clone()
    seq[1, :4] = 0
    seq[3, :6] = 0
    noise = Noise(torch.arange(5, dtype=torch.int64) * 977 - 3, torch.tensor([4, 0, 2, 1, 3]))
    want = d(x, noise)
    g = Group(torch.arange(5), seq, seq > 0, torch.arange(5))
    pk = packed.pack([g], noise, 9, causal=True)
    got = pk.drop(d, x[seq > 0])
    assert torch.equal(got, want[seq > 0])


def test_causal_tokens_ignore_later_ones(split, monkeypatch):
    model, b, noise = setup(split, "sasrec", heads=2)
    monkeypatch.setattr(packed, "available", lambda *a: True)
    g = b.groups[-1]
    pk = packed.pack([g], noise, 12, causal=True)
    base = model.encode_tokens(pk)
    items = pk.items.clone()
    last = pk.offsets[1:] - 1                # each sequence's last token
    items[last] = items[last] % N_ITEMS + 1
    pk.items = items
    out = model.encode_tokens(pk)
    keep = torch.ones(len(items), dtype=torch.bool)
    keep[last] = False
    torch.testing.assert_close(out[keep], base[keep], rtol=0, atol=1e-6)
    assert not torch.allclose(out[last], base[last], atol=1e-4)


def test_layout_choice(split, monkeypatch):
    """Packed in training mode only; evaluation and ``attend_padding`` keep the padded window."""
    model, b, noise = setup(split, "sasrec")
    calls = []
    real_pack = packed.pack
    monkeypatch.setattr(packed, "pack", lambda *a, **k: calls.append(1) or real_pack(*a, **k))
    model.encode_groups(b.groups, noise)
    assert calls == [1]
    model.eval()
    model.encode_groups(b.groups, noise)
    model.train()
    model.attend_padding = True
    model.encode_groups(b.groups, noise)
    assert calls == [1]
    assert not packed.available(torch.zeros(1, dtype=torch.float64))


def test_trainer_packed_and_padded_runs_agree(tiny_split, monkeypatch):
    """Three epochs of SASRec + UFN: the packed layout's losses are the padded layout's up to
    rounding (so the layout is a speed choice, not a model change)."""
    from ufnlib.training.train import Trainer
    cfg = Config(dataset="synthetic:users=60,items=50", max_epochs=3, hidden=16, n_neg=5, maxlen=10,
                 strategy="ufn", warmup="fixed", warmup_epochs=1, seed=2)
    losses = []
    for use in (True, False):
        monkeypatch.setattr(packed, "available", lambda *a, use=use: use)
        tr = Trainer(cfg, tiny_split, evaluator=object(), progress=False)
        for _ in range(3):
            tr.maybe_end_warmup()
            tr.history.append(tr.run_epoch())
            tr.epoch += 1
        losses.append([h["loss"] for h in tr.history])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
