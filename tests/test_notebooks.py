"""Notebook tests: every notebook in notebooks/ runs under the smoke profile and writes the
artifacts it promises; run_all.sh runs end to end; notebooks in git carry no outputs.

All output goes to a temporary UFN_RESULTS_DIR, so the committed results/ is never touched. The
kernel "ufnrec" is defined in a temporary JUPYTER_PATH to start this interpreter, so these tests
need no registered kernel. To add checks for a new notebook, add a function to CHECKS.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL = "ufnrec"


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory):
    """os.environ with a JUPYTER_PATH whose kernel 'ufnrec' starts sys.executable, and this
    checkout first on PYTHONPATH (so the kernel imports this ufnlib)."""
    jp = tmp_path_factory.mktemp("jupyter")
    spec = jp / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (ufnrec, tests)", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(jp) + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
        mp.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        mp.setenv("MPLBACKEND", "Agg")
        yield dict(os.environ)


def _snapshot(folder: Path) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}


@pytest.fixture(scope="session")
def committed_results_untouched():
    """Fail if a test wrote into the committed results/tables or results/figures."""
    before = {d: _snapshot(ROOT / "results" / d) for d in ("tables", "figures", "executed")}
    yield
    after = {d: _snapshot(ROOT / "results" / d) for d in before}
    assert after == before, "a notebook test wrote into the committed results/ folder"


# -------------------------------------------------------------------- per-notebook checks
def check_00_data_prep(res: Path, nb) -> None:
    t = pd.read_csv(res / "tables" / "table1.csv", index_col="dataset")
    assert list(t.index) == ["synthetic"], "smoke profile must use the synthetic dataset only"
    row = t.loc["synthetic"]
    assert row["users"] > 0 and row["items"] > 0 and row["actions"] >= 5 * row["users"]
    assert row["avg_len"] >= 5 and row["max_len"] >= row["median_len"] >= 5
    assert 0 < row["density"] <= 1
    assert row["actions"] == pytest.approx(row["avg_len"] * row["users"])
    md = (res / "tables" / "table1.md").read_text()
    assert md.startswith("Table 1.") and "| synthetic |" in md
    for stem in ("00_sequence_lengths", "00_item_popularity"):
        assert (res / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (res / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    nums = json.loads((res / "tables" / "00_data_prep.json").read_text())
    assert nums["profile"] == "smoke"
    s = nums["datasets"]["synthetic"]
    assert s["users"] == row["users"] and s["actions"] == row["actions"]
    assert 0.2 <= s["top20_share"] <= 1.0  # the top 20% of items hold at least 20% of actions
    assert nums["sources"][0]["origin"] == "generated"


CHECKS = {"00_data_prep": check_00_data_prep}


# ---------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean(path):
    """In git: no outputs, no execution counts, exactly one `parameters` cell defining profile."""
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{path.name} carries outputs; clear them (executed copies belong in results/)"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: expected one cell tagged 'parameters', got {len(params)}"
    assert "profile = " in params[0].source


def test_generated_notebooks_in_sync():
    """Notebooks written by scripts/make_notebooks.py equal what the script writes now."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_smoke(path, tmp_path, kernel_env, committed_results_untouched, monkeypatch):
    import papermill as pm
    res = tmp_path / "results"
    monkeypatch.setenv("UFN_RESULTS_DIR", str(res))
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"profile": "smoke"}, kernel_name=KERNEL, language="python",
                        cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = nbformat.read(str(out), as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    check = CHECKS.get(path.stem)
    if check is None:
        pytest.skip(f"{path.stem} ran; no artifact checks registered in CHECKS yet")
    check(res, nb)


def test_run_all_smoke(tmp_path, committed_results_untouched):
    """bash run_all.sh --profile smoke runs every notebook and writes the executed copies, their
    HTML and index.html under UFN_RESULTS_DIR."""
    res = tmp_path / "results"
    env = {**os.environ, "UFN_RESULTS_DIR": str(res), "MPLBACKEND": "Agg"}
    r = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--profile", "smoke"], cwd=tmp_path, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    index = (res / "index.html").read_text()
    run = json.loads((res / "executed" / "smoke" / "run.json").read_text())
    assert [n["name"] for n in run["notebooks"]] == [p.stem for p in NOTEBOOKS]
    assert all(n["status"] == "ok" for n in run["notebooks"])
    for p in NOTEBOOKS:
        assert (res / "executed" / "smoke" / f"{p.stem}.ipynb").is_file()
        assert (res / "executed" / "smoke" / f"{p.stem}.html").stat().st_size > 1000
        assert f'href="executed/smoke/{p.stem}.html"' in index
    assert run["git"]["commit"] in index or run["git"]["commit"][:12] in index
    assert (res / "tables" / "table1.csv").is_file()


def test_describe_failure_names_the_cell(tmp_path):
    """run_all.sh's failure message points at the failing cell, not counting papermill's cells."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output
    from ufnlib.report import describe_failure
    cells = [new_code_cell("profile = 'quick'"), new_code_cell("profile = 'smoke'"),
             new_code_cell("x = 1"), new_code_cell("1 / 0\ny = 2")]
    cells[1].metadata["tags"] = ["injected-parameters"]
    cells[3].outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                   traceback=[])]
    cells[3].execution_count = 4
    p = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=cells), str(p))
    msg = describe_failure(p)
    assert "code cell 3 " in msg and "1 / 0" in msg and "ZeroDivisionError: division by zero" in msg
