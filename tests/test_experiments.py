"""Config validation, determinism, the result cache, resume after interruption, and the CLI."""
from __future__ import annotations

import copy
import json
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import PROJECT_ROOT, PYTHON

import ufnlib
from ufnlib import Config, ConfigError, config_key
from ufnlib.__main__ import main as cli_main
from ufnlib.config import CACHE_VERSION
from ufnlib.experiments.splits import load_split
from ufnlib.experiments.store import load_model, load_ranks, load_record, record_path
from ufnlib.training.evaluate import Evaluator

TIMING = {"train_seconds", "eval_seconds"}


def strip_timing(history):
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


# ---------------------------------------------------------------------------------- config
def test_unknown_key_names_it_and_suggests():
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"dataset": "yelp", "dropuot": 0.2})
    msg = str(e.value)
    assert "'dropuot'" in msg and "did you mean 'dropout'" in msg
    with pytest.raises(ConfigError, match="unknown key 'foo'"):
        Config().replace(foo=1)


@pytest.mark.parametrize("kw, field", [
    (dict(dropout=1.5), "dropout"), (dict(dropout=-0.1), "dropout"), (dict(n_neg=0), "n_neg"),
    (dict(decay=1.0), "decay"), (dict(hidden=10, heads=3), "divisible"),
    (dict(max_epochs=0), "max_epochs"), (dict(maxlen=2.5), "maxlen"), (dict(lr=0.0), "lr"),
    (dict(backbone="gru4rec"), "backbone"), (dict(strategy="nope"), "strategy"),
    (dict(select_metric="auc"), "select_metric"), (dict(alpha=-1.0), "alpha"),
    (dict(epoch_mode="epochs"), "epoch_mode")])
def test_out_of_range_values_raise(kw, field):
    with pytest.raises(ConfigError, match=field):
        Config(**kw)
    with pytest.raises(ConfigError, match=field):
        Config.from_dict(kw)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Config().seed = 3


def test_config_key_stable_and_sensitive():
    a = Config(dataset="yelp", n_neg=50)
    assert config_key(a) == config_key(Config(n_neg=50, dataset="yelp"))
    assert config_key(a) == config_key(Config.from_dict({"dataset": "yelp", "n_neg": 50}))
    assert config_key(a) == config_key(Config(dataset="yelp").replace(n_neg=50))
    assert config_key(Config()) == config_key(Config(seed=1))       # the default value
    key = config_key(a)
    assert len(key) == 16 and all(c in "0123456789abcdef" for c in key)
    changed = {config_key(a.replace(**{f: v})) for f, v in
               [("seed", 2), ("n_neg", 51), ("dropout", 0.4), ("dataset", "sports"),
                ("attend_padding", True), ("lr", 2e-3)]}
    assert key not in changed and len(changed) == 6
    if CACHE_VERSION == 1:
        # Cached results are named by this key: it must not change by accident (e.g. a new
        # field or a reordering). Update only together with a deliberate CACHE_VERSION bump.
        assert config_key(Config()) == "d4ca9604853992e2"
        assert key == "f36202857c2e8230"


def test_config_round_trip():
    c = Config(dataset="sports", seed=4, alpha=0.1)
    assert Config.from_dict(c.to_dict()) == c


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_results(tmp_path, tiny_cfg):
    r1 = ufnlib.run(tiny_cfg, root=tmp_path / "a", progress=False)
    r2 = ufnlib.run(tiny_cfg, root=tmp_path / "b", progress=False)
    assert r1["metrics"] == r2["metrics"]
    assert strip_timing(r1["history"]) == strip_timing(r2["history"])
    assert r1["selection"] == r2["selection"]
    k1, k2 = load_ranks(tiny_cfg, tmp_path / "a"), load_ranks(tiny_cfg, tmp_path / "b")
    assert set(k1) == {"valid/sampled", "valid/full", "test/sampled", "test/full", "users"}
    for k in k1:
        assert np.array_equal(k1[k], k2[k]), k
    other = ufnlib.run(tiny_cfg.replace(seed=2), root=tmp_path / "a", progress=False)
    assert strip_timing(other["history"]) != strip_timing(r1["history"])
    assert other["key"] != r1["key"]


# ---------------------------------------------------------------------------------- cache
def test_record_contents_and_cache_hit(tmp_path, tiny_cfg):
    rec = ufnlib.run(tiny_cfg, root=tmp_path, progress=False)
    key = config_key(tiny_cfg)
    rpath = record_path(tiny_cfg, tmp_path)
    assert rpath == tmp_path / "runs" / f"{key}.json"
    assert json.loads(rpath.read_text()) == rec                     # JSON parses, same record
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.part"))
    assert not (tmp_path / "checkpoints" / f"{key}.pt").exists()    # removed when done
    assert (tmp_path / "models" / f"{key}.pt").is_file()
    assert rec["key"] == key and rec["config"] == tiny_cfg.to_dict()
    assert rec["resumed_from_epoch"] == 0
    assert len(rec["history"]) == rec["selection"]["epochs_run"] == tiny_cfg.max_epochs
    best = rec["selection"]["best_epoch"]
    assert rec["selection"]["best_score"] == max(h["valid"]["ndcg@10"] for h in rec["history"])
    assert rec["history"][best - 1]["valid"]["ndcg@10"] == rec["selection"]["best_score"]
    # the final valid evaluation of the selected weights reproduces the selection score
    assert rec["metrics"]["valid"]["sampled"]["ndcg@10"] == rec["selection"]["best_score"]
    # stored per-user ranks agree with the stored metrics
    ranks = load_ranks(tiny_cfg, tmp_path)
    for which in ("valid", "test"):
        for mode in ("sampled", "full"):
            assert ufnlib.metrics_from_ranks(ranks[f"{which}/{mode}"]) == rec["metrics"][which][mode]
    split = load_split(tiny_cfg.dataset)
    assert ranks["users"].tolist() == np.flatnonzero(split.has_eval).tolist()
    # the saved model reproduces the test ranks
    model = load_model(tiny_cfg, tmp_path)
    ev = Evaluator(split, tiny_cfg.maxlen, tiny_cfg.eval_neg, tiny_cfg.eval_seed)
    r = ev.ranks(model, "test")
    assert np.array_equal(r["full"], ranks["test/full"])
    assert np.array_equal(r["sampled"], ranks["test/sampled"])

    # second call: the cached record, nothing recomputed or rewritten
    mtime = rpath.stat().st_mtime_ns
    assert ufnlib.is_cached(tiny_cfg, tmp_path)
    again = ufnlib.run(tiny_cfg, root=tmp_path, progress=False)
    assert again == rec and again["wall_seconds"] == rec["wall_seconds"]
    assert rpath.stat().st_mtime_ns == mtime
    assert load_record(tiny_cfg, tmp_path) == rec
    assert not ufnlib.is_cached(tiny_cfg.replace(seed=5), tmp_path)


def test_record_accessor_reads_what_the_json_holds(tmp_path, tiny_cfg):
    """A record is a ``store.Record``: the accessors read the nested JSON keys, ``lookup`` is the
    one cache check (None for another config), and the paths are spelled in one place."""
    from ufnlib.experiments import store
    rec = ufnlib.run(tiny_cfg, root=tmp_path, progress=False)
    assert isinstance(rec, store.Record) and isinstance(store.lookup(tiny_cfg, tmp_path), store.Record)
    assert rec.key == rec["key"] == config_key(tiny_cfg) and rec.seed == rec["config"]["seed"]
    assert (rec.strategy, rec.dataset, rec.backbone) == (tiny_cfg.strategy, tiny_cfg.dataset, tiny_cfg.backbone)
    assert rec.value("ndcg@10", "full", "valid") == rec["metrics"]["valid"]["full"]["ndcg@10"]
    assert rec.best_epoch == rec["selection"]["best_epoch"] and rec.history == rec["history"]
    assert rec.field("patience_min_steps") == 0 and rec.protocol_log == [] and not rec.reports_teacher
    assert store.lookup(tiny_cfg.replace(seed=tiny_cfg.seed + 1), tmp_path) is None
    assert store.record_path(rec.key, tmp_path).is_file() and store.ranks_path(rec.key, tmp_path).is_file()
    assert store.model_path(tiny_cfg, tmp_path).is_file() and not store.checkpoint_path(tiny_cfg, tmp_path).exists()


def test_stale_record_is_recomputed(tmp_path, tiny_cfg):
    rec = ufnlib.run(tiny_cfg, root=tmp_path, progress=False)
    rpath = record_path(tiny_cfg, tmp_path)
    tampered = dict(rec, config=dict(rec["config"], n_neg=7), wall_seconds=-1.0)
    rpath.write_text(json.dumps(tampered))
    assert not ufnlib.is_cached(tiny_cfg, tmp_path)
    new = ufnlib.run(tiny_cfg, root=tmp_path, progress=False)
    assert new["config"]["n_neg"] == tiny_cfg.n_neg and new["wall_seconds"] >= 0
    assert new["metrics"] == rec["metrics"]
    assert ufnlib.is_cached(tiny_cfg, tmp_path)


def test_list_runs(tmp_path, tiny_cfg, capsys):
    assert len(ufnlib.list_runs(tmp_path)) == 0
    rec = ufnlib.run(tiny_cfg, root=tmp_path, progress=False)
    df = ufnlib.list_runs(tmp_path)
    assert df["key"].tolist() == [rec["key"]]
    assert df["test_full_ndcg@10"].iloc[0] == rec["metrics"]["test"]["full"]["ndcg@10"]
    assert cli_main(["list", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert rec["key"] in out and tiny_cfg.dataset in out


# --------------------------------------------------------------------------------- resume
def test_interrupted_run_resumes_identically(tmp_path, tiny_cfg):
    cfg = tiny_cfg.replace(max_epochs=5)
    root = tmp_path / "interrupted"
    assert ufnlib.run(cfg, root=root, progress=False, stop_after_epochs=2) is None
    key = config_key(cfg)
    ckpt = root / "checkpoints" / f"{key}.pt"
    assert ckpt.is_file()
    assert not record_path(cfg, root).exists()
    assert torch.load(ckpt, weights_only=False)["epoch"] == 2
    resumed = ufnlib.run(cfg, root=root, progress=False)
    assert resumed["resumed_from_epoch"] == 2
    assert not ckpt.exists()
    full = ufnlib.run(cfg, root=tmp_path / "straight", progress=False)
    assert full["resumed_from_epoch"] == 0
    assert resumed["metrics"] == full["metrics"]
    assert strip_timing(resumed["history"]) == strip_timing(full["history"])
    assert resumed["selection"] == full["selection"]
    a, b = load_ranks(cfg, root), load_ranks(cfg, tmp_path / "straight")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_load_state_leaves_the_given_state_alone(tiny_cfg):
    """A state held in memory (not fresh from disk) stays as it was when another trainer loads
    it and trains on: Adam would otherwise update the caller's moment tensors in place."""
    from ufnlib.training.train import Trainer
    split = load_split(tiny_cfg.dataset)
    a = Trainer(tiny_cfg, split, progress=False)
    a.history.append(a.run_epoch())
    a.epoch += 1
    st = a.state()
    before = {k: v.clone() for k, v in a.opt.state_dict()["state"][0].items()}
    b = Trainer(tiny_cfg, split, progress=False)
    b.load_state(st)
    b.run_epoch()
    after = a.opt.state_dict()["state"][0]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(b.opt.state_dict()["state"][0]["exp_avg"], before["exp_avg"])


def _train_cmd(root, *extra):
    return [PYTHON, "-m", "ufnlib", "train", "--dataset", "synthetic:users=80,items=60",
            "--set", "max_epochs=40", "--set", "hidden=16", "--set", "n_neg=5",
            "--threads", "1", "--results", str(root), "--quiet", "--json", *extra]


def test_killed_process_resumes_identically(tmp_path, cli_env):
    cfg = Config(dataset="synthetic:users=80,items=60", max_epochs=40, hidden=16, n_neg=5)
    root = tmp_path / "killed"
    ckpt = root / "checkpoints" / f"{config_key(cfg)}.pt"
    proc = subprocess.Popen(_train_cmd(root), cwd=PROJECT_ROOT, env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300            # generous: a loaded machine is slow to start
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert ckpt.exists(), f"no checkpoint appeared: {proc.poll()} {proc.stderr.read()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert not record_path(cfg, root).exists()                     # really killed mid-run
    epoch = torch.load(ckpt, weights_only=False)["epoch"]
    assert 1 <= epoch < cfg.max_epochs

    done = subprocess.run(_train_cmd(root), cwd=PROJECT_ROOT, env=cli_env, capture_output=True,
                          text=True, timeout=300)
    printed = json.loads(done.stdout)
    assert done.returncode == (3 if printed["failed"] else 0), done.stderr[-2000:]   # 3: at chance
    rec = load_record(cfg, root)
    assert rec["resumed_from_epoch"] == epoch >= 1
    assert printed["key"] == rec["key"] and printed["test_full"] == rec["metrics"]["test"]["full"]
    assert not ckpt.exists()

    straight = ufnlib.run(cfg, root=tmp_path / "straight", progress=False)
    assert straight["resumed_from_epoch"] == 0
    assert rec["metrics"]["test"] == straight["metrics"]["test"]
    assert rec["metrics"]["valid"] == straight["metrics"]["valid"]
    assert strip_timing(rec["history"]) == strip_timing(straight["history"])


# ------------------------------------------------------------------------------------- CLI
def test_cli_unknown_key_exits_nonzero(tmp_path, cli_env):
    p = subprocess.run(_train_cmd(tmp_path, "--set", "foo=1"), cwd=PROJECT_ROOT, env=cli_env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "unknown key" in p.stderr and "'foo'" in p.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, text", [
    (["--set", "dropuot=0.1"], "did you mean 'dropout'"),
    (["--set", "max_epochs=abc"], "expects int"),
    (["--set", "attend_padding=maybe"], "true/false"),
    (["--set", "dropout=1.5"], "dropout must be in"),
    (["--set", "n_neg"], "KEY=VALUE"),
    (["--strategy", "nope"], "strategy 'nope' unknown"),
    (["--dataset", "beuaty"], "unknown dataset 'beuaty'"),          # DataError, no traceback
])
def test_cli_bad_arguments(tmp_path, args, text):
    with pytest.raises(SystemExit) as e:
        cli_main(["train", "--dataset", "synthetic:users=20,items=20", "--results", str(tmp_path),
                  "--quiet", *args])   # a later --dataset wins
    assert e.value.code not in (0, None)
    assert text in str(e.value.code)
    assert not (tmp_path / "runs").exists()


def test_cli_train_prints_and_caches(tmp_path, tiny_cfg, capsys):
    argv = ["train", "--dataset", tiny_cfg.dataset, "--results", str(tmp_path), "--quiet",
            "--set", "max_epochs=3", "--set", "hidden=16", "--set", "n_neg=5",
            "--set", "maxlen=10", "--set", "patience=50", "--json"]
    rc = cli_main(argv)
    out = json.loads(capsys.readouterr().out)
    assert rc == (3 if out["failed"] else 0)                     # 3 epochs may leave it at chance
    rec = load_record(tiny_cfg, tmp_path)                         # same config as the fixture
    assert out["key"] == rec["key"] == config_key(tiny_cfg)
    assert out["test_sampled"] == rec["metrics"]["test"]["sampled"]
    assert out["best_epoch"] == rec["selection"]["best_epoch"]


def test_record_of_other_generated_data_is_not_reused(tmp_path):
    """A cached synthetic run is recomputed when the generator now gives other data."""
    import json

    import ufnlib
    from ufnlib.experiments.store import record_path
    cfg = ufnlib.Config(dataset="synthetic:users=60,items=50", hidden=16, n_neg=5, max_epochs=1)
    rec = ufnlib.run(cfg, root=tmp_path, progress=False)
    assert ufnlib.is_cached(cfg, tmp_path)
    p = record_path(cfg, tmp_path)
    stale = {**rec, "dataset": {**rec["dataset"], "fingerprint": "0" * 16}}
    p.write_text(json.dumps(stale))
    assert not ufnlib.is_cached(cfg, tmp_path)
    again = ufnlib.run(cfg, root=tmp_path, progress=False)
    assert again["dataset"]["fingerprint"] == rec["dataset"]["fingerprint"]


def test_fields_a_strategy_never_reads_do_not_invalidate_its_record(tmp_path):
    """SRNS settings matter to the SRNS strategies only: a uniform record stays cached when they
    change (e.g. a new default), an SRNS record does not."""
    import json

    import ufnlib
    from ufnlib.experiments.store import record_path
    for strategy, reused in (("uniform", True), ("srns_removal", False)):
        cfg = ufnlib.Config(dataset="synthetic:users=60,items=50", strategy=strategy, hidden=16,
                            n_neg=10, max_epochs=1, warmup="fixed", warmup_epochs=0)
        rec = ufnlib.run(cfg, root=tmp_path, progress=False)
        p = record_path(cfg, tmp_path)
        old = {**rec, "config": {**rec["config"], "srns_tau": cfg.srns_tau * 4}}
        p.write_text(json.dumps(old))
        assert ufnlib.is_cached(cfg, tmp_path) == reused
        assert ufnlib.config_key(cfg.replace(srns_tau=cfg.srns_tau * 4)) != ufnlib.config_key(cfg) or reused


@pytest.mark.parametrize("seconds, saves", [(1e9, [1, 6]), (0.0, [1, 2, 3, 4, 5, 6])])
def test_checkpoints_are_written_by_time(tmp_path, monkeypatch, seconds, saves):
    """A checkpoint after the first epoch, then only once ``checkpoint_seconds`` have passed, and
    at the end; resuming from the first one gives the run's numbers."""
    from ufnlib.training.train import Trainer
    cfg = Config(dataset="synthetic:users=80,items=60", max_epochs=6, patience=6, hidden=16, n_neg=5)
    split = ufnlib.load_split(cfg.dataset)
    tr = Trainer(cfg, split, ckpt_path=tmp_path / "c.pt", progress=False, checkpoint_seconds=seconds)
    at, first = [], {}
    real_save = Trainer.save

    def save(self):
        at.append(self.epoch)
        if self.epoch == 1:
            first.update(copy.deepcopy(self.state()))
        real_save(self)
    monkeypatch.setattr(Trainer, "save", save)
    tr.fit(resume=False)
    assert at == saves
    again = Trainer(cfg, split, progress=False)
    again.load_state(first)
    again.fit(resume=False)
    assert strip_timing(again.history) == strip_timing(tr.history)
