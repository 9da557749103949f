"""The committed report is current: nbval re-executes every committed executed paper notebook
(``results/paper/notebooks/*.ipynb``, report only, over a copy of the committed results) and
compares each cell's outputs with the committed ones. A change to the code, the cache or a table
that moves a printed number without re-executing the notebooks (``bash run_all.sh``) fails here.

nbval runs in a child pytest (its options apply to a whole session). A copy of notebook 11 with
one printed digit changed goes along as a control: nbval must flag exactly that cell.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "results" / "paper" / "notebooks"
CONTROL = "control_11_findings.ipynb"

# What may differ between two executions of the same notebook on the same cache: where the
# checkout and the results folder are (also in a warning's path to a ufnlib module, written by
# another checkout), clock times, memory addresses.
SANITIZE = {"root": re.escape(str(ROOT)), "checkout": r"/[^\s'\"]*?/(?=ufnlib/)",
            "iso_time": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?",
            "address": r"0x[0-9a-f]{6,}"}


def _sanitize_file(folder: Path, results: Path) -> Path:
    rules = {**SANITIZE, "results": re.escape(str(results))}
    f = folder / "sanitize.cfg"
    f.write_text("".join(f"[{name}]\nregex: {rx}\nreplace: <{name}>\n\n" for name, rx in rules.items()))
    return f


def _control(src: Path, dst: Path) -> int:
    """Copy notebook ``src`` to ``dst`` with the first digit of its first printed text output
    changed; returns the index of that cell among the code cells (nbval's "Cell N")."""
    nb = nbformat.read(str(src), 4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            key = "text" if out["output_type"] == "stream" else None
            text = out.get("text") if key else out.get("data", {}).get("text/plain")
            m = re.search(r"\d", text or "")
            if m is None or any(k.startswith("image/") for k in out.get("data", {})):
                continue
            new = text[:m.start()] + str((int(m.group()) + 1) % 10) + text[m.end():]
            if key:
                out["text"] = new
            else:
                out["data"]["text/plain"] = new
            nbformat.write(nb, str(dst))
            return i
    raise AssertionError(f"{src.name} prints no digit to change")


def test_committed_paper_notebooks_are_current(tmp_path, shared_data):
    notebooks = sorted(COMMITTED.glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) >= 12, f"expected the executed paper notebooks in {COMMITTED}"
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results", results, ignore=shutil.ignore_patterns("*.html", "fresh-*"))
    work = tmp_path / "nb"
    work.mkdir()
    for nb in notebooks:
        shutil.copy2(nb, work / nb.name)
    changed = _control(COMMITTED / "11_findings.ipynb", work / CONTROL)
    env = {**os.environ, "UFN_RESULTS_DIR": str(results), "UFN_DATA_DIR": str(shared_data),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("MPLBACKEND", None)      # the committed copies were executed with the kernel's inline backend
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "--rootdir", str(work),
           "--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(_sanitize_file(tmp_path, results)),
           *[nb.name for nb in notebooks], CONTROL]
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=3600)
    failed = sorted(set(re.findall(r"^FAILED (\S+::Cell \d+)", p.stdout, flags=re.M)))
    tail = (p.stdout + p.stderr)[-6000:]
    assert "passed" in p.stdout, "nbval did not run:\n" + tail
    assert f"{CONTROL}::Cell {changed}" in failed, "nbval missed a changed printed digit (the control):\n" + tail
    stale = [f for f in failed if not f.startswith(CONTROL)]
    assert stale == [], ("committed executed notebooks differ from a re-execution over the committed cache "
                         "(re-execute them: bash run_all.sh, and commit results/paper): " + ", ".join(stale)
                         + "\n" + tail)
    assert failed == [f"{CONTROL}::Cell {changed}"], tail
