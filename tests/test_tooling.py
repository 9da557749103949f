"""The two top-level commands and their environment: pins agree, bootstrap is idempotent, CI runs
the README's command."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines) -> dict:
    out = {}
    for line in lines:
        m = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_pins_match_requirements():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    yml = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in yml
    pip_section = yml.split("- pip:", 1)[1].splitlines()
    assert _pins(pip_section) == req
    assert req["torch"] == "2.13.0"


def test_bootstrap_is_idempotent():
    """A second sourcing installs nothing and leaves `python` pointing at an env with torch."""
    cmd = "source scripts/bootstrap.sh && python -c 'import sys; print(sys.prefix)'"
    env = {k: v for k, v in os.environ.items()}
    subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=900)
    r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "installing" not in r.stderr
    assert r.stdout.strip()


def test_ci_runs_the_readme_command():
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    command = "UFN_DATA_DIR=../shared/data bash test.sh"
    assert command in ci.read_text()
    readme = (ROOT / "README.md").read_text()
    assert "bash test.sh" in readme and "bash run_all.sh" in readme


def test_gpu_grid_script_runs_a_list_and_archives_it(tmp_path):
    """scripts/gpu_grid.py (for a borrowed machine) on this CPU: smoke per strategy, the list in a
    process pool, one archive of the finished records that `grid --import` reads back."""
    import json
    import sys
    import tarfile
    out, res = tmp_path / "out", tmp_path / "res"
    env = {**os.environ, "UFN_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    spec = "synthetic:users=120,items=80/sasrec/ufn/1"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_grid.py"), "--out", str(out), "--workers", "1",
                        "--every", "5", "--results", str(res), spec, "synthetic:users=120,items=80/sasrec/nonsense/1"],
                       env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    status = json.loads((out / "status.json").read_text())
    assert status["final"] and status["archived_runs"] == 1
    assert status["dropped"] == [["sasrec", "nonsense"]]            # failed its smoke, left out
    assert [d["strategy"] for d in status["done"]] == ["ufn"] and status["done"][0]["ok"]
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = tar.getnames()
    assert len([n for n in names if n.endswith(".json")]) == 1 and any(n.endswith(".npz") for n in names)
    from ufnlib.experiments.grid import import_archive
    imp = import_archive(out / "runs.tar.gz", root=tmp_path / "home")
    assert imp["imported"] == 1


def test_gpu_grid_script_trains_bundles_and_archives_checkpoints(tmp_path):
    """scripts/gpu_grid.py --bundle: a bundle smoke per backbone, the list cut into bundles
    (grid.bundles; a run left alone trains singly), every run's record in the archive with its
    bundle noted. (Checkpoints in archives: test_bundle.py.)"""
    import json
    import sys
    import tarfile
    out, res = tmp_path / "out", tmp_path / "res"
    env = {**os.environ, "UFN_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    specs = [f"synthetic:users=120,items=80/sasrec/{st}/{seed}" for st, seed in (("ufn", 1), ("uniform", 2),
                                                                              ("ufn", 3))]
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_grid.py"), "--out", str(out), "--workers", "1",
                        "--every", "5", "--results", str(res), "--bundle", "2", "--checkpoints", *specs],
                       env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "smoke bundle sasrec: ok" in r.stdout and "2 bundle(s) of up to 2 runs" in r.stdout
    status = json.loads((out / "status.json").read_text())
    assert status["final"] and status["archived_runs"] == 3
    assert sorted(d["bundle"] for d in status["done"]) == [1, 2, 2] and all(d["ok"] for d in status["done"])
    with tarfile.open(out / "runs.tar.gz") as tar:
        recs = [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    assert sorted(r_.get("env", {}).get("bundle", {}).get("size", 1) for r_ in recs) == [1, 2, 2]


def test_bundle_benchmark_takes_turns_and_reports_run_epochs(tmp_path):
    import json
    import sys
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_bundle.py"), "--dataset",
                        "synthetic:users=120,items=80", "--warm", "1", "--epochs", "2", "--ks", "1", "2",
                        "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads(next(tmp_path.glob("bundle-*.json")).read_text())
    assert [x["setting"] for x in rep["rows"]] == ["single", "bundle 1", "bundle 2"]
    assert all(len(x["epochs"]) == 2 and x["run_epochs_per_s"] > 0 for x in rep["rows"])
    assert rep["rows"][2]["run_epochs_per_s"] == 2 / rep["rows"][2]["s_per_epoch"]


def test_speed_benchmark_interleaves_strategies_and_reports_own_memory(tmp_path):
    """benchmarks/bench_speed.py end to end on a small synthetic set: strategies in turns, each
    epoch timed, peak memory of each subprocess (not its parent's), a report that renders."""
    import json
    import sys
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_speed.py"), "--dataset",
                        "synthetic:users=120,items=80", "--warm", "1", "--epochs", "2", "--threads", "1",
                        "--strategies", "uniform", "ufn", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads(next(tmp_path.glob("speed-*.json")).read_text())
    assert rep["protocol"] == "interleaved"
    assert [x["strategy"] for x in rep["runs"]] == ["uniform", "ufn"]
    for run in rep["runs"]:
        assert len(run["epochs"]) == 2 and all(t > 0 for t in run["epochs"])
        assert 0 < run["rss_mb"][0] <= run["rss_mb"][1]
    uni, ufn = rep["runs"]
    assert uni["memory_mb"] == 0 and ufn["memory_mb"] > 0 and ufn["mined"] is not None
    md = next(tmp_path.glob("speed-*.md")).read_text()
    assert "interleaved" in md and "| ufn |" in md


def test_speed_benchmark_runs_a_second_commit_side_by_side(tmp_path):
    """``--baseline REV``: every strategy also runs REV's own code (its tree unpacked from git) in
    the same turns, and the report gives this checkout / REV per strategy."""
    import json
    import sys
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_speed.py"), "--dataset",
                        "synthetic:users=120,items=80", "--warm", "1", "--epochs", "2", "--threads", "1",
                        "--strategies", "uniform", "--baseline", "HEAD", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads(next(tmp_path.glob("speed-*-vs-*.json")).read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert rep["baseline"]["commit"] == head
    assert [(x["strategy"], x["code"]) for x in rep["runs"]] == [("uniform", "current"), ("uniform", "baseline")]
    assert all(len(x["epochs"]) == 2 and all(t > 0 for t in x["epochs"]) for x in rep["runs"])
    md = next(tmp_path.glob("speed-*-vs-*.md")).read_text()
    assert f"this checkout / {head[:8]}" in md and "| uniform | " in md


def test_lever_benchmark_times_variants_in_turns_and_checks_their_results(tmp_path):
    """benchmarks/bench_levers.py on a small synthetic set: every variant timed each round, and
    each variant's first losses compared with the trainer as it is (base against itself: identical)."""
    import json
    import sys
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_levers.py"), "--dataset",
                        "synthetic:users=120,items=80", "--threads", "1", "--variants", "base", "foreach",
                        "--steps", "2", "--rounds", "3", "--check", "2", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads(next(tmp_path.glob("levers-*.json")).read_text())
    assert rep["results"]["base"] == "identical" and set(rep["ms_per_step"]) == {"base", "foreach"}
    assert all(len(v) == 3 and min(v) > 0 for v in rep["ms_per_step"].values())
    assert "| foreach |" in next(tmp_path.glob("levers-*.md")).read_text()

def test_numerics_check_puts_reruns_beside_the_cached_runs(tmp_path):
    """benchmarks/check_numerics.py: reruns the configs into its own folder and compares them with
    the project cache's records of the same configs; the same code on the same seeds gives the
    same values (difference 0, within the spread), and the reruns' records are kept."""
    import json
    import sys

    from ufnlib.experiments import grid, profiles
    old, new, out = tmp_path / "old", tmp_path / "new", tmp_path / "out"
    cfgs = [profiles.make(**{**profiles.base("smoke"), "dataset": profiles.SMOKE_DATASET, "strategy": "uniform",
                             "seed": s}) for s in (1, 2)]
    assert not grid.run_grid(cfgs, root=old, workers=1, threads=1, verbose=False).missing
    cmd = [sys.executable, str(ROOT / "benchmarks" / "check_numerics.py"), "--root", str(new), "--profile",
           "smoke", "--dataset", profiles.SMOKE_DATASET, "--seeds", "1", "2", "--workers", "1", "--out", str(out)]
    env = {**os.environ, "UFN_RESULTS_DIR": str(old), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode != 0 and "--compute" in r.stderr                 # nothing computed unless asked
    r = subprocess.run(cmd + ["--compute"], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads(next(out.glob("numerics-*.json")).read_text())
    m = rep["metrics"]["test/sampled/ndcg@10"]
    assert m["old"] == m["new"] and m["diff"] == 0 and m["within"] is True
    assert [x["key"] for x in rep["old_runs"]] == [x["key"] for x in rep["new_runs"]]
    assert len(list((out / "numerics").glob("*/*.json"))) == 2
    # --against: the old side read from a folder of record files (an earlier check's reruns)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for f in next((out / "numerics").iterdir()).glob("*.json"):
        rec = json.loads(f.read_text())
        rec["metrics"]["test"]["sampled"]["ndcg@10"] += 0.5           # far outside any spread
        (earlier / f.name).write_text(json.dumps(rec))
    r = subprocess.run(cmd + ["--against", str(earlier), "--out", str(tmp_path / "out2")], capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads(next((tmp_path / "out2").glob("numerics-*.json")).read_text())
    assert rep["against"] == str(earlier) and rep["metrics"]["test/sampled/ndcg@10"]["within"] is False
    assert rep["metrics"]["test/sampled/hr@10"]["within"] is True
    assert f"records in `{earlier}`" in next((tmp_path / "out2").glob("numerics-*.md")).read_text()
    r = subprocess.run(cmd + ["--against", str(tmp_path)], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode != 0 and "lacks" in r.stderr


def test_the_library_finds_its_checkout():
    """PROJECT_ROOT is the checkout (the results cache, the data cache and the git commit of a
    record are found from it), wherever the module that defines it sits in the package."""
    import os

    from ufnlib.data.registry import PROJECT_ROOT
    from ufnlib.experiments import provenance, store
    assert PROJECT_ROOT == ROOT and (PROJECT_ROOT / "pyproject.toml").is_file()
    if not os.environ.get("UFN_RESULTS_DIR"):
        assert store.results_dir() == ROOT / "results"
    assert store.DEFAULT_RESULTS == ROOT / "results"
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        assert provenance.git_commit()["commit"] == head

def test_ruff_passes():
    """The linter configuration in pyproject.toml (ruff: line length 120, pyflakes, pycodestyle,
    import order) holds for the library, tests, scripts, benchmarks and the notebooks' .py pairs."""
    import shutil
    import sys
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    r = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """ufnlib's module graph from the sources: every ``from . import``, ``from ..x import`` and
    ``from ufnlib.x import``, at the top of a module or inside a function. ``from P import name``
    counts as an import of the module ``P.name`` when that module exists, else of ``P``."""
    import ast
    paths = {_module_name(p): p for p in (ROOT / "ufnlib").rglob("*.py")}
    graph = {m: set() for m in paths}
    for m, p in paths.items():
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Import):
                graph[m].update(a.name for a in n.names if a.name in paths)
            if not isinstance(n, ast.ImportFrom):
                continue
            if n.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (n.level - 1)]
                target = ".".join(base + ([n.module] if n.module else []))
            elif (n.module or "").split(".")[0] == "ufnlib":
                target = n.module
            else:
                continue
            for a in n.names:
                sub = f"{target}.{a.name}"
                graph[m].add(sub if sub in paths else target)
            graph[m].discard(m)
    return graph


# the documented layering, bottom up: a module may import its own layer and the ones below
LAYERS = {"ufnlib.files": 0, "ufnlib.paper": 0, "ufnlib.data": 1, "ufnlib.config": 2, "ufnlib.models": 3,
          "ufnlib.negatives": 3, "ufnlib.training": 4, "ufnlib.experiments": 5, "ufnlib.analysis": 6,
          "ufnlib": 7, "ufnlib.__main__": 7}


def _layer(mod: str) -> str:
    parts = mod.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else mod


def test_no_import_cycle_inside_ufnlib():
    """No module reaches itself through imports (including imports inside functions)."""
    graph = _import_graph()
    assert graph["ufnlib.data.datasets"] >= {"ufnlib.data.sequences", "ufnlib.data.registry",
                                              "ufnlib.data.owndata", "ufnlib.data.synthetic"}   # the graph is read
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph[m]):
            assert state.get(d) != 1, "import cycle: " + " -> ".join(path + [m, d])
            if d not in state:
                visit(d, path + [m])
        state[m] = 2
    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_imports_follow_the_layering():
    """analysis -> experiments -> training -> negatives / models -> config -> data -> files, paper
    (each subpackage's docstring says so): no import goes up a layer or sideways between models and
    negatives, and every module belongs to a layer."""
    graph = _import_graph()
    assert {_layer(m) for m in graph} == set(LAYERS)
    bad = []
    for m, deps in graph.items():
        for d in deps:
            lm, ld = _layer(m), _layer(d)
            if lm == ld:
                continue
            if LAYERS[ld] > LAYERS[lm] or (LAYERS[ld] == LAYERS[lm]):
                bad.append(f"{m} -> {d}")
    assert not bad, "imports against the layering: " + ", ".join(sorted(bad))
    assert all("ufnlib.analysis" not in {_layer(d) for d in deps} for m, deps in graph.items()
               if _layer(m) not in ("ufnlib.analysis", "ufnlib", "ufnlib.__main__"))


def test_device_session_script_runs_its_two_steps_on_a_cpu(tmp_path):
    """scripts/device_session.sh (the one command for a borrowed GPU) with UFN_DEVICE=cpu and tiny
    settings: a bundle benchmark report and a gpu_grid archive of bundled runs under $OUT."""
    import json
    import sys
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "UFN_DEVICE": "cpu", "UFN_RESULTS_DIR": str(tmp_path / "res"),
           "PYTHON": sys.executable, "DATASET": "synthetic:users=120,items=80", "KS": "1 2", "EPOCHS": "2",
           "BENCH_S": "200", "PROFILE": "smoke", "BUNDLE": "8", "WORKERS": "1", "GRID_S": "60",
           "GRID_START_S": "20", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "device_session.sh")], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads(next((out / "benchmarks").glob("bundle-*.json")).read_text())
    assert [x["setting"] for x in rep["rows"]] == ["single", "bundle 1", "bundle 2"]
    status = json.loads((out / "grid" / "status.json").read_text())
    assert status["final"] and status["archived_runs"] >= 8 and all(d["ok"] for d in status["done"])
    assert "bundle of 8:" in (out / "grid" / "gpu_grid.log").read_text()
    assert "[device] done" in (out / "session.log").read_text()


def _readme_script_in(root: Path, monkeypatch):
    """scripts/update_readme.py loaded as a module whose ROOT is ``root``, and the paper profile's
    tables folder there (created)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    tables = root / "results" / "paper" / "tables"
    for name, value in (("ROOT", root), ("TABLES", tables), ("BENCH", root / "results" / "benchmarks")):
        monkeypatch.setattr(mod, name, value)
    tables.mkdir(parents=True)
    return mod, tables


def test_readme_glance_counts_table2_cells_and_figure3_points(tmp_path, monkeypatch):
    """The README's findings glance reads the notebooks' tables: each Table 2 cell and each swept
    Figure 3 point gets the comparison model's word with its change, interval and seeds; Figure 3
    is counted raw and after the correction for the number of values swept."""
    import pandas as pd
    mod, t = _readme_script_in(tmp_path, monkeypatch)
    assert mod.verdicts_at_a_glance().startswith("Not computed yet")

    def cell(ds, rel, lo, hi, word, n=3, mixed=False):
        return dict(dataset=ds, backbone="SASRec", arm="+UFN", metric="ndcg@10", rel_improv=rel, ci_low=lo,
                    ci_high=hi, p_users=0.001, p_seeds=0.1, n_compared=n, effect=word, mixed=mixed)
    pd.DataFrame([cell("beauty", -0.01, -0.02, 0.002, "no clear difference"),
                  cell("yelp", -0.03, -0.04, -0.02, "hurts")]).to_csv(t / "table2_data.csv", index=False)

    def point(panel, value, rel, word, n=1, holm="", metric="ndcg@10", lo=float("nan"), hi=float("nan"), **kw):
        return dict(panel=panel, value=value, metric=metric, n=n, rel_improv=rel, ci_low=lo, ci_high=hi,
                    effect=word, effect_holm=holm or word, per_seed="", mixed=True, **kw)
    rows = [point("default", None, -0.01, "no clear difference", 3),
            point("alpha", 0.01, -0.02, "one seed, not decided"),
            point("m", 8, 0.001, "one seed, not decided"),
            point("m", 8, 0.03, "helps", metric="hr@10")]
    pd.DataFrame(rows).to_csv(t / "figure3_versus_data.csv", index=False)
    text = mod.verdicts_at_a_glance()
    lead = text.split("\n")[0]                        # counts only, before the named lists
    assert lead.startswith("- **In short.**") and "in the 2 of 9 Table 2 cells computed: hurts in 1, " \
        "no clear difference in 1. By backbone, over the datasets computed: SASRec hurts on 1, no clear difference " \
        "on 1." in lead
    assert lead.endswith("Figure 3: 0 of the 2 swept values computed make SASRec + UFN beat SASRec, 0 after Holm's "
                         "correction for the 2 values.")
    assert "The verdict of every comparison below, in one sentence: helps / hurts: the 95% interval" in text
    assert "helps in 0; hurts in 1 (SASRec on yelp (-3.0% [-4.0%, -2.0%], 3 seeds)); no clear difference in 1 " \
           "(SASRec on beauty (-1.0% [-2.0%, +0.2%], 3 seeds))" in text
    assert "2 of 20 points computed (1 seed each)" in text
    assert "one seed, not decided at 2 (alpha = 0.01 (-2.0%), m = 8 (+0.1%))" in text
    assert "After Holm's step-down correction over the figure's swept values, per metric" in text
    assert "helps at 0, hurts at 0." in text and "2 of the 2 points compare runs of different code generations" in text
    assert "When mining started" not in text and "cap" not in text and "full ranking" not in text
    pd.DataFrame([cell("yelp", 0.11, 0.05, 0.17, "helps")]).to_csv(t / "table2_full_data.csv", index=False)
    assert "- The same under full ranking (every item a candidate; not in the paper), 1 cell: helps in 1 (SASRec " \
           "on yelp (+11.0% [+5.0%, +17.0%], 3 seeds)); hurts in 0." in mod.verdicts_at_a_glance()
    assert "(under full ranking, not in the paper: helps in 1, SASRec on yelp)." in \
        mod.verdicts_at_a_glance().split("\n")[0]
    rows[2]["cut"] = 1                                   # m 8's UFN run was still improving at the cap
    pd.DataFrame(rows).fillna({"cut": 0}).to_csv(t / "figure3_versus_data.csv", index=False)
    assert "The epoch cap ended the UFN run(s) of 1 point(s) while still improving (m = 8)." in \
        mod.verdicts_at_a_glance()
    assert "along each swept field" not in mod.verdicts_at_a_glance()
    pd.DataFrame([dict(panel="m", points=4, rho=1.0, trend="rises as m grows", best=8.0, best_change=0.03,
                       best_effect="helps", changes="2 -1.0%, 8 +3.0%")]).to_csv(t / "figure3_trends.csv", index=False)
    assert "- Figure 3, along each swept field (UFN's change in test NDCG@10 against SASRec): m: UFN's change " \
           "rises as m grows (4 points, Spearman rho +1.00: 2 -1.0%, 8 +3.0%); best at 8 (+3.0%; against SASRec: " \
           "helps)." in mod.verdicts_at_a_glance()
    pd.DataFrame([{"dataset": "beauty", "backbone": "SASRec", "seed": s, "backbone best": 40, "backbone epochs": 60,
                   "UFN mining from": 11, "UFN best": 150, "UFN epochs": 200, "max epochs": 200,
                   "UFN cut by the cap": s == 1, "backbone cut by the cap": False}
                  for s in (1, 2, 3)]).to_csv(t / "table2_schedules.csv", index=False)
    assert "- When mining started (Table 2's UFN runs; warm-up by the reference's plateau rule): SASRec (3 UFN " \
           "runs): mining started at epoch 11 (median), while the backbone alone peaked at epoch 40; UFN's best " \
           "epoch 150; the 200-epoch cap cut 1 of 3 UFN run(s) while still improving, and 0 of the 3 backbone run(s) " \
           "beside them. Notebook 09" \
           in mod.verdicts_at_a_glance()
    rows[2].update(rel_improv=0.03, effect="helps", effect_holm="no clear difference", n=3,
                   per_seed="s1 +3.5%, s2 +2.5%, s3 +3.0%", ci_low=0.01, ci_high=0.05)
    pd.DataFrame(rows).to_csv(t / "figure3_versus_data.csv", index=False)
    text = mod.verdicts_at_a_glance()
    assert "helps at 1 (m = 8 (+3.0% [+1.0%, +5.0%]; 3 seeds: s1 +3.5%, s2 +2.5%, s3 +3.0%))" in text
    assert text.split("\n")[0].endswith("Figure 3: 1 of the 2 swept values computed make SASRec + UFN beat SASRec "
                                        "(m = 8), 0 after Holm's correction for the 2 values.")


def test_results_doc_figure3_section_reads_notebook_04s_tables(tmp_path, monkeypatch):
    """docs/results.md's Figure 3 section: the point-by-point table without its caption, and one
    line per claim with its verdict and how many runs it still misses."""
    import pandas as pd
    mod, t = _readme_script_in(tmp_path, monkeypatch)
    assert mod.figure3().startswith("Not computed yet")
    (t / "figure3_versus.md").write_text("A long caption.\n\n| panel | value |\n| --- | --- |\n| m | 2 |\n")
    pd.DataFrame([dict(source="Figure 3, m", text="m < 3 gives inferior performance.", ours="partly computed",
                       detail="on the runs computed so far it holds: seed 1", missing="6 runs: a, b, c"),
                  dict(source="Figure 3, d", text="Stable in d.", ours="not computed", detail="", missing="")]
                 ).to_csv(t / "figure3_claims.csv", index=False)
    text = mod.figure3()
    assert "A long caption" not in text and "| m | 2 |" in text
    assert ('- **Figure 3, m**: "m < 3 gives inferior performance." Ours: **partly computed** (on the runs '
            'computed so far it holds: seed 1); 6 runs missing.') in text
    assert '- **Figure 3, d**: "Stable in d." Ours: **not computed**.' in text and "Along each" not in text
    pd.DataFrame([dict(panel="alpha", points=4, rho=-1.0, trend="falls as alpha grows", best=0.1, best_change=0.01,
                       best_effect="no clear difference", changes="0.1 +1.0%"),
                  dict(panel="decay", points=1, rho=float("nan"), trend="has too few points to tell", best=0.9,
                       best_change=0.0, best_effect="", changes="0.9 +0.0%")]).to_csv(t / "figure3_trends.csv",
                                                                                     index=False)
    text = mod.figure3()
    assert "- alpha: UFN's change falls as alpha grows (4 points, Spearman rho -1.00: 0.1 +1.0%)" in text
    assert "d: UFN" not in text and "What FMR reversed" not in text
    pd.DataFrame([dict(panel="m", value=v, base=False, n=1, flagged_per_epoch=1000.0, later_share=0.001, lift=4.0,
                       nfalse_at_best=10.0, mining_epochs=3.0) for v in (2, 8)]).to_csv(t / "figure3_mining.csv",
                                                                                        index=False)
    assert "What FMR reversed" in mod.figure3() and \
        "\n- m: 2: 1,000 reversed per epoch over 3 mining epochs, lift 4.0x" in mod.figure3()


def test_results_doc_table2_change_uses_the_seeds_both_arms_have(tmp_path, monkeypatch):
    """docs/results.md's Table 2 lists every run of each arm, but its change in NDCG@10 compares
    the two arms on the seeds both have, as notebook 01 does (a backbone seed ahead of its UFN run
    does not shift it)."""
    import numpy as np

    from ufnlib import Config, config_key
    from ufnlib.analysis import run_tables
    from ufnlib.analysis.report import markdown_table
    from ufnlib.experiments.store import Record

    def rec(strategy, seed, ndcg):
        c = Config(dataset="beauty", backbone="ssept", strategy=strategy, seed=seed)
        m = {k: ndcg for k in ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10")}
        return Record({"key": config_key(c), "config": c.to_dict(), "seed": seed,
                       "metrics": {"test": {"sampled": m, "full": m}}, "selection": {"best_epoch": 1, "epochs_run": 2},
                       "env": {"device": "cpu"}, "git": {"commit": "0" * 40}})
    recs = [rec("uniform", 1, 0.40), rec("uniform", 2, 0.30), rec("ufn", 1, 0.38)]
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    for r in recs:                                  # per-user ranks beside each record, as the cache keeps them
        np.savez(runs / f"{r['key']}.npz", users=np.arange(4), **{"test__sampled": np.array([0, 1, 30, 60])})
    text = markdown_table(run_tables.backbones(recs, tmp_path / "results"), index=False)
    row = next(x for x in text.split("\n") if x.startswith("| beauty | SSE-PT | +UFN |"))
    assert "| -5.00% (1) |  | one seed, not decided |" in row    # 0.38 against seed 1's 0.40, not the mean 0.35
    assert "| beauty | SSE-PT | backbone | 1,2 |" in text
    t = run_tables.backbones(recs, tmp_path / "results")
    from ufnlib.paper import TABLE2
    ufn = t[(t["backbone"] == "SSE-PT") & (t["arm"] == "+UFN") & (t["dataset"] == "beauty")].iloc[0]
    assert ufn["ours / paper NDCG@10"] == f"{0.38 / TABLE2['beauty']['ssept']['ndcg@10'][1] - 1:+.1%}"


def test_update_readme_reads_no_run_record_and_asks_no_git(monkeypatch):
    """The templater only formats saved outputs: rendering every page with the run records and
    git out of reach (opening a file under results/runs/ or starting a process raises) gives the
    pages as committed."""
    import builtins
    import importlib.util
    import io
    spec = importlib.util.spec_from_file_location("update_readme_sealed", ROOT / "scripts" / "update_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    real_open = builtins.open

    def sealed_open(file, *a, **kw):
        if "results/runs/" in str(file).replace("\\", "/"):
            raise AssertionError(f"the templater opened a run record: {file}")
        return real_open(file, *a, **kw)

    def no_process(*a, **kw):
        raise AssertionError(f"the templater started a process: {a[:1]}")
    monkeypatch.setattr(builtins, "open", sealed_open)
    monkeypatch.setattr(io, "open", sealed_open)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        assert mod.render(text, in_docs=doc.parent.name == "docs") == text, f"{doc.name} is out of date"


def test_facts_file_is_current():
    """results/facts.json (profiles, Config defaults, run costs) says what scripts/facts.py
    computes now from the code and the cache."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "facts.py"), "--check"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
