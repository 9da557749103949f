"""Notebook 07's solutions and its student copy (scripts/student_copy.py): the teacher's notebook
answers every exercise in cells tagged ``solution``; the student copy has every exercise and no
solution, and runs without the solution cells."""
from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "07_teaching_false_negatives.ipynb"
EXECUTED = ROOT / "results" / "paper" / "notebooks" / NOTEBOOK.name
SCRIPT = ROOT / "scripts" / "student_copy.py"

spec = importlib.util.spec_from_file_location("student_copy", SCRIPT)
sc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sc)


def exercises(nb) -> dict[int, str]:
    """Exercise number -> its markdown item, from the notebook's Exercises section."""
    md = next(c.source for c in nb.cells if c.cell_type == "markdown" and "## 8. Exercises" in c.source)
    return {int(k): line for k, line in re.findall(r"^(\d+)\. (\*\*.+)$", md, flags=re.M)}


def names(cells, ctx) -> set[str]:
    out = set()
    for c in cells:
        if c.cell_type != "code":
            continue
        tree = ast.parse(c.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ctx):
                out.add(node.id)
            elif ctx is ast.Store and isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                out.add(node.name)
    return out


@pytest.fixture(scope="module")
def teacher():
    return nbformat.read(str(NOTEBOOK), as_version=4)


def test_every_exercise_has_a_solution_after_the_exercises(teacher):
    ex = exercises(teacher)
    assert sorted(ex) == list(range(1, len(ex) + 1)) and len(ex) >= 5
    first_ex = next(i for i, c in enumerate(teacher.cells) if "## 8. Exercises" in c.source)
    sol = [(i, c) for i, c in enumerate(teacher.cells) if sc.is_solution(c)]
    assert sol and all(i > first_ex for i, _ in sol)
    for k in ex:           # one code cell per exercise, opening with its number, printing its reading
        cells = [c for _, c in sol if c.cell_type == "code" and c.source.startswith(f"# Exercise {k}:")]
        assert len(cells) == 1, k
        assert f'print(teaching.missing_text("exercise {k}"' in cells[0].source     # says what is missing
        assert f"exercises.exercise{k}(" in cells[0].source                         # the computed reading
        assert 'print("\\n".join(reading))' in cells[0].source


def test_student_copy_has_every_exercise_and_no_solution(teacher, tmp_path):
    out = tmp_path / "student.ipynb"
    r = subprocess.run([sys.executable, str(SCRIPT), str(NOTEBOOK), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    student = nbformat.read(str(out), as_version=4)
    nbformat.validate(student)
    assert not [c for c in student.cells if sc.is_solution(c)]
    assert not any("# Exercise" in c.source or "teaching.solution(" in c.source for c in student.cells)
    assert exercises(student) == exercises(teacher)
    kept = [c for c in teacher.cells if not sc.is_solution(c)]
    assert [c.source for c in student.cells] == [c.source for c in kept]     # nothing else removed
    assert "jupytext" not in student.metadata                               # not paired with a .py
    assert sum("parameters" in c.metadata.get("tags", []) for c in student.cells) == 1


def test_student_copy_from_the_py_pair_and_the_executed_notebook(teacher, tmp_path):
    for src in (NOTEBOOK.with_suffix(".py"), EXECUTED):
        if not src.is_file():
            continue
        out = tmp_path / f"{src.stem}-{src.suffix[1:]}.ipynb"
        assert sc.main([str(src), "-o", str(out)]) == 0
        student = nbformat.read(str(out), as_version=4)
        assert not [c for c in student.cells if sc.is_solution(c)] and exercises(student) == exercises(teacher)
        text = "".join(o.get("text", "") for c in student.cells for o in c.get("outputs", []))
        assert "Exercise 1 (" not in text and "exercise 1: not computed" not in text   # no solution output either
    with pytest.raises(SystemExit):
        sc.main([str(NOTEBOOK), "-o", str(NOTEBOOK)])                                 # never over the notebook


def test_student_copy_needs_no_name_a_solution_defines(teacher):
    """The cells a student gets load no name that only solution cells define, and no solution cell
    rebinds a name a later cell reads (the teacher's and the student's runs print the same)."""
    sol = [c for c in teacher.cells if sc.is_solution(c)]
    rest = [c for c in teacher.cells if not sc.is_solution(c)]
    only_solutions = names(sol, ast.Store) - names(rest, ast.Store)
    assert not only_solutions & names(rest, ast.Load)
    last = max(i for i, c in enumerate(teacher.cells) if sc.is_solution(c))
    after = [c for c in teacher.cells[last + 1:]]
    assert not names(sol, ast.Store) & names(after, ast.Load)
