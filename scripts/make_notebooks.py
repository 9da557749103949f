"""Write the notebooks this script owns from the cell texts below (no outputs, no execution
counts), so a notebook's source lives in a readable diff-friendly place.

    python scripts/make_notebooks.py           # (re)write them
    python scripts/make_notebooks.py --check   # exit 1 if a written notebook differs

Notebooks not listed here (e.g. 01_sasrec_quick.ipynb) are left alone.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
KERNEL = {"kernelspec": {"display_name": "Python (ufnrec)", "language": "python", "name": "ufnrec"},
          "language_info": {"name": "python"}}


def md(text):
    return new_markdown_cell(text.strip("\n"))


def code(text, tags=None):
    c = new_code_cell(text.strip("\n"))
    if tags:
        c.metadata["tags"] = list(tags)
    return c


DATA_PREP = [
    md("""
# 00 · Data preparation

This notebook obtains the three benchmarks the paper evaluates on (Amazon Beauty, Amazon Sports
and Outdoors, Yelp), checks every file against its published checksum, and describes the data:
our Table 1 beside the paper's, the distribution of sequence lengths, and item popularity. It
trains nothing. The files are the S3-Rec preprocessing, which matches the paper for Sports and
Yelp but **not for Beauty** (the paper used the larger SASRec version of Beauty); the table marks
this, and every later table that uses Beauty repeats it. Under the `smoke` profile the notebook
uses the seeded synthetic dataset instead, so it runs in seconds without any data.

Writes `results/tables/table1.{csv,md}`, `results/figures/00_*.{png,pdf}` and
`results/tables/00_data_prep.json` (under `$UFN_RESULTS_DIR` when set).
"""),
    code("""
import pandas as pd

import ufnlib
from ufnlib import report
"""),
    code("""
profile = "quick"                        # smoke | quick | paper (smoke: synthetic data only)
datasets = ["beauty", "sports", "yelp"]  # registry names (ufnlib.REGISTRY); each must be found
optional_datasets = ["beauty_sasrec"]    # the paper's Beauty version: described when available
download = True                          # False: look only in UFN_DATA_DIR and the project cache
""", tags=["parameters"]),
    code("""
report.check_profile(profile)
if profile == "smoke":  # no real data needed: the seeded synthetic dataset only
    datasets, optional_datasets = ["synthetic"], []
"""),
    md("""
## 1. Obtain and verify the files

`ufnlib.resolve` looks for each file in `$UFN_DATA_DIR`, then in the project cache
(`data_cache/`), and otherwise downloads it from its public source; a file is used only if its
git blob SHA-1 equals the registered one. The `origin` column says where each file came from.
"""),
    code("""
data, sources = report.load_datasets(datasets, optional_datasets, download=download)
pd.DataFrame(sources).set_index("dataset").reindex(columns=["available", "origin", "git_sha1", "note", "reason"])
"""),
    md("""
## 2. Table 1: ours beside the paper's

Users, items, actions (interactions), average sequence length and density
$= \\frac{\\text{actions}}{\\text{users} \\times \\text{items}}$, as in the paper's Table 1. A row
marked † is another version of the dataset than the paper's; `differs` names the columns that
disagree with the printed values.
"""),
    code("""
table1, caption = report.table1_comparison(data, sources)
report.save_table(table1, "table1", caption,
                  formats={"avg_len": "{:.2f}", "density": "{:.3%}", "median_len": "{:.0f}"})
print(caption)
table1
"""),
    md("""
## 3. Sequence lengths

Every user has at least 5 interactions (the 5-core filter of the source). Leave-one-out keeps
the last item for test and the second last for validation, so a model trains on `length - 2`
items per user; SASRec's window is the last 50 (`maxlen`).
"""),
    code("""
fig = report.plot_length_histograms(data)
report.save_figure(fig, "00_sequence_lengths")
"""),
    md("""
## 4. Item popularity

Rank-frequency plot (log-log). Uniform negative sampling draws every item alike, so on a
long-tailed catalogue most sampled negatives are rare items; the few popular ones are the
likeliest false negatives.
"""),
    code("""
fig = report.plot_popularity(data)
report.save_figure(fig, "00_item_popularity")
"""),
    md("""
## 5. Key numbers
"""),
    code("""
numbers = {
    "profile": profile,
    "datasets": {name: {**ufnlib.statistics(seqs), "top20_share": report.top_share(seqs)}
                 for name, seqs in data.items()},
    "sources": sources,
    "table1_differs": table1["differs"].to_dict(),
    "table1_caption": caption,
}
report.save_numbers("00_data_prep", numbers)
"""),
]

NOTEBOOKS = {"00_data_prep.ipynb": DATA_PREP}


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells, metadata=KERNEL)
    for i, c in enumerate(nb.cells):  # stable ids keep diffs quiet
        c["id"] = f"c{i:02d}"
    return nb


def main(argv) -> int:
    check = "--check" in argv
    bad = 0
    for name, cells in NOTEBOOKS.items():
        path = ROOT / "notebooks" / name
        text = nbformat.writes(build(cells)) + "\n"
        if check:
            if not path.is_file() or path.read_text() != text:
                print(f"{path} differs from scripts/make_notebooks.py; rerun it")
                bad = 1
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
