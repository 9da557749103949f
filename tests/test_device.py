"""Device plumbing that can be checked without a GPU: device resolution and its errors, batches
moved as a whole, samples drawn on the CPU generator, what a record says about where it ran, and
the commit a copied working tree (no .git) records."""
import subprocess

import numpy as np
import pytest
import torch

from ufnlib.data.batches import NegativeSampler, NextItemData, membership_keys
from ufnlib.experiments import provenance
from ufnlib.experiments import run as experiments
from ufnlib.experiments.provenance import environment, resolve_device


def test_resolve_device_default_env_and_argument(monkeypatch):
    monkeypatch.delenv("UFN_DEVICE", raising=False)
    assert resolve_device() == torch.device("cpu")
    monkeypatch.setenv("UFN_DEVICE", "cpu")
    assert resolve_device() == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("UFN_DEVICE", "cuda")
    with pytest.raises(ValueError, match="sees no CUDA GPU.*UFN_DEVICE"):
        resolve_device()


@pytest.mark.parametrize("name", ["bogus", "meta"])
def test_unknown_or_unsupported_device(name):
    with pytest.raises(ValueError, match="Fix: use cpu or cuda"):
        resolve_device(name)


def test_environment_names_the_device():
    env = environment(torch.device("cpu"))
    assert env["device"] == "cpu" and "gpu" not in env
    assert env["torch_threads"] == torch.get_num_threads()


def test_train_batch_moves_as_a_whole(tiny_split):
    data = NextItemData(tiny_split, maxlen=8)
    users = torch.from_numpy(data.train_users[:6])
    b = data.batch(users)
    c = b.to("cpu")
    assert len(c.groups) == len(b.groups)
    for g, h in zip(b.groups, c.groups):
        assert torch.equal(g.users, h.users) and torch.equal(g.inputs, h.inputs) and torch.equal(g.real, h.real)
    for f in ("targets", "inter", "pos_users"):
        assert torch.equal(getattr(b, f), getattr(c, f))


def test_sampler_stream_does_not_depend_on_the_caller(tiny_split):
    """The sampler always draws on its CPU generator; two samplers with the same seed give the
    same negatives, and none is a training item of its user."""
    keys = membership_keys(tiny_split, "train")
    s1 = NegativeSampler(keys, tiny_split.n_items, torch.Generator().manual_seed(5))
    s2 = NegativeSampler(keys, tiny_split.n_items, torch.Generator().manual_seed(5))
    users = torch.arange(tiny_split.n_users).repeat(3)
    a, b = s1.sample(users, 4), s2.sample(users, 4)
    assert a.device.type == "cpu" and torch.equal(a, b)
    for u, row in zip(users.tolist(), a.tolist()):
        assert not set(row) & set(tiny_split.train_seq(u).tolist())


def test_commit_of_a_copied_tree(monkeypatch):
    """Without git (a working tree copied to another machine) the sender's UFN_GIT_COMMIT is
    recorded, and said to come from there; without either, 'unknown'."""
    def no_git(*a, **k):
        raise OSError("git not found")
    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.delenv("UFN_GIT_COMMIT", raising=False)
    assert provenance.git_commit()["commit"] == "unknown"
    monkeypatch.setenv("UFN_GIT_COMMIT", "a" * 40)
    g = provenance.git_commit()
    assert g == {"commit": "a" * 40, "dirty": False, "source": "UFN_GIT_COMMIT"}


def test_models_are_saved_on_the_cpu(tmp_path, tiny_cfg):
    """Selected weights are stored as CPU tensors (loadable on a machine without a GPU)."""
    rec = experiments.run(tiny_cfg, root=tmp_path, progress=False)
    st = torch.load(tmp_path / "models" / f"{rec['key']}.pt")
    assert all(v.device.type == "cpu" for v in st.values())
    assert rec["env"]["device"] == "cpu"
    assert np.isfinite(rec["metrics"]["test"]["sampled"]["ndcg@10"])
