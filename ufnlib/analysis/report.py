"""Reporting: where a notebook's results go, and the writers of captioned tables, key numbers
and figures. (Notebook 00's data description: ``ufnlib.analysis.dataprep``; run_all.sh's run index and
claims summary: ``ufnlib.analysis.runindex``.)

The results root is ``$UFN_RESULTS_DIR`` when set, else ``<project>/results`` (the root
``ufnlib.experiments.run`` caches runs under, in ``runs/``: one cache for every profile). Each
profile's report lives in a folder of its own, so no profile's tables replace another's; a
notebook names its profile with ``use_profile(profile)`` before it writes:

  <profile>/tables/<name>.csv + .md      ``save_table`` (the Markdown carries the caption)
  <profile>/tables/<name>.json           ``save_numbers`` (a notebook's key numbers)
  <profile>/figures/<name>.png + .pdf    ``save_figure``
  <profile>/notebooks/NN_name.ipynb      executed notebooks (+ .html), written by run_all.sh
  <profile>/run.json, <profile>/summary.md   ``runindex.record_run``, ``runindex.write_summary``
  index.html                             ``runindex.write_index``
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

import numpy as np

from ..experiments.profiles import PROFILES  # noqa: F401 (re-exported)
from ..experiments.profiles import check as check_profile
from ..experiments.provenance import git_commit
from ..experiments.store import results_dir
from ..files import atomic_write_bytes
from .stats import claims_frame, claims_text

_profile: str | None = None   # the profile whose report folder save_* write into (use_profile)


def use_profile(profile: str) -> str:
    """Check ``profile`` and make ``<results>/<profile>/`` the folder that ``save_table``,
    ``save_figure`` and ``save_numbers`` write into, and show tables whole in the notebook
    (``show_whole_tables``). Every notebook calls it once, after its parameters cell. Returns
    ``profile``."""
    global _profile
    _profile = check_profile(profile)
    show_whole_tables()
    return profile


MAX_ROWS = 500


def show_whole_tables(max_rows: int = MAX_ROWS) -> None:
    """Make pandas display a result table whole in a notebook: every row up to ``max_rows`` (a
    longer frame, e.g. a per-epoch data frame, shows its first and last 10), every column, and each cell's
    full text (pandas' defaults show 10 of 60+ rows and cut cells at 50 characters)."""
    import pandas as pd
    pd.set_option("display.max_rows", max_rows)
    pd.set_option("display.min_rows", 20)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_colwidth", None)


def profile_dir(profile: str | None = None, root=None) -> Path:
    """``<results>/<profile>``: one profile's tables, figures, executed notebooks and summary."""
    profile = profile or _profile
    if profile is None:
        raise RuntimeError("no profile chosen for the report folder. Fix: call "
                           "ufnlib.analysis.report.use_profile(profile) before saving tables or figures.")
    return results_dir(root) / check_profile(profile)


class Saved(dict):
    """What a ``save_*`` call wrote (kind -> path); shown relative to the results root, so an
    executed notebook carries no folder of the machine it ran on."""

    def __repr__(self) -> str:
        root = results_dir().resolve()

        def rel(p):
            try:
                return str(Path(p).resolve().relative_to(root))
            except ValueError:
                return Path(p).name
        return "saved " + ", ".join(rel(p) for p in self.values())


def results_path(*parts: str) -> Path:
    """``profile_dir()`` joined with ``parts``; the parent folder is created.
    ``results_path("tables", "x.csv")`` is where ``save_table("x", ...)`` writes."""
    p = profile_dir().joinpath(*parts)
    (p.parent if parts else p).mkdir(parents=True, exist_ok=True)
    return p


# ------------------------------------------------------------------------------------ tables
def _fmt_cell(v, fmt: str | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if fmt:
        return fmt.format(v)
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _column_cells(col, fmt: str | None) -> list[str]:
    """One column's cells, read from the column itself (a row would upcast its integers to the
    floats beside them); a float column whose values are all whole numbers (counts stored as
    floats, e.g. after a transpose) is written as integers."""
    vals = col.tolist()
    if fmt is None and col.dtype.kind == "f":
        finite = [v for v in vals if v is not None and not math.isnan(v)]
        if finite and all(math.isfinite(v) and float(v).is_integer() for v in finite):
            vals = [None if v is None or math.isnan(v) else int(v) for v in vals]
    return [_fmt_cell(v, fmt) for v in vals]


def markdown_table(df, formats: dict | None = None, index: bool = True) -> str:
    """A pipe table of ``df`` (no extra packages). ``formats`` maps a column to a format string,
    e.g. ``{"density": "{:.3%}"}``; integers get thousands separators, floats 4 significant
    digits (a float column of whole numbers as integers), missing values stay empty."""
    formats = formats or {}
    cols = list(df.columns)
    multi = getattr(df.index, "nlevels", 1) > 1
    names = [n or "" for n in df.index.names] if multi else [df.index.name or ""]
    head = (names if index else []) + [str(c) for c in cols]
    columns = [_column_cells(df.iloc[:, j], formats.get(c)) for j, c in enumerate(cols)]
    rows = []
    for i, idx in enumerate(df.index):
        cells = ([_fmt_cell(x, None) for x in idx] if multi else [_fmt_cell(idx, None)]) if index else []
        cells += [col[i] for col in columns]
        rows.append(cells)
    numeric = [False] * len(head)
    for j in range(len(head)):
        vals = [row[j] for row in rows if row[j]]
        numeric[j] = bool(vals) and all(v.replace(",", "").replace(".", "").replace("%", "")
                                        .replace("-", "").replace("e", "").isdigit() for v in vals)
    sep = ["---:" if n else "---" for n in numeric]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def save_table(df, name: str, caption: str, formats: dict | None = None, index: bool = True) -> dict:
    """Write ``tables/<name>.csv`` (plain data, full precision) and ``tables/<name>.md`` (the
    caption, then the table). The caption must state the protocol: data version, evaluation
    mode, seeds, how epochs were chosen. Returns ``{"csv": path, "md": path}``."""
    if not caption or not caption.strip():
        raise ValueError(f"table '{name}': a caption stating the protocol is required")
    csv = results_path("tables", f"{name}.csv")
    md = results_path("tables", f"{name}.md")
    atomic_write_bytes(csv, df.to_csv(index=index).encode())
    atomic_write_bytes(md, (f"{caption.strip()}\n\n" + markdown_table(df, formats, index)).encode())
    return Saved(csv=csv, md=md)


def save_result(result, name: str) -> Saved:
    """Write a ``tables.TableResult``: ``<name>`` (its display, the Markdown to read) and
    ``<name>_data`` (its long frame, full precision), both under its caption."""
    a = save_table(result.display, name, result.caption)
    b = save_table(result.long, f"{name}_data", result.caption, index=False)
    return Saved(**a, **{f"data_{k}": v for k, v in b.items()})


def save_claims(claims, name: str, caption: str) -> Saved:
    """Print the claims in words and write them as ``tables/<name>`` (one row per claim)."""
    print(claims_text(claims))
    return save_table(claims_frame(claims), name, caption)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (np.floating, float)):
        return None if math.isnan(o) else float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    return o


def plain(o):
    """``o`` as a notebook's JSON stores it and the README templater loads it back (NaN -> None):
    a sentence function fed ``plain(numbers)`` in the notebook says what it says from the file."""
    return json.loads(json.dumps(_jsonable(o)))


def save_numbers(name: str, numbers: dict) -> Saved:
    """Write a notebook's key numbers to ``tables/<name>.json`` (with the git commit and a UTC
    time stamp added), atomically; numbers equal to the file's are not written again. Returns
    the path."""
    p = results_path("tables", f"{name}.json")
    numbers = _jsonable(numbers)
    if p.is_file():   # unchanged numbers keep the file (and the commit and time they were first written at)
        try:
            old = json.loads(p.read_text())
        except ValueError:
            old = None
        if isinstance(old, dict) and {k: v for k, v in old.items() if k not in ("git", "written")} == numbers:
            return Saved(json=p)
    payload = {**numbers, "git": git_commit(),
               "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_bytes(p, json.dumps(payload, indent=1).encode())
    return Saved(json=p)


# ----------------------------------------------------------------------------------- figures
def save_figure(fig, name: str, dpi: int = 150) -> dict:
    """Write ``figures/<name>.png`` and ``figures/<name>.pdf`` (PDF without a creation date, so
    an unchanged figure gives an unchanged file). Returns ``{"png": path, "pdf": path}``."""
    png = results_path("figures", f"{name}.png")
    pdf = results_path("figures", f"{name}.pdf")
    fig.savefig(png, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None, "Producer": None})
    return Saved(png=png, pdf=pdf)
