"""Notebook 00's description of the data: where each file came from (without this machine's
folders), Table 1 beside the paper's, sequence lengths and item popularity."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..data import owndata
from ..data.datasets import DEFAULT_CACHE, PAPER_TABLE1, REGISTRY, DataError, Sequences, load, resolve, statistics


def plot_length_histograms(datasets: dict[str, Sequences], clip: int = 50):
    """One panel per dataset: share of users by sequence length, one bar per length, lengths of
    ``clip`` or more pooled in the last bar (``clip`` = 50 is SASRec's window, ``maxlen``); the
    median and mean are marked."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    n = len(datasets)
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 2.9), squeeze=False)
    for ax, (name, seqs) in zip(axes[0], datasets.items()):
        lens = seqs.lengths
        counts = np.bincount(np.minimum(lens, clip), minlength=clip + 1)
        x = np.arange(len(counts))
        keep = x >= lens.min()
        ax.bar(x[keep], 100 * counts[keep] / len(lens), width=0.9, color="C0")
        ax.axvline(np.median(lens), color="C1", ls="--", lw=1, label=f"median {np.median(lens):.0f}")
        ax.axvline(lens.mean(), color="C3", ls=":", lw=1, label=f"mean {lens.mean():.2f}")
        ax.set(title=f"{name} ({seqs.n_users:,} users)", xlabel=f"sequence length (last bar: >= {clip})",
               ylabel="% of users")
        ax.legend(frameon=False, fontsize=8, title=f"{(lens >= clip).mean():.1%} have >= {clip}",
                  title_fontsize=8)
    fig.tight_layout()
    return fig


def item_counts(seqs: Sequences) -> np.ndarray:
    """Interactions per item, most popular first (items never seen are left out)."""
    c = np.bincount(seqs.items, minlength=seqs.n_items + 1)[1:]
    c = c[c > 0]
    return np.sort(c)[::-1]


def top_share(seqs: Sequences, frac: float = 0.2) -> float:
    """Share of all interactions that fall on the ``frac`` most popular items."""
    c = item_counts(seqs)
    k = max(1, int(round(frac * len(c))))
    return float(c[:k].sum() / c.sum())


def plot_popularity(datasets: dict[str, Sequences]):
    """Rank-frequency plot of item popularity (log-log), one line per dataset."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(4.6, 3.3))
    for i, (name, seqs) in enumerate(datasets.items()):
        c = item_counts(seqs)
        ax.loglog(np.arange(1, len(c) + 1), c, color=f"C{i}", lw=1.4,
                  label=f"{name} (top 20% items: {top_share(seqs):.0%} of actions)")
    ax.set(xlabel="item popularity rank", ylabel="interactions", title="Item popularity")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------------- data preparation
def dataset_source(name: str, download: bool = True) -> dict:
    """Resolve (and verify) dataset ``name`` and say where it came from: ``UFN_DATA_DIR``, the
    project cache, a download, or the synthetic generator (``origin``), with the file's name and
    checksums (no folder of this machine). Raises ``DataError`` if unavailable."""
    if name.split(":")[0] == "synthetic":
        return dict(dataset=name, origin="generated", file=None, git_sha1=None, sha256=None,
                    url=None, note="seeded synthetic data with known false negatives (ufnlib.data.synthetic)")
    if owndata.is_file_spec(name):
        ident = owndata.identity(name)
        return dict(dataset=name, origin=f"user file ({ident.where})", file=ident.name, git_sha1=ident.git_sha1,
                    sha256=None, url=None,
                    note=f"user file, format {ident.fmt} ({ident.fmt_from}), {ident.size:,} bytes")
    info = REGISTRY.get(name)
    if info is None:
        raise DataError(f"unknown dataset '{name}'. Known: {sorted(REGISTRY)}, 'synthetic', or the path "
                        f"of a file ({owndata.FORMAT_HELP}).")
    data_dir = os.environ.get("UFN_DATA_DIR")
    was_cached = (DEFAULT_CACHE / info.subdir / info.file).is_file()
    path = resolve(name, download=download)
    if data_dir and Path(data_dir).resolve() in path.resolve().parents:
        origin = "UFN_DATA_DIR"
    elif was_cached:
        origin = "project cache"
    else:
        origin = "downloaded (" + (os.environ.get("UFN_DATA_MIRROR") or info.url) + ")"
    # the file's name, not its path: committed results must not hold a machine's folders
    return dict(dataset=name, origin=origin, file=f"{info.subdir}/{path.name}", git_sha1=info.git_sha1,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(), url=info.url, note=info.note)


def load_datasets(names, optional=(), download: bool = True):
    """Load the datasets ``names`` (each must be available) and ``optional`` (loaded where
    available; otherwise recorded with the reason). Returns ``(datasets, sources)``: a dict
    name -> ``Sequences`` and a list of ``dataset_source`` dicts (``available`` True/False)."""
    datasets, sources = {}, []
    for name in list(names) + [n for n in optional if n not in names]:
        try:
            src = dataset_source(name, download=download)
            datasets[name] = load(name) if src["origin"] == "generated" or owndata.is_file_spec(name) \
                else load(name, download=False)
            src["available"] = True
        except DataError as e:
            if name not in optional:
                raise
            src = dict(dataset=name, available=False, reason=str(e), note=REGISTRY[name].note)
        sources.append(src)
    return datasets, sources


def _paper_key(name: str) -> str | None:
    base = name.replace("_sasrec", "")
    return base if base in PAPER_TABLE1 else None


def table1_comparison(datasets: dict[str, Sequences], sources: list[dict]):
    """Our Table 1 beside the paper's. Returns ``(df, caption)``: one row per dataset with our
    users/items/actions/avg length/density, the paper's printed values, which columns differ
    (``differs``), where the file came from and the registry's note. A dataset whose version is
    not the paper's (the S3-Rec Beauty) gets a dagger in its row label and in the caption."""
    import pandas as pd
    by_name = {s["dataset"]: s for s in sources}
    rows, daggers = [], []
    for name, seqs in datasets.items():
        st = statistics(seqs)
        key = _paper_key(name)
        paper = PAPER_TABLE1.get(key, {}) if key else {}
        differs = []
        if paper:
            if st["users"] != paper["users"]:
                differs.append("users")
            if st["items"] != paper["items"]:
                differs.append("items")
            if f"{st['actions'] / 1e6:.1f}M" != paper["actions"]:
                differs.append("actions")
            if round(st["avg"], 1) != paper["avg"]:
                differs.append("avg")
            if f"{st['density']:.2%}" != paper["density"]:
                differs.append("density")
        info = REGISTRY.get(name)
        version_mismatch = bool(paper) and {"users", "items"} <= set(differs)
        label = name + (" †" if version_mismatch else "")
        if version_mismatch:
            daggers.append(f"† {name}: {info.note if info else ''}.")
        rows.append(dict(
            dataset=label, users=st["users"], items=st["items"], actions=st["actions"],
            avg_len=st["avg"], density=st["density"], median_len=st["median_len"],
            max_len=st["max_len"],
            paper_users=paper.get("users"), paper_items=paper.get("items"),
            paper_actions=paper.get("actions"), paper_avg=paper.get("avg"),
            paper_density=paper.get("density"),
            differs=(", ".join(differs) if differs else "none") if paper else "(not in paper)",
            origin=by_name.get(name, {}).get("origin", ""),
            note=info.note if info else by_name.get(name, {}).get("note", "")))
    df = pd.DataFrame(rows).set_index("dataset")
    srcs = "; ".join(f"{s['dataset']}: {s['origin']}"
                     + (f" (git blob {s['git_sha1'][:10]})" if s.get("git_sha1") else "")
                     for s in sources if s.get("available", True))
    missing = [s["dataset"] for s in sources if not s.get("available", True)]
    caption = (
        "Table 1. Dataset statistics: ours (computed from the verified files, no filtering beyond "
        "the source's preprocessing; density = actions / (users x items)) beside the values "
        "printed in the paper's Table 1 (Liu et al. 2022). Files: " + (srcs or "none") + "."
        + (f" Not available here: {', '.join(missing)}." if missing else "")
        + (" " + " ".join(daggers) if daggers else "")
        + " `differs` lists the columns where ours and the paper's disagree (paper values rounded "
        "as printed).")
    return df, caption
