"""Many runs in one process (``training.bundle``): each bundled run trains as its single run does
(losses, validation, selection; up to float rounding), a bundle resumes, runs that stop early
leave without changing the others, and ``run_bundle`` writes the single runs' records."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ufnlib
from ufnlib.config import Config, config_key
from ufnlib.experiments import store
from ufnlib.experiments.run import run, run_bundle
from ufnlib.experiments.splits import load_split
from ufnlib.models import make_model
from ufnlib.models.layers import Noise
from ufnlib.training.bundle import Bundle, BundleError, check_compatible
from ufnlib.training.train import Trainer

DS = "synthetic:users=120,items=80"


def cfgs_for(backbone: str, **kw) -> list[Config]:
    base = {**dict(dataset=DS, backbone=backbone, hidden=16, user_hidden=8, n_neg=8, maxlen=15, max_epochs=5,
                   warmup="fixed", warmup_epochs=2, m=2, patience=50), **kw}
    return [Config(**base, strategy="ufn", seed=1), Config(**base, strategy="uniform", seed=2),
            Config(**base, strategy="ema_eval", seed=3, decay=0.99)]


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (torch.Tensor, np.ndarray)):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return a == b


def losses(tr):
    return np.array([h["loss"] for h in tr.history])


def valid(tr):
    return np.array([h["valid"]["ndcg@10"] for h in tr.history])


@pytest.mark.parametrize("backbone,chunks", [("sasrec", 3), ("bert4rec", 1), ("ssept", 2)])
def test_bundled_runs_train_as_their_single_runs(backbone, chunks):
    cfgs = cfgs_for(backbone)
    split = load_split(DS)
    single = [Trainer(c, split, progress=False).fit() for c in cfgs]
    bundled = [Trainer(c, split, progress=False) for c in cfgs]
    Bundle(bundled, chunks=chunks).fit()
    for s, b in zip(single, bundled):
        assert b.epoch == s.epoch == 5
        np.testing.assert_allclose(losses(b), losses(s), rtol=2e-6)
        np.testing.assert_allclose(valid(b), valid(s), atol=2e-3)
        assert b.best["epoch"] == s.best["epoch"] and b.warmup_epoch == s.warmup_epoch
        for name, p in s.model.state_dict().items():
            torch.testing.assert_close(b.model.state_dict()[name], p, rtol=1e-3, atol=1e-3)   # Adam: rounding
    assert single[0].teacher is not None and bundled[0].teacher is not None    # ufn's teacher ran
    assert single[0].strategy.active and bundled[0].strategy.active
    for s, b in zip(single, bundled):      # the same entries mined, counted and reversed
        for name, v in s.strategy.state_dict().items():
            assert same(b.strategy.state_dict()[name], v), name


def test_a_run_that_stops_early_leaves_and_changes_no_other():
    split = load_split(DS)
    cfgs = cfgs_for("sasrec")
    stopper = cfgs[1].replace(patience=1, max_epochs=5)
    full = [Trainer(c, split, progress=False) for c in cfgs]
    Bundle(full, chunks=2).fit()
    early = [Trainer(c, split, progress=False) for c in (cfgs[0], stopper, cfgs[2])]
    bundle = Bundle(early, chunks=2)
    sizes = []
    while bundle.live:
        bundle.run_epoch()
        sizes.append(len(bundle.live))
    assert early[1].epoch < 5 and sizes[-1] == 0 and 2 in sizes      # it stopped, then left the stack
    for a, b in ((full[0], early[0]), (full[2], early[2])):
        np.testing.assert_allclose(losses(b), losses(a), rtol=1e-6)
        assert b.best["epoch"] == a.best["epoch"]
    # the stopped run trained exactly as in the full bundle while it was there
    n = early[1].epoch
    np.testing.assert_allclose(losses(early[1]), losses(full[1])[:n], rtol=1e-6)


def test_run_bundle_writes_single_run_records_and_resumes(tmp_path):
    import shutil
    cfgs = cfgs_for("sasrec", max_epochs=4)[:2]
    part = run_bundle(cfgs, root=tmp_path / "b", chunks=2, stop_after_epochs=2)
    assert part == [None, None]
    ckpts = [store.checkpoint_path(config_key(c), tmp_path / "b") for c in cfgs]
    assert all(p.is_file() for p in ckpts)                              # one per run, the single format
    shutil.copytree(tmp_path / "b", tmp_path / "c")
    recs = run_bundle(cfgs, root=tmp_path / "b", chunks=2)              # resumed as the same bundle
    assert not any(p.is_file() for p in ckpts)                          # removed once done
    whole = run_bundle(cfgs, root=tmp_path / "w", chunks=2)
    singles = [run(c, root=tmp_path / "s", progress=False) for c in cfgs]
    # regrouped: run 0 resumes in a bundle of its own, run 1 as a single run
    regrouped = run_bundle(cfgs[:1], root=tmp_path / "c", chunks=2) + [run(cfgs[1], root=tmp_path / "c",
                                                                           progress=False)]
    for r, w, s, g, c in zip(recs, whole, singles, regrouped, cfgs):
        assert r["key"] == s["key"] == g["key"] == config_key(c)
        assert r["env"]["bundle"] == {"size": 2, "chunks": 2} and "bundle" not in s["env"]
        assert r["resumed_from_epoch"] == g["resumed_from_epoch"] == 2
        # resuming a bundle recomputes the same numbers; regrouped or single: float rounding
        assert [h["loss"] for h in r["history"]] == [h["loss"] for h in w["history"]]
        for other in (s, g):
            np.testing.assert_allclose([h["loss"] for h in r["history"]], [h["loss"] for h in other["history"]],
                                       rtol=1e-5)
            assert r["selection"]["best_epoch"] == other["selection"]["best_epoch"]
        for m in ("hr@10", "ndcg@10"):
            assert r["metrics"]["test"]["sampled"][m] == pytest.approx(s["metrics"]["test"]["sampled"][m], abs=0.02)
        assert store.lookup(c, tmp_path / "b") is not None                 # cached under its own key
    again = run_bundle(cfgs, root=tmp_path / "b")                         # cached: nothing trains
    assert [a["finished"] for a in again] == [a["finished"] for a in recs]


def test_bundle_refuses_runs_that_cannot_share_it():
    a, b = cfgs_for("sasrec")[:2]
    with pytest.raises(BundleError, match="batch_size"):
        check_compatible([a, b.replace(batch_size=64)])
    with pytest.raises(BundleError, match="backbone"):
        check_compatible([a, b.replace(backbone="bert4rec")])
    check_compatible([a, b.replace(alpha=0.1, m=4, decay=0.9, seed=9)])    # what a sweep varies may differ
    check_compatible([a, b.replace(l2_emb=0.1, lr=5e-4, beta2=0.99)])     # each run has its own Adam and penalty


@pytest.mark.parametrize("backbone", ["sasrec", "ssept"])
def test_bundled_runs_with_their_own_l2_emb_and_adam_settings_train_as_their_single_runs(backbone):
    """Each bundled run's L2 penalty (its ``l2_reg`` on its own slices) and its own Adam (lr,
    beta2): losses and weights as its single run's, up to float rounding."""
    base = cfgs_for(backbone, max_epochs=4)
    cfgs = [base[0].replace(l2_emb=0.05), base[1].replace(lr=5e-4, beta2=0.99), base[2]]
    split = load_split(DS)
    single = [Trainer(c, split, progress=False).fit() for c in cfgs]
    bundled = [Trainer(c, split, progress=False) for c in cfgs]
    Bundle(bundled, chunks=2).fit()
    for s, b in zip(single, bundled):
        np.testing.assert_allclose(losses(b), losses(s), rtol=2e-6)
        assert b.best["epoch"] == s.best["epoch"]
        for name, p in s.model.state_dict().items():
            torch.testing.assert_close(b.model.state_dict()[name], p, rtol=1e-3, atol=1e-3)
    assert single[0].opt.param_groups[0]["lr"] != single[1].opt.param_groups[0]["lr"]


@pytest.mark.parametrize("backbone", ["sasrec", "ssept", "bert4rec"])
def test_training_mode_outputs_do_not_depend_on_the_batch_layout(backbone):
    """With one ``Noise``, a batch encoded in length groups and in one padded window gives the
    same training-mode outputs (dropout and SSE draws included) at every scored position."""
    cfg = Config(dataset=DS, backbone=backbone, hidden=16, user_hidden=8, maxlen=15)
    split = load_split(DS)
    from ufnlib.models import make_data
    data = make_data(cfg, split, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = make_model(cfg, split.n_items, split.n_users).train()
    users = torch.from_numpy(data.train_users[:40])
    noise = Noise.draw(len(users), torch.Generator().manual_seed(5))
    batches = []
    for trim in (True, False):
        if backbone == "bert4rec":                        # the same cloze masks for both layouts
            data.g = torch.Generator().manual_seed(1)
        batches.append(data.batch(users, trim=trim))
    grouped, window = batches
    assert min(g.inputs.shape[1] for g in grouped.groups) < cfg.maxlen      # trimmed: another layout

    def out(b):
        h = torch.cat([model.encode(g.inputs, g.users, noise.take(g.rows))[g.real] for g in b.groups])
        order = torch.argsort(b.inter)
        return b.inter[order], h[order]
    i1, h1 = out(grouped)
    i2, h2 = out(window)
    assert torch.equal(i1, i2)
    torch.testing.assert_close(h1, h2, rtol=1e-5, atol=1e-5)
    other = Noise.draw(len(users), torch.Generator().manual_seed(6))
    h3 = torch.cat([model.encode(g.inputs, g.users, other.take(g.rows))[g.real] for g in grouped.groups])
    assert not torch.allclose(h3[torch.argsort(grouped.inter)], h1, atol=1e-3)


def test_resume_refuses_a_checkpoint_from_before_the_layout_free_noise(tmp_path, tiny_cfg):
    split = ufnlib.leave_one_out(ufnlib.load(tiny_cfg.dataset))
    tr = Trainer(tiny_cfg, split, ckpt_path=tmp_path / "c.pt", progress=False, stop_after_epochs=1).fit()
    st = torch.load(tmp_path / "c.pt", weights_only=False)
    assert Trainer(tiny_cfg, split, ckpt_path=tmp_path / "c.pt", progress=False).try_resume()
    del st["g_noise"]
    torch.save(st, tmp_path / "c.pt")
    with pytest.warns(RuntimeWarning, match="starts again"):
        assert not Trainer(tiny_cfg, split, ckpt_path=tmp_path / "c.pt", progress=False).try_resume()
    assert tr.epoch == 1


def test_grid_bundles_group_runs_that_may_share_a_bundle():
    from ufnlib.experiments.grid import bundles
    sas = cfgs_for("sasrec")
    bert = cfgs_for("bert4rec")
    odd = sas[0].replace(seed=7, l2_emb=0.1)                    # bundles with the others
    wide = sas[0].replace(seed=8, hidden=32)                     # another shape: a bundle of its own
    out = bundles([sas[0], bert[0], sas[1], odd, wide, sas[2], bert[1]], size=2)
    assert [[c.seed for c in b] for b in out] == [[1, 2], [1, 2], [7, 3], [8]]
    assert [b[0].backbone for b in out] == ["sasrec", "bert4rec", "sasrec", "sasrec"]
    for b in out:
        check_compatible(b)


def test_run_grid_in_bundles_and_archive_with_checkpoints(tmp_path):
    from ufnlib.experiments import grid
    cfgs = cfgs_for("sasrec", max_epochs=3)
    res = grid.run_grid(cfgs[:2], root=tmp_path / "a", workers=1, threads=1, bundle=2, chunks=2, verbose=False)
    assert res.complete and len(res.computed) == 2
    assert [r["env"]["bundle"]["size"] for r in res.records] == [2, 2]
    # an unfinished run travels as its checkpoint and resumes elsewhere
    assert run_bundle(cfgs[2:], root=tmp_path / "a", stop_after_epochs=1) == [None]
    arc = grid.archive(tmp_path / "x.tar.gz", cfgs, root=tmp_path / "a", checkpoints=True)
    assert arc["runs"] == 2 and arc["checkpoints"] == 1
    got = grid.import_archive(tmp_path / "x.tar.gz", root=tmp_path / "b")
    assert got["imported"] == 2 and got["checkpoints"] == [config_key(cfgs[2])]
    rec = run(cfgs[2], root=tmp_path / "b", progress=False)
    assert rec["resumed_from_epoch"] == 1 and rec["selection"]["epochs_run"] == 3
    assert grid.archive(tmp_path / "y.tar.gz", cfgs, root=tmp_path / "b", checkpoints=True)["checkpoints"] == 0


@pytest.mark.parametrize("backbone", ["sasrec", "ssept"])
def test_bundle_on_the_tensor_code_path(monkeypatch, backbone):
    """Without numba every loop takes its tensor code, the path a GPU runs (dropout and SSE
    hashes, gather_dot, the FMR memory, the sampler): bundled runs still train as their singles."""
    import ufnlib.data.compiled as compiled
    monkeypatch.setattr(compiled, "HAVE_NUMBA", False)
    cfgs = cfgs_for(backbone, max_epochs=4)[:2]
    split = load_split(DS)
    single = [Trainer(c, split, progress=False).fit() for c in cfgs]
    bundled = [Trainer(c, split, progress=False) for c in cfgs]
    assert bundled[0].sampler.kernel is None
    Bundle(bundled, chunks=2).fit()
    for s, b in zip(single, bundled):
        np.testing.assert_allclose(losses(b), losses(s), rtol=2e-6)
        assert b.best["epoch"] == s.best["epoch"]
