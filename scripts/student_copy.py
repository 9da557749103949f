"""Write a student copy of a notebook: the same notebook without its solutions.

    python scripts/student_copy.py [NOTEBOOK] [-o OUT]

NOTEBOOK is a notebook (.ipynb, executed or not) or its jupytext .py pair; by default
notebooks/07_teaching_false_negatives.ipynb. Every cell tagged ``solution`` is left out, with its
outputs; the other cells are kept as they are, outputs included. OUT defaults to
``<name>_student.ipynb`` in the current folder. The copy is a plain notebook, not paired with a .py
file, so opening it creates no file that holds the solutions.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

SOLUTION_TAG = "solution"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "notebooks" / "07_teaching_false_negatives.ipynb"


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def read(path: Path):
    """A notebook from a .ipynb file or a jupytext .py pair."""
    if path.suffix == ".py":
        import jupytext
        return jupytext.read(path)
    return nbformat.read(str(path), as_version=4)


def student_copy(nb):
    """A copy of ``nb`` without the cells tagged ``solution`` and without the jupytext pairing."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not is_solution(c)]
    out.metadata.pop("jupytext", None)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write a notebook's student copy: the cells tagged 'solution' left out.")
    ap.add_argument("notebook", nargs="?", type=Path, default=DEFAULT, help="a .ipynb or its jupytext .py pair")
    ap.add_argument("-o", "--out", type=Path, help="where to write (default: <name>_student.ipynb here)")
    a = ap.parse_args(argv)
    out = a.out or Path(f"{a.notebook.stem}_student.ipynb")
    if out.resolve() == a.notebook.resolve():
        ap.error("the student copy would overwrite the notebook")
    nb = read(a.notebook)
    student = student_copy(nb)
    nbformat.validate(student)
    nbformat.write(student, str(out))
    print(f"{out}: {len(student.cells)} cells, {len(nb.cells) - len(student.cells)} solution cells left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
