"""BERT4Rec and SSE-PT: cloze masking, bidirectionality, the [MASK] query at evaluation, SSE
replacement (rate, training only, padding), widths, determinism, and the UFN strategies running
unchanged on both backbones."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import reversed_batch

import ufnlib
from ufnlib import Config, config_key
from ufnlib.data.datasets import leave_one_out, parse
from ufnlib.experiments.store import matches
from ufnlib.models import make_data, make_model
from ufnlib.models.bert4rec import BERT4Rec, MaskedItemData, cloze_mask, n_masked
from ufnlib.models.layers import Noise
from ufnlib.models.sasrec import SASRec
from ufnlib.models.ssept import SSEPT, sse_replace
from ufnlib.training.evaluate import Evaluator

N_ITEMS, N_USERS = 40, 30
SYN = "synthetic:users=80,items=60"
TIMING = {"train_seconds", "eval_seconds"}


def cfg_for(backbone, **kw):
    return Config(**{"backbone": backbone, "hidden": 16, "user_hidden": 8, "blocks": 2, "heads": 1,
                     "maxlen": 12, "dropout": 0.3, **kw})


def random_seqs(n, w, seed=0, min_len=1):
    """Left-padded id matrix [n, w] with random real lengths in min_len..w."""
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(1, N_ITEMS + 1, (n, w), generator=g)
    lens = torch.randint(min_len, w + 1, (n,), generator=g)
    return seq.masked_fill(torch.arange(w)[None, :] < (w - lens)[:, None], 0)


@pytest.fixture(scope="module")
def mixed_split():
    """Short users, a few longer than maxlen (truncated), and train-only users."""
    rng = np.random.default_rng(0)
    lines = []
    for u in range(1, 61):
        n = int(rng.integers(3, 7)) if u % 6 else int(rng.integers(30, 45))
        if u % 17 == 0:
            n = 2
        lines.append(" ".join(map(str, [u, *rng.integers(1, N_ITEMS + 1, n)])))
    return leave_one_out(parse("\n".join(lines).encode(), "s3rec"))


# =================================================================================== BERT4Rec
def test_n_masked_rule():
    L = torch.tensor([0, 1, 2, 3, 4, 5, 7, 10, 50])
    assert n_masked(L, 0.6).tolist() == [0, 1, 1, 2, 2, 3, 4, 6, 30]
    assert n_masked(L, 0.2).tolist() == [0, 1, 1, 1, 1, 1, 1, 2, 10]
    assert n_masked(L, 0.95).tolist() == [0, 1, 1, 2, 3, 4, 6, 9, 48]   # one item stays visible
    assert n_masked(L, 0.0).tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 1]     # at least one


def test_cloze_mask_counts_and_never_padding():
    g = torch.Generator().manual_seed(0)
    lens = torch.tensor([0, 1, 2, 5, 12, 12, 7])
    m = cloze_mask(lens, 12, 0.6, g)
    pad = torch.arange(12)[None, :] < (12 - lens)[:, None]
    assert not (m & pad).any()
    assert m.sum(1).tolist() == n_masked(lens, 0.6).tolist()
    # uniform over positions: every real position of a long row gets masked about rho of the time
    many = torch.stack([cloze_mask(torch.tensor([10]), 10, 0.6, g)[0] for _ in range(3000)])
    share = many.float().mean(0)
    assert torch.allclose(share, torch.full((10,), 0.6), atol=0.04)


def test_masked_batch_targets_never_leak_into_inputs(mixed_split):
    sp, maxlen = mixed_split, 40                      # long rows truncated, several groups
    data = MaskedItemData(sp, maxlen, 0.6, torch.Generator().manual_seed(1))
    mask_id = sp.n_items + 1
    assert data.mask_id == mask_id and data.n_items == sp.n_items and data.n_inter == len(sp.train_items)
    users, b = reversed_batch(data, sp, maxlen)
    k = 0
    for g in b.groups:
        assert (g.inputs[g.real] == mask_id).all()               # the input at a target is [MASK]
        assert not (g.inputs[~g.real] == mask_id).any()          # and [MASK] only there
        for row, u in enumerate(g.users.tolist()):
            window = sp.train_seq(u)[-maxlen:]
            inp = g.inputs[row][g.inputs[row] > 0]
            assert len(inp) == len(window)
            visible = inp != mask_id
            assert inp[visible].tolist() == window[visible.numpy()].tolist()
            n = int(g.real[row].sum())
            assert n == n_masked(torch.tensor([len(window)]), 0.6).item()
            assert b.targets[k:k + n].tolist() == window[~visible.numpy()].tolist()
            assert (b.pos_users[k:k + n] == u).all()
            k += n
    assert k == len(b.targets) == len(b.inter) == len(b.pos_users)
    inter = b.inter.numpy()
    assert (sp.train_items[inter] == b.targets.numpy()).all()    # memory key = train interaction
    assert (data.inter_user[b.inter] == b.pos_users).all()
    assert mask_id not in b.targets.tolist()


def test_masking_is_seeded_and_independent_of_grouping(mixed_split):
    def draw(seed, trim):
        d = MaskedItemData(mixed_split, 10, 0.6, torch.Generator().manual_seed(seed))
        b = d.batch(torch.from_numpy(d.train_users), trim=trim)
        order = torch.argsort(b.inter)
        return b.inter[order], b.targets[order], b.pos_users[order]
    a, b, c = draw(3, True), draw(3, True), draw(3, False)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(x, y) for x, y in zip(a, c))          # trim changes grouping only
    assert not torch.equal(a[0], draw(4, True)[0])


def test_bert4rec_is_bidirectional_unlike_sasrec():
    torch.manual_seed(0)
    bert = BERT4Rec(N_ITEMS, cfg_for("bert4rec")).eval()
    torch.manual_seed(0)
    sas = SASRec(N_ITEMS, cfg_for("sasrec")).eval()
    seq = random_seqs(6, 12, min_len=12)
    changed = seq.clone()
    changed[:, 9] = changed[:, 9] % N_ITEMS + 1
    assert not torch.allclose(bert.encode(changed)[:, :9], bert.encode(seq)[:, :9], atol=1e-4)
    torch.testing.assert_close(sas.encode(changed)[:, :9], sas.encode(seq)[:, :9], rtol=0, atol=1e-5)


def test_bert4rec_padding_invariance():
    torch.manual_seed(0)
    model = BERT4Rec(N_ITEMS, cfg_for("bert4rec")).eval()
    short = random_seqs(8, 5, seed=2)
    wide = torch.cat([torch.zeros(8, 7, dtype=torch.long), short], 1)
    real = short > 0
    torch.testing.assert_close(model.encode(short)[real], model.encode(wide)[:, -5:][real],
                               rtol=1e-5, atol=1e-5)


def test_bert4rec_eval_appends_mask():
    torch.manual_seed(0)
    model = BERT4Rec(N_ITEMS, cfg_for("bert4rec")).eval()
    mask = torch.full((8, 1), N_ITEMS + 1)
    short = random_seqs(8, 7, seed=3)                              # room for [MASK]
    torch.testing.assert_close(model.final(short), model.encode(torch.cat([short, mask], 1))[:, -1])
    full = random_seqs(8, 12, seed=4, min_len=12)                  # full window: oldest dropped
    torch.testing.assert_close(model.final(full), model.encode(torch.cat([full[:, 1:], mask], 1))[:, -1])
    h = model.final(full)
    assert model.score_all(h).shape == (8, N_ITEMS)                # [MASK] is never ranked
    cands = torch.arange(1, N_ITEMS + 1).expand(8, -1)
    torch.testing.assert_close(model.score(h, cands), model.score_all(h))


# ===================================================================================== SSE-PT
def test_sse_replace_rate_and_padding():
    g = torch.Generator().manual_seed(0)
    n_users, n_items = 1000, 2000
    users = torch.randint(0, n_users, (20_000,), generator=g)
    seq = random_seqs(20_000, 50, seed=5)
    seq = torch.randint(1, n_items + 1, seq.shape, generator=g).masked_fill(seq == 0, 0)
    noise = Noise.draw(len(seq), torch.Generator().manual_seed(1))
    s2, u2 = sse_replace(seq, users, 0.3, 0.1, n_items, n_users, noise, 50)
    # a replacement may draw the same id again: expected change rate p (1 - 1/N)
    assert abs((u2 != users).float().mean().item() - 0.3 * (1 - 1 / n_users)) < 0.01
    real = seq > 0
    assert abs((s2 != seq)[real].float().mean().item() - 0.1 * (1 - 1 / n_items)) < 0.005
    assert (s2[~real] == 0).all() and (s2[real] >= 1).all() and (s2 <= n_items).all()
    assert u2.min() >= 0 and u2.max() < n_users
    s3, u3 = sse_replace(seq, users, 0.0, 0.0, n_items, n_users, noise, 50)
    assert torch.equal(s3, seq) and torch.equal(u3, users)


def test_ssept_replaces_only_in_training_by_the_rule():
    cfg = cfg_for("ssept", dropout=0.0, sse_user=0.5, sse_item=0.3)
    torch.manual_seed(0)
    model = SSEPT(N_ITEMS, cfg, N_USERS)
    seq, users = random_seqs(16, 12, seed=6), torch.arange(16)
    model.eval()
    base = model.encode(seq, users)
    torch.testing.assert_close(model.encode(seq, users), base, rtol=0, atol=0)   # eval: no noise
    model.train()
    noise = Noise.draw(len(seq), torch.Generator().manual_seed(7))
    noisy = model.encode(seq, users, noise)
    s2, u2 = sse_replace(seq, users, 0.5, 0.3, N_ITEMS, N_USERS, noise, cfg.maxlen)
    assert not torch.equal(s2, seq) and not torch.equal(u2, users)
    model.eval()
    torch.testing.assert_close(noisy, model.encode(s2, u2), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(noisy, base)


def test_ssept_widths_and_scores_are_width_100_dot_products():
    cfg = Config(backbone="ssept", maxlen=12)                     # defaults: 50 + 50
    torch.manual_seed(0)
    model = SSEPT(N_ITEMS, cfg, N_USERS).eval()
    assert model.width == 100 and model.pos_emb.weight.shape == (12, 100)
    assert model.last_ln.normalized_shape == (100,)
    assert all(b.ln_attn.normalized_shape == (100,) for b in model.blocks)
    seq, users = random_seqs(5, 12, seed=8), torch.tensor([0, 3, 3, 7, 29])
    out = model.encode(seq, users)
    assert out.shape == (5, 12, 150)
    h = model.final(seq, users)                                   # [h (100) | u (50)]
    u = model.user_emb(users) * 50 ** 0.5
    torch.testing.assert_close(h[:, 100:], u)
    cands = torch.randint(1, N_ITEMS + 1, (5, 9))
    cand_vec = torch.cat([model.item_emb(cands), u[:, None].expand(-1, 9, -1)], -1)   # [5, 9, 100]
    want = (cand_vec * h[:, None, :100]).sum(-1)
    torch.testing.assert_close(model.score(h, cands, users), want, rtol=1e-5, atol=1e-4)
    full = model.score_all(h, users)
    assert full.shape == (5, N_ITEMS)
    torch.testing.assert_close(full.gather(1, cands - 1), want, rtol=1e-5, atol=1e-4)


def test_ssept_is_causal_and_personal():
    torch.manual_seed(0)
    model = SSEPT(N_ITEMS, cfg_for("ssept"), N_USERS).eval()
    seq, users = random_seqs(6, 12, min_len=12), torch.arange(6)
    changed = seq.clone()
    changed[:, 9] = changed[:, 9] % N_ITEMS + 1
    torch.testing.assert_close(model.encode(changed, users)[:, :9], model.encode(seq, users)[:, :9],
                               rtol=0, atol=1e-5)
    assert not torch.allclose(model.final(seq, users), model.final(seq, users + 6), atol=1e-4)


def test_ssept_width_must_split_into_heads():
    with pytest.raises(ufnlib.ConfigError, match="SSE-PT width"):
        Config(backbone="ssept", hidden=50, user_hidden=48, heads=4)
    Config(backbone="ssept", hidden=52, user_hidden=48, heads=4)    # 100 = 4 x 25
    Config(backbone="sasrec", hidden=48, user_hidden=50, heads=4)   # not read by SASRec


# ============================================================================ both backbones
@pytest.mark.parametrize("backbone", ["bert4rec", "ssept"])
def test_eval_trimming_does_not_change_ranks(backbone, mixed_split):
    cfg = cfg_for(backbone, maxlen=10)
    torch.manual_seed(0)
    model = make_model(cfg, mixed_split.n_items, mixed_split.n_users)
    ev = Evaluator(mixed_split, 10, eval_neg=20, batch_size=16)
    a, b = ev.ranks(model, "test", trim=True), ev.ranks(model, "test", trim=False)
    for m in a:
        assert np.array_equal(a[m], b[m])


def test_unused_fields_keep_keys_and_cached_records():
    assert config_key(Config(mask_prob=0.3, sse_user=0.5)) == config_key(Config())
    assert config_key(Config(backbone="bert4rec", mask_prob=0.3)) != config_key(Config(backbone="bert4rec"))
    assert config_key(Config(backbone="ssept", sse_item=0.2)) != config_key(Config(backbone="ssept"))
    old = {"config": {**Config().to_dict(), "mask_prob": 0.2, "sse_user": 0.08, "sse_item": 0.01}}
    assert matches(old, Config())                                # a SASRec record stays valid
    old_b = {"config": {**Config(backbone="bert4rec").to_dict(), "mask_prob": 0.2}}
    assert not matches(old_b, Config(backbone="bert4rec"))


def _run(tmp_path, name, **kw):
    cfg = Config(dataset=SYN, hidden=16, user_hidden=16, n_neg=10, max_epochs=3, **kw)
    return ufnlib.run(cfg, root=tmp_path / name, progress=False)


@pytest.mark.parametrize("backbone", ["bert4rec", "ssept"])
def test_same_seed_same_run(backbone, tmp_path):
    a, b = _run(tmp_path, "a", backbone=backbone), _run(tmp_path, "b", backbone=backbone)
    assert a["metrics"] == b["metrics"]
    strip = [[{k: v for k, v in h.items() if k not in TIMING} for h in r["history"]] for r in (a, b)]
    assert strip[0] == strip[1]
    c = _run(tmp_path, "c", backbone=backbone, seed=2)
    assert c["history"][0]["loss"] != a["history"][0]["loss"]


@pytest.mark.parametrize("backbone", ["bert4rec", "ssept"])
@pytest.mark.parametrize("strategy", ["ufn", "removal"])
def test_ufn_strategies_run_unchanged(backbone, strategy, tmp_path):
    rec = _run(tmp_path, "r", backbone=backbone, strategy=strategy, warmup="fixed",
               warmup_epochs=1, m=1)
    assert rec["warmup_end_epoch"] == 1
    after = rec["history"][1:]
    assert all("nrec_mean" in h for h in after)
    assert sum(h["recorded"] for h in after) > 0 and after[-1]["refed"] > 0
    assert sum(h["mined"] for h in after) > 0                    # m = 1: re-fed twice -> mined
    for which in ("valid", "test"):
        for mode in ("sampled", "full"):
            assert 0.0 <= rec["metrics"][which][mode]["ndcg@10"] <= 1.0


def test_make_data_per_backbone(mixed_split):
    g = torch.Generator().manual_seed(0)
    assert isinstance(make_data(Config(backbone="bert4rec"), mixed_split, g), MaskedItemData)
    assert type(make_data(Config(backbone="ssept"), mixed_split, g)).__name__ == "NextItemData"


@pytest.mark.parametrize("backbone", ["bert4rec", "ssept"])
def test_interrupted_run_resumes_identically(backbone, tmp_path):
    """The cloze masks (run generator) and SSE draws (torch's generator) are checkpointed."""
    cfg = Config(dataset=SYN, backbone=backbone, strategy="ufn", hidden=16, user_hidden=16,
                 n_neg=10, max_epochs=4, warmup="fixed", warmup_epochs=1, m=1)
    assert ufnlib.run(cfg, root=tmp_path / "cut", progress=False, stop_after_epochs=2) is None
    resumed = ufnlib.run(cfg, root=tmp_path / "cut", progress=False)
    full = ufnlib.run(cfg, root=tmp_path / "straight", progress=False)
    assert resumed["resumed_from_epoch"] == 2
    assert resumed["metrics"] == full["metrics"]
    strip = [[{k: v for k, v in h.items() if k not in TIMING} for h in r["history"]] for r in (resumed, full)]
    assert strip[0] == strip[1]


def test_compiled_sse_replace_is_the_tensor_code(monkeypatch):
    """On the CPU with numba, SSE's replacements come from one compiled pass; they equal the
    tensor code's draws id for id."""
    pytest.importorskip("numba")
    import ufnlib.models.ssept as ssept
    seq = random_seqs(300, 20, seed=9)
    users = torch.randint(0, N_USERS, (300,), generator=torch.Generator().manual_seed(3))
    noise = Noise(torch.randint(-2**62, 2**62, (300,), generator=torch.Generator().manual_seed(4)),
                  torch.randperm(300))
    for pu, pi in ((0.5, 0.3), (0.0, 0.2), (0.9, 0.0)):
        compiled = sse_replace(seq, users, pu, pi, N_ITEMS, N_USERS, noise, 25)
        with monkeypatch.context() as m:
            m.setattr(ssept, "_kernels", lambda: None)
            tensor = sse_replace(seq, users, pu, pi, N_ITEMS, N_USERS, noise, 25)
        assert torch.equal(compiled[0], tensor[0]) and torch.equal(compiled[1], tensor[1])
        assert (pu == 0) == torch.equal(compiled[1], users) and (pi == 0) == torch.equal(compiled[0], seq)
