"""Reporting: where results go, captioned tables, figures, the data-prep summaries, the run index.

The results root is ``$UFN_RESULTS_DIR`` when set, else ``<project>/results`` (the root
``ufnlib.experiments`` caches runs under, in ``runs/``: one cache for every profile). Each
profile's report lives in a folder of its own, so no profile's tables replace another's; a
notebook names its profile with ``use_profile(profile)`` before it writes:

  <profile>/tables/<name>.csv + .md      ``save_table`` (the Markdown carries the caption)
  <profile>/tables/<name>.json           ``save_numbers`` (a notebook's key numbers)
  <profile>/figures/<name>.png + .pdf    ``save_figure``
  <profile>/notebooks/NN_name.ipynb      executed notebooks (+ .html), written by run_all.sh
  <profile>/run.json, <profile>/summary.md   ``record_run``, ``write_summary``
  index.html                             ``write_index``

Command line (used by run_all.sh): ``python -m ufnlib.report index|summary|failure``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
import math
import os
import platform
import socket
import sys
from pathlib import Path

import numpy as np

from . import owndata
from .data import DEFAULT_CACHE, PAPER_TABLE1, REGISTRY, DataError, Sequences, load, resolve, statistics
from .experiments import atomic_write_bytes, git_commit, results_dir

PROFILES = ("smoke", "quick", "paper")


# ------------------------------------------------------------------------------------ places
_profile: str | None = None   # the profile whose report folder save_* write into (use_profile)


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of ``PROFILES``, else fail with the choices."""
    if profile not in PROFILES:
        raise ValueError(f"profile '{profile}' unknown; choose from {PROFILES}")
    return profile


def use_profile(profile: str) -> str:
    """Check ``profile`` and make ``<results>/<profile>/`` the folder that ``save_table``,
    ``save_figure`` and ``save_numbers`` write into. Every notebook calls it once, after its
    parameters cell. Returns ``profile``."""
    global _profile
    _profile = check_profile(profile)
    return profile


def profile_dir(profile: str | None = None, root=None) -> Path:
    """``<results>/<profile>``: one profile's tables, figures, executed notebooks and summary."""
    profile = profile or _profile
    if profile is None:
        raise RuntimeError("no profile chosen for the report folder. Fix: call "
                           "ufnlib.report.use_profile(profile) before saving tables or figures.")
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


def markdown_table(df, formats: dict | None = None, index: bool = True) -> str:
    """A pipe table of ``df`` (no extra packages). ``formats`` maps a column to a format string,
    e.g. ``{"density": "{:.3%}"}``; integers get thousands separators, floats 4 significant
    digits, missing values stay empty."""
    formats = formats or {}
    cols = list(df.columns)
    multi = getattr(df.index, "nlevels", 1) > 1
    names = [n or "" for n in df.index.names] if multi else [df.index.name or ""]
    head = (names if index else []) + [str(c) for c in cols]
    rows = []
    for idx, r in df.iterrows():
        cells = ([_fmt_cell(i, None) for i in idx] if multi else [_fmt_cell(idx, None)]) if index else []
        cells += [_fmt_cell(r[c], formats.get(c)) for c in cols]
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
                    url=None, note="seeded synthetic data with known false negatives (ufnlib.synthetic)")
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


# ------------------------------------------------------------------------ run_all.sh support
def describe_failure(path) -> str:
    """For an executed notebook that stopped on an error: which cell (counted as in the source
    notebook, papermill's injected cells not counted), its first lines and the error."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    k = 0
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        k += 1
        errs = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errs:
            src = "\n".join("    " + l for l in cell.source.splitlines()[:6])
            e = errs[0]
            return (f"failing cell: code cell {k} of the notebook (In [{cell.get('execution_count')}] "
                    f"in the executed copy)\n"
                    f"{src}\nerror: {e.get('ename')}: {e.get('evalue')}")
    return "no cell with an error output found (the kernel may have died or timed out)"


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import importlib.metadata as md
    try:
        torch_v = md.version("torch")
    except md.PackageNotFoundError:
        torch_v = "?"
    return dict(host=socket.gethostname(), cpu=cpu, cpu_count=os.cpu_count(),
                python=sys.version.split()[0], torch=torch_v, platform=platform.platform())


def record_run(profile: str, status_file, started: str, root=None, mode: str = "") -> Path:
    """Merge a run's per-notebook statuses (``status_file``: lines ``name<TAB>status<TAB>seconds``)
    into ``<profile>/run.json`` with the commit, time, machine and ``mode`` (report only /
    computing). Returns the path."""
    p = profile_dir(profile, root) / "run.json"
    old = json.loads(p.read_text()) if p.is_file() else {}
    notebooks = {n["name"]: n for n in old.get("notebooks", [])}
    for line in Path(status_file).read_text().splitlines():
        if line.strip():
            name, status, secs = line.split("\t")
            notebooks[name] = dict(name=name, status=status, seconds=float(secs), started=started)
    rec = dict(profile=profile, started=started,
               finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               git=git_commit(), machine=_machine(), mode=mode or old.get("mode", ""),
               data=("UFN_DATA_DIR" if os.environ.get("UFN_DATA_DIR") else "project cache / download"),
               notebooks=sorted(notebooks.values(), key=lambda n: n["name"]))
    atomic_write_bytes(p, json.dumps(rec, indent=1).encode())
    return p


def write_index(root=None) -> Path:
    """Write ``index.html`` linking every profile's executed notebooks (``.ipynb``, and the HTML
    rendering where it is there), its summary, commit, date and machine."""
    root = results_dir(root)
    parts = []
    for run_json in sorted(root.glob("*/run.json")):
        r = json.loads(run_json.read_text())
        m, g = r.get("machine", {}), r.get("git", {})
        prof = html.escape(r["profile"])
        items = []
        for n in r["notebooks"]:
            stem = html.escape(n["name"])
            base = f"{prof}/notebooks/{stem}"
            has_html = (root / r["profile"] / "notebooks" / f"{n['name']}.html").is_file()
            link = f'<a href="{base}.ipynb">{stem}</a>' + (f' (<a href="{base}.html">html</a>)' if has_html else "")
            cls = "ok" if n["status"] == "ok" else "fail"
            items.append(f'<tr><td>{link}</td><td class="{cls}">{html.escape(n["status"])}</td>'
                         f'<td>{n["seconds"]:.0f} s</td><td>{html.escape(n.get("started", ""))}</td></tr>')
        commit = html.escape(g.get("commit", "?")[:12]) + (" (uncommitted changes in ufnlib)" if g.get("dirty") else "")
        summary = (f' <a href="{prof}/summary.md">summary of the claims</a>;'
                   if (root / r["profile"] / "summary.md").is_file() else "")
        parts.append(
            f"<h2>profile <code>{prof}</code></h2>\n<p>{html.escape(r.get('mode', ''))};{summary} tables "
            f'<a href="{prof}/tables/">{prof}/tables/</a>, figures <a href="{prof}/figures/">{prof}/figures/</a>; '
            f"commit <code>{commit}</code>; run {html.escape(r.get('started', ''))} to "
            f"{html.escape(r.get('finished', ''))} (UTC); {html.escape(str(m.get('cpu')))} x "
            f"{m.get('cpu_count')}; Python {html.escape(str(m.get('python')))}, torch "
            f"{html.escape(str(m.get('torch')))}; data from {html.escape(str(r.get('data', '?')))}</p>\n"
            "<table><tr><th>notebook</th><th>status</th><th>time</th><th>started</th></tr>\n"
            + "\n".join(items) + "\n</table>")
    body = "\n".join(parts) or "<p>No executed notebooks yet. Run <code>bash run_all.sh</code>.</p>"
    page = ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>UFNRec reproduction: "
            "executed notebooks</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "td,th{padding:.2em .8em;text-align:left}.ok{color:#176117}.fail{color:#b00020;font-weight:bold}"
            "</style></head><body>\n<h1>UFNRec reproduction: executed notebooks</h1>\n"
            "<p>One section per profile (written by run_all.sh); the run cache <code>runs/</code> is "
            "shared by all of them.</p>\n" + body + "\n</body></html>\n")
    p = root / "index.html"
    atomic_write_bytes(p, page.encode())
    return p


# claims tables -> the notebook that tests them
CLAIM_TABLES = {"table2_claims": "01_main_results", "table3_claims": "02_ablation",
                "table4_claims": "03_srns_comparison", "figure3_claims": "04_hyperparameters",
                "figure4_claims": "05_training_curves", "figure5_claims": "06_case_study",
                "protocol_claims": "09_protocol"}


def claims_overview(profile: str, root=None):
    """Every claim the profile's notebooks tested (from ``tables/*_claims.csv``), one row each:
    source, claim, verdict, missing runs, and the table and notebook that hold the evidence."""
    import pandas as pd
    tables = profile_dir(profile, root) / "tables"
    rows = []
    for stem, nb in CLAIM_TABLES.items():
        f = tables / f"{stem}.csv"
        if not f.is_file():
            continue
        df = pd.read_csv(f, keep_default_na=False)
        for r in df.to_dict("records"):
            rows.append(dict(source=r["source"], claim=r["text"], verdict=r["ours"],
                             missing=r.get("missing", ""), table=f"{profile}/tables/{stem}.md",
                             notebook=f"{profile}/notebooks/{nb}.ipynb"))
    return pd.DataFrame(rows, columns=["source", "claim", "verdict", "missing", "table", "notebook"])


def missing_overview(profile: str, root=None) -> list[str]:
    """The runs the profile's notebooks asked for that are not in the cache (their key numbers)."""
    out = []
    for f in sorted((profile_dir(profile, root) / "tables").glob("[0-9][0-9]_*.json")):
        runs = json.loads(f.read_text()).get("runs") or {}
        out += runs.get("missing", []) if isinstance(runs, dict) else []
    return list(dict.fromkeys(out))


def claims_markdown(df, link_prefix: str = "", short: bool = False) -> str:
    """The overview as a Markdown table (evidence as links, relative to ``link_prefix``);
    ``short``: the number of missing runs instead of their names."""
    lines = ["| claim | verdict | evidence |", "|---|---|---|"]
    for r in df.to_dict("records"):
        miss = r["missing"].split(":")[0] + " missing" if short else "missing " + r["missing"]
        verdict = r["verdict"] + (f" ({miss})" if r["missing"] else "")
        lines.append(f"| {r['source']}: {r['claim']} | {verdict} | [table]({link_prefix}{r['table']}), "
                     f"[notebook]({link_prefix}{r['notebook']}) |")
    return "\n".join(lines) + "\n"


def write_summary(profile: str, root=None) -> tuple[Path, str]:
    """Write ``<profile>/summary.md`` (every tested claim with its verdict and evidence, and the
    missing runs) and return its path and a short text for the terminal."""
    from .stats import NOT_COMPUTED, VERDICTS
    df, miss = claims_overview(profile, root), missing_overview(profile, root)
    counts = {v: int((df["verdict"] == v).sum()) for v in VERDICTS}
    notes = {}   # a notebook's own word on why it could not compute (e.g. 06: weights not on this machine)
    for f in (profile_dir(profile, root) / "tables").glob("[0-9][0-9]_*.json"):
        st = json.loads(f.read_text()).get("status")
        if isinstance(st, str) and st.startswith("not computed"):
            notes[f.stem] = st.removeprefix("not computed: ").split(";")[0]
    plural = {"holds": "hold", "does not hold": "do not hold"}
    head = (f"{len(df)} claims of the paper tested under profile '{profile}': "
            + ", ".join(f"{n} {plural.get(v, v) if n != 1 else v}" for v, n in counts.items()))
    todo = (f"{len(miss)} run(s) the notebooks asked for are not computed yet; compute them with "
            f"`bash run_all.sh --profile {profile} --compute` or "
            f"`python -m ufnlib grid --profile {profile} --workers N` (then rerun run_all.sh)"
            if miss else "every run the notebooks asked for is in the cache")
    md = (f"# Paper claims under profile `{profile}`\n\n{head}.\n\n{todo}.\n\n"
          "Verdicts: *holds* / *does not hold* are decided on every run the test needs; *partly "
          "computed* means some of those runs are missing (the detail in the claims table says what "
          "the computed part shows); *not computed* means none are there.\n\n"
          + claims_markdown(df, "../")
          + ("\n## Runs not computed yet\n\n" + "\n".join(f"- `{m}`" for m in miss) + "\n" if miss else ""))
    p = profile_dir(profile, root) / "summary.md"
    atomic_write_bytes(p, md.encode())
    width = 96
    lines = [head + "."]
    for v in VERDICTS:
        sub = df[df["verdict"] == v]
        if v == NOT_COMPUTED:   # one line per notebook: what is not computed is a list of runs, not of claims
            for nb, g in sub.groupby("notebook", sort=False):
                why = notes.get(Path(nb).stem, "")
                lines.append(f"  {v:>15}  {len(g)} claim(s) of {Path(nb).stem}" + (f" ({why})" if why else ""))
            continue
        for r in sub.to_dict("records"):
            text = f"  {v:>15}  {r['source']}: {r['claim']}"
            lines.append(text if len(text) <= width else text[: width - 3] + "...")
    lines.append(todo + ".")
    return p, "\n".join(lines)


def tidy_executed(path) -> None:
    """Drop what changes on every execution of an unchanged notebook (papermill's per-cell times,
    the kernel's execution metadata), so a rerun from the same cache leaves git clean."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    pm = nb.metadata.get("papermill", {})
    for k in ("start_time", "end_time", "duration", "input_path", "output_path"):
        pm.pop(k, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"    # papermill draws a new random id every run
        cpm = cell.metadata.get("papermill")
        if cpm is not None:
            for k in ("start_time", "end_time", "duration"):
                cpm.pop(k, None)
    nbformat.write(nb, str(path))


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m ufnlib.report", description="run_all.sh helpers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ix = sub.add_parser("index", help="record a run's statuses and rewrite index.html")
    ix.add_argument("--profile", required=True, choices=PROFILES)
    ix.add_argument("--status-file", required=True)
    ix.add_argument("--started", required=True)
    ix.add_argument("--mode", default="", help="how the notebooks ran, e.g. 'report only'")
    sm = sub.add_parser("summary", help="write <profile>/summary.md and print the claims' verdicts")
    sm.add_argument("--profile", required=True, choices=PROFILES)
    td = sub.add_parser("tidy", help="drop the run-to-run times of an executed notebook")
    td.add_argument("notebook")
    fl = sub.add_parser("failure", help="name the failing cell of an executed notebook")
    fl.add_argument("notebook")
    args = ap.parse_args(argv)
    if args.cmd == "index":
        record_run(args.profile, args.status_file, args.started, mode=args.mode)
        print(write_index())
    elif args.cmd == "summary":
        p, text = write_summary(args.profile)
        print(text)
        print(f"claims and evidence: {p}")
    elif args.cmd == "tidy":
        tidy_executed(args.notebook)
    else:
        print(describe_failure(args.notebook))
    return 0


if __name__ == "__main__":
    sys.exit(main())
