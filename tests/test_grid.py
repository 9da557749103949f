"""ufnlib.experiments.profiles and .grid: what each profile asks for, cached vs missing, computing on an
executor (threads, processes, Dask), failures reported, and moving a cache as one archive."""
from __future__ import annotations

import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY

from ufnlib import Config, config_key, load_ranks, load_record
from ufnlib.__main__ import main as cli_main
from ufnlib.config import ConfigError
from ufnlib.experiments import grid, profiles


def tiny(**kw) -> Config:
    return Config(dataset=TINY, max_epochs=2, hidden=8, n_neg=4, maxlen=8, patience=50, **kw)


# --------------------------------------------------------------------------------- profiles
def test_profiles_build_valid_configs():
    for p in profiles.PROFILES:
        for c in profiles.profile_runs(p):
            assert isinstance(c, Config)
    smoke = profiles.profile_runs("smoke")
    assert {c.dataset for c in smoke} == {profiles.SMOKE_DATASET}
    assert all(c.max_epochs == 10 for c in smoke)
    # a fixed warm-up everywhere but in notebook 09's comparison of warm-up rules
    validation = [c for c in smoke if c.warmup != "fixed"]
    assert validation and set(validation) <= set(profiles.protocol_study("smoke"))
    assert {c.warmup for c in validation} == {"validation"}


def test_quick_profile_is_the_papers_seed1_beauty_runs():
    runs = profiles.profile_runs("quick")
    assert sorted(c.strategy for c in runs) == ["ema_eval", "ufn", "uniform"]
    assert {(c.dataset, c.backbone, c.seed) for c in runs} == {("beauty", "sasrec", 1)}
    # the paper's settings, so the quick runs are a subset of the paper profile's
    assert all(c == Config(dataset="beauty", strategy=c.strategy) for c in runs)
    paper_runs = set(profiles.profile_runs("paper"))
    assert all(c in paper_runs for c in runs)


def test_paper_profile_grid():
    t2 = profiles.main_results("paper")
    assert len(t2) == 3 * 3 * 2 * 3 and len(set(t2)) == len(t2)
    assert all(c == Config(**{**c.to_dict()}) for c in t2 if isinstance(c, Config))
    hp = profiles.hyperparameters("paper")
    ufn = [c for c in hp if c.strategy == "ufn"]
    assert sorted({c.alpha for c in ufn}) == [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert sorted({c.m for c in ufn}) == [1, 2, 3, 4, 5, 6, 8, 10]          # 5 = the default
    assert sorted({c.decay for c in ufn}) == [0.9, 0.99, 0.995, 0.999]
    assert sorted({c.batch_size for c in hp if c.strategy == "uniform"}) == [32, 64, 128, 256, 512]
    # one field changed at a time
    d = Config(strategy="ufn")
    assert all(sum(getattr(c, f) != getattr(d, f) for f in ("alpha", "m", "decay", "batch_size")) <= 1 for c in ufn)
    assert len(set(hp)) == len(hp) == (7 + 7 + 3 + 4) * 3 + 5 * 3
    t4 = profiles.srns_comparison("paper")
    assert [c.strategy for c in t4[::3]] == list(profiles.TABLE4)
    d = profiles.describe("paper")
    assert d.loc["total (distinct)", "runs"] == len(profiles.profile_runs("paper"))


def test_strategy_names_are_a_fixed_table():
    """The strategy names are a literal tuple in config.py that nothing extends at import time,
    each is a row of SPECS (in the same order), and an unknown name says which ones exist."""
    import ast
    root = Path(__file__).resolve().parent.parent / "ufnlib"
    tree = ast.parse((root / "config.py").read_text())
    lit = [n.value for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "STRATEGIES"
                                                                           for t in n.targets)]
    assert len(lit) == 1 and isinstance(lit[0], ast.Tuple) and all(isinstance(e, ast.Constant) for e in lit[0].elts)
    srcs = [p.read_text() for p in root.rglob("*.py")]
    assert not [t for t in srcs if "global STRATEGIES" in t or "STRATEGIES +" in t]
    from ufnlib.config import STRATEGIES
    from ufnlib.negatives.strategies import SPECS
    assert tuple(SPECS) == STRATEGIES == tuple(e.value for e in lit[0].elts)
    assert {s.detector for s in SPECS.values()} == {None, "fmr", "srns", "srns_rec"}
    with pytest.raises(ConfigError, match="strategy 'srns' unknown; choose from"):
        Config(strategy="srns")
    with pytest.raises(ConfigError):
        profiles.make(dataset="yelp", dropout=2.0)


def test_profile_errors_are_loud():
    with pytest.raises(ValueError, match="profile 'fast' unknown"):
        profiles.main_results("fast")
    with pytest.raises(ValueError, match="notebook '07' unknown"):     # 07 and 08 run no grid
        profiles.plan("07", "smoke")


# ------------------------------------------------------------------------------------- grid
def test_missing_cached_and_inline_compute(tmp_path):
    cfgs = [tiny(seed=1), tiny(seed=2), tiny(seed=1)]           # a duplicate is computed once
    assert grid.missing(cfgs, tmp_path) == cfgs[:2]
    res = grid.run_grid(cfgs, root=tmp_path, compute=False)
    assert res.records == [] and res.missing == cfgs[:2] and not res.complete
    res = grid.run_grid(cfgs, root=tmp_path, workers=1, threads=1, verbose=False)
    assert sorted(res.computed) == sorted(config_key(c) for c in cfgs[:2])
    assert [r["key"] for r in res.records] == [config_key(c) for c in cfgs[:2]] and res.complete
    assert grid.missing(cfgs, tmp_path) == []
    again = grid.run_grid(cfgs, root=tmp_path, workers=1, verbose=False)
    assert again.computed == [] and len(again.records) == 2
    assert res.select(seed=2)[0]["config"]["seed"] == 2 and res.select(seed=3) == []


def test_thread_executor_matches_inline(tmp_path):
    """Any concurrent.futures executor works; the numbers do not depend on where a run ran. (One
    thread: runs in concurrent threads of one process share torch's global RNG, see run_grid.)"""
    cfgs = [tiny(strategy="uniform"), tiny(strategy="ufn", warmup="fixed", warmup_epochs=1)]
    with ThreadPoolExecutor(1) as ex:
        res = grid.run_grid(cfgs, executor=ex, root=tmp_path / "a", threads=1, verbose=False)
    assert len(res.computed) == 2 and res.complete
    inline = grid.run_grid(cfgs, root=tmp_path / "b", workers=1, threads=1, verbose=False)
    for a, b in zip(res.records, inline.records):
        assert a["metrics"] == b["metrics"]
        assert np.array_equal(load_ranks(a["key"], tmp_path / "a")["test/full"],
                              load_ranks(b["key"], tmp_path / "b")["test/full"])


def test_process_pool_default(tmp_path):
    """The default executor: a local pool of spawned processes, one torch thread each here."""
    cfgs = [tiny(seed=1), tiny(seed=2)]
    res = grid.run_grid(cfgs, root=tmp_path, workers=2, threads=1, verbose=False)
    assert res.complete and len(res.computed) == 2 and not res.failed
    assert load_record(cfgs[1], tmp_path)["config"]["seed"] == 2


def test_dask_executor(tmp_path):
    """Dask's executor (client.get_executor()) is a concurrent.futures executor (in-process
    LocalCluster here, to stay light)."""
    distributed = pytest.importorskip("dask.distributed")
    cfgs = [tiny(seed=3), tiny(seed=4)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        res = grid.run_grid(cfgs, executor=client.get_executor(), root=tmp_path / "a", threads=1, verbose=False)
    assert res.complete and len(res.computed) == 2
    inline = grid.run_grid(cfgs, root=tmp_path / "b", workers=1, threads=1, verbose=False)
    assert [r["metrics"] for r in res.records] == [r["metrics"] for r in inline.records]


def test_concurrent_threads_warn():
    with ThreadPoolExecutor(2) as ex, pytest.warns(UserWarning, match="global RNG"):
        grid.run_grid([], executor=ex)


def test_failed_run_is_reported_and_others_go_on(tmp_path):
    bad = Config(dataset="synthetic:users=60,items=50,nonsense=1", max_epochs=1, hidden=8, n_neg=4, maxlen=8)
    good = tiny(seed=5)
    res = grid.run_grid([bad, good], root=tmp_path, workers=1, threads=1, verbose=False)
    assert [r["key"] for r in res.records] == [config_key(good)]
    assert res.missing == [bad] and len(res.failed) == 1
    (label, err), = res.failed.items()
    assert "nonsense" in err and label.startswith("synthetic:users=60,items=50,nonsense=1/")
    assert "FAILED" in res.summary()


# --------------------------------------------------------------------------------- archives
def test_archive_round_trip(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cfgs = [tiny(seed=1), tiny(seed=2)]
    grid.run_grid(cfgs, root=a, workers=1, threads=1, verbose=False)
    out = grid.archive(tmp_path / "runs.tar.gz", cfgs + [tiny(seed=9)], root=a)
    assert out["runs"] == 2 and out["files"] == 4 and out["not_cached"] == [config_key(tiny(seed=9))]
    with tarfile.open(tmp_path / "runs.tar.gz") as tar:
        names = tar.getnames()
    assert sorted(names) == sorted(f"runs/{config_key(c)}.{e}" for c in cfgs for e in ("json", "npz"))
    got = grid.import_archive(tmp_path / "runs.tar.gz", root=b)
    assert got["imported"] == 2 and got["refused"] == [] and got["incomplete"] == []
    assert grid.missing(cfgs, b) == []
    for c in cfgs:
        assert load_record(c, b) == load_record(c, a)
        assert all(np.array_equal(v, load_ranks(c, a)[k]) for k, v in load_ranks(c, b).items())
        assert not (b / "models" / f"{config_key(c)}.pt").exists()      # records + ranks only
    assert grid.import_archive(tmp_path / "runs.tar.gz", root=b)["already_cached"] == 2
    # with the weights
    grid.archive(tmp_path / "m.tar.gz", cfgs, root=a, models=True)
    grid.import_archive(tmp_path / "m.tar.gz", root=tmp_path / "c")
    assert (tmp_path / "c" / "models" / f"{config_key(cfgs[0])}.pt").is_file()


def test_import_refuses_foreign_members(tmp_path):
    a = tmp_path / "a"
    c = tiny(seed=1)
    grid.run_grid([c], root=a, workers=1, threads=1, verbose=False)
    k = config_key(c)
    rec = json.loads((a / "runs" / f"{k}.json").read_text())
    bad = tmp_path / "bad.tar.gz"
    fake_key = "0123456789abcdef"
    (tmp_path / "evil").write_text("x")
    (tmp_path / "wrong.json").write_text(json.dumps({**rec, "key": fake_key}))
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(tmp_path / "evil", arcname="../evil")
        tar.add(tmp_path / "evil", arcname="runs/notes.txt")
        tar.add(tmp_path / "wrong.json", arcname=f"runs/{fake_key}.json")   # key disagrees with its config
        tar.add(a / "runs" / f"{k}.json", arcname=f"runs/{k}.json")          # record without its ranks
    got = grid.import_archive(bad, root=tmp_path / "b")
    assert got["imported"] == 0 and got["incomplete"] == [k]
    assert "../evil" in got["refused"] and "runs/notes.txt" in got["refused"]
    assert any(fake_key in r for r in got["refused"])
    assert not (tmp_path / "b" / "runs").exists() and not (tmp_path / "b" / ".." / "evil").exists()


def test_cli_grid_dry_run_archive_and_import(tmp_path, capsys):
    a, b, arc = tmp_path / "a", tmp_path / "b", tmp_path / "out.tar.gz"
    assert cli_main(["grid", "--profile", "smoke", "--notebook", "06", "--dry-run", "--results", str(a)]) == 0
    out = capsys.readouterr().out
    assert "profile smoke, notebooks 06: 2 runs, 2 not cached" in out and "0 of 2 runs available" in out
    assert cli_main(["grid", "--profile", "smoke", "--notebook", "06", "--workers", "1", "--threads", "1",
                     "--results", str(a), "--archive", str(arc), "--with-models"]) == 0
    assert "archive" in capsys.readouterr().out
    assert cli_main(["grid", "--import", str(arc), "--results", str(b)]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 2
    plan = profiles.case_study("smoke")
    assert grid.missing(plan, b) == [] and (b / "models").is_dir()
    with pytest.raises(SystemExit, match="--profile"):
        cli_main(["grid", "--results", str(b)])


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_run_labels_tell_every_run_of_a_profile_apart(profile):
    """Failures are reported and missing runs listed by label: two configs of one profile never
    share one (the protocol study's fixed-budget and warm-up runs differ from the default runs
    only in fields outside the sweeps)."""
    from ufnlib.experiments import profiles
    runs = profiles.profile_runs(profile)
    labels = [profiles.run_label(c) for c in runs]
    assert len(set(labels)) == len(runs)
    if profile == "paper":
        assert "beauty/sasrec/ufn/s1/budget=200" in labels
        assert "beauty/sasrec/ufn/s1/warmup=validation:5" in labels


def test_profile_runs_come_seed_first():
    """The grid computes every notebook's first seed before any second seed (notebook order within
    a seed), so a partial grid gives every table a first complete seed."""
    runs = profiles.profile_runs("paper")
    seeds = [c.seed for c in runs]
    assert seeds == sorted(seeds) and seeds[0] == 1 and seeds[-1] == 3
    first = [c for c in runs if c.seed == 1]
    assert first[:18] == [c for c in profiles.main_results("paper") if c.seed == 1]       # Table 2 leads
    assert set(runs) == set(c for nb in profiles.NOTEBOOKS for c in profiles.plan_on(nb, "paper"))


def test_summary_groups_a_long_missing_list_by_config():
    """A few missing runs are named one a line; many are grouped by config with their seeds, and
    a failed run keeps its own line with the error."""
    from ufnlib.experiments.profiles import run_label
    few = grid.GridResult(missing=[Config(strategy="ufn", seed=s) for s in (1, 2)])
    assert few.summary().splitlines()[2:] == ["  - beauty/sasrec/ufn/s1", "  - beauty/sasrec/ufn/s2"]
    many = [Config(strategy="ufn", m=m, seed=s) for m in (1, 2, 4, 6, 8) for s in (1, 2, 3)]
    res = grid.GridResult(missing=many, failed={run_label(many[0]): "ValueError: boom"})
    lines = res.summary(listed=12).splitlines()
    assert lines[1].endswith(": 15") and lines[2] == "  - beauty/sasrec/ufn/s1/m=1: FAILED ValueError: boom"
    assert lines[3:] == ["  - beauty/sasrec/ufn/m=1: seeds 2, 3"] + [
        f"  - beauty/sasrec/ufn/m={m}: seeds 1, 2, 3" for m in (2, 4, 6, 8)]
    assert run_label(many[0], seed=False) == "beauty/sasrec/ufn/m=1"
