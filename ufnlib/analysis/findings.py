"""The findings at one glance (notebook 11): UFN's relative change in test NDCG@10 (sampled-100)
with its 95% interval and verdict for every Table 2 cell, every Table 3/4 variant and every
reading of notebook 09, next to the paper's claimed change, read from the tables the other
notebooks saved (a report over the report: nothing here opens a run record).

``forest_rows`` gathers the rows, ``forest`` draws them. Colours follow the verdict words of
``comparison`` (``WORDS``); the paper's claim is a black diamond.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from . import comparison

METRIC = "ndcg@10"
COLOURS = {comparison.HELPS: "#1a9850", comparison.HURTS: "#d73027",
           comparison.UNCLEAR: "#7f7f7f", comparison.ONE_SEED: "#fdae61"}
COLUMNS = ["source", "label", "change", "low", "high", "word", "paper"]
_PCT = re.compile(r"[-+]?\d+(?:\.\d+)?(?=%)")


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def _pcts(text) -> list[float]:
    """'+0.75%' -> [0.0075]; '[+0.14%, +1.35%]' -> [0.0014, 0.0135]; anything else -> []."""
    return [float(m) / 100 for m in _PCT.findall(str(text))] if isinstance(text, str) else []


def _read(tables: Path, name: str):
    p = tables / f"{name}.csv"
    try:
        t = pd.read_csv(p)
    except (FileNotFoundError, pd.errors.EmptyDataError):    # not saved yet, or saved empty (no runs)
        return None
    return t if len(t) else None


def _table_rows(t, source: str, label) -> list[dict]:
    rows = []
    for _, r in t[(t["metric"] == METRIC) & t["rel_improv"].notna()].iterrows():
        rows.append({"source": source, "label": label(r), "change": _num(r["rel_improv"]),
                     "low": _num(r.get("ci_low")), "high": _num(r.get("ci_high")), "word": r.get("effect"),
                     "paper": _num(r.get("paper_improv"))})
    return rows


def _reading_rows(t, source: str, strategy: str, paper: float) -> list[dict]:
    rows = []
    for _, r in t[t["strategy"] == strategy].iterrows():
        change, ci = _pcts(r.get("vs uniform")), _pcts(r.get("95% interval"))
        if not change:
            continue
        lo, hi = ci if len(ci) == 2 else (math.nan, math.nan)
        rows.append({"source": source, "label": str(r["reading"]), "change": change[0], "low": lo, "high": hi,
                     "word": r.get("verdict"), "paper": paper})
    return rows


def forest_rows(tables) -> pd.DataFrame:
    """One row per comparison, in the order drawn: Table 2 cells (dataset / backbone), Table 3
    and Table 4 variants against SASRec, then notebook 09's readings of UFN against SASRec (the
    held-out items in reach, then out of reach, when those runs exist). Columns: ``COLUMNS``;
    ``change``/``low``/``high``/``paper`` are relative changes (0.05 = +5%). Tables not saved
    yet are skipped."""
    tables = Path(tables)
    rows = []
    t2 = _read(tables, "table2_data")
    if t2 is not None:
        rows += _table_rows(t2, "Table 2", lambda r: f"{r['dataset']} · {r['backbone']} + UFN")
    for name in ("table3", "table4"):
        t = _read(tables, f"{name}_data")
        if t is not None:
            rows += _table_rows(t, name.replace("table", "Table "), lambda r: str(r.get("label", r["arm"])))
    paper = math.nan
    nums = tables / "09_protocol.json"
    if t2 is not None and nums.is_file():
        ds = json.loads(nums.read_text()).get("dataset")
        hit = t2[(t2["dataset"] == ds) & (t2["backbone"] == "SASRec") & (t2["metric"] == METRIC)]
        if len(hit):
            paper = _num(hit["paper_improv"].dropna().iloc[0]) if hit["paper_improv"].notna().any() else math.nan
    for name, source in (("protocol_readings", "09 (held-out in reach)"),
                         ("protocol_readings_heldout_out", "09 (held-out out of reach)")):
        t = _read(tables, name)
        if t is not None:
            rows += _reading_rows(t, source, "ufn", paper)
    return pd.DataFrame(rows, columns=COLUMNS)


def counts(rows: pd.DataFrame) -> dict:
    """How many rows carry each verdict word (every word of ``comparison.WORDS``, zeros kept)."""
    return {w: int((rows["word"] == w).sum()) for w in comparison.WORDS}


GROUPS = (("Table 2", "Table 2's cells"), ("Table 3", "Tables 3-4's variants"), ("Table 4", "Tables 3-4's variants"),
          ("09", "notebook 09's readings of its fixed-budget runs"))


def group_counts(rows: pd.DataFrame) -> dict:
    """``counts`` per group of rows (Table 2's cells, Tables 3-4's variants, notebook 09's
    readings), each with its row count; only the words that occur. A reader needs the split: the
    groups answer different questions, and notebook 09's rows are several readings of the same runs."""
    out: dict = {}
    for prefix, name in GROUPS:
        part = rows[rows["source"].str.startswith(prefix)]
        if not len(part):
            continue
        g = out.setdefault(name, {"rows": 0, "counts": {}})
        g["rows"] += len(part)
        for w, n in counts(part).items():
            if n:
                g["counts"][w] = g["counts"].get(w, 0) + n
    return out


def groups_text(groups: dict, esc=str) -> str:
    """``group_counts`` in words: "Table 2's cells (9): hurts 3, ...; ..." (``esc`` escapes the
    names and words, e.g. for HTML)."""
    return "; ".join(f"{esc(name)} ({g['rows']}): " + ", ".join(f"{esc(w)} {n}" for w, n in g["counts"].items())
                     for name, g in groups.items())


def forest(rows: pd.DataFrame, title: str = ""):
    """The forest plot: one row per comparison, a dot at the change coloured by its verdict,
    its interval as a bar, the paper's claim as a diamond, groups separated by a rule."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n = max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(10, 0.28 * n + 1.6))
    y = list(range(n))[::-1]
    for yi, (_, r) in zip(y, rows.iterrows()):
        c = COLOURS.get(r["word"], "0.5")
        if not (math.isnan(r["low"]) or math.isnan(r["high"])):
            ax.plot([100 * r["low"], 100 * r["high"]], [yi, yi], color=c, lw=2.2, solid_capstyle="butt")
        ax.plot(100 * r["change"], yi, "o", color=c, ms=6, mec="black", mew=0.4)
        if not math.isnan(r["paper"]):
            ax.plot(100 * r["paper"], yi, "D", color="black", ms=4)
    src = list(rows["source"])
    for i in range(1, len(src)):
        if src[i] != src[i - 1]:
            ax.axhline(y[i] + 0.5, color="0.8", lw=0.8)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{s}: {lab}" for s, lab in zip(rows["source"], rows["label"])], fontsize=7.5)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(f"relative change in test {METRIC.upper()} (sampled-100) against "
                  "the baseline, % (95% interval)")
    ax.grid(axis="x", color="0.92")
    handles = [Line2D([], [], marker="o", ls="-", color=COLOURS[w], mec="black", mew=0.4, label=w)
               for w in comparison.WORDS]
    handles.append(Line2D([], [], marker="D", ls="", color="black", ms=4, label="paper's claimed change"))
    ax.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9, y=1.0)
    fig.tight_layout()
    return fig
