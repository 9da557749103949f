"""run_all.sh's bookkeeping: the failing cell of a notebook that stopped, each profile's
``run.json`` (statuses, commit, machine), ``index.html``, the claims summary
(``<profile>/summary.md``) and the tidying of executed notebooks.

    python -m ufnlib.analysis.runindex index --profile P --status-file F --started T [--mode M]
    python -m ufnlib.analysis.runindex summary --profile P
    python -m ufnlib.analysis.runindex finish --html-dir DIR NOTEBOOK...
    python -m ufnlib.analysis.runindex failure NOTEBOOK
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import os
import platform
import socket
import sys
from pathlib import Path

from ..experiments.provenance import git_commit
from ..experiments.store import results_dir
from ..files import atomic_write_bytes
from .comparison import RULE
from .report import PROFILES, profile_dir
from .stats import NOT_COMPUTED, VERDICTS


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
            f"<h3>profile <code>{prof}</code></h3>\n<p>{html.escape(r.get('mode', ''))};{summary} tables "
            f'<a href="{prof}/tables/">{prof}/tables/</a>, figures <a href="{prof}/figures/">{prof}/figures/</a>; '
            f"commit <code>{commit}</code>; run {html.escape(r.get('started', ''))} to "
            f"{html.escape(r.get('finished', ''))} (UTC); {html.escape(str(m.get('cpu')))} x "
            f"{m.get('cpu_count')}; Python {html.escape(str(m.get('python')))}, torch "
            f"{html.escape(str(m.get('torch')))}; data from {html.escape(str(r.get('data', '?')))}</p>\n"
            "<table><tr><th>notebook</th><th>status</th><th>time</th><th>started</th></tr>\n"
            + "\n".join(items) + "\n</table>")
    from .findings_page import section
    body = "\n".join(parts) or "<p>No executed notebooks yet. Run <code>bash run_all.sh</code>.</p>"
    body = section(root, claims_overview("paper", root)) + "<h2>Executed notebooks</h2>\n" + body
    page = ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>UFNRec reproduction: "
            "findings and executed notebooks</title>\n"
            "<style>body{font-family:sans-serif;max-width:72em;margin:2em auto}"
            "td,th{padding:.2em .8em;text-align:left}.ok{color:#176117}.fail{color:#b00020;font-weight:bold}"
            "</style></head><body>\n<h1>UFNRec reproduction: findings and executed notebooks</h1>\n"
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
    df, miss = claims_overview(profile, root), missing_overview(profile, root)
    counts = {v: int((df["verdict"] == v).sum()) for v in VERDICTS}
    notes = {}   # a notebook's own word on why it could not compute (e.g. 06: weights not on this machine)
    for f in (profile_dir(profile, root) / "tables").glob("[0-9][0-9]_*.json"):
        st = json.loads(f.read_text()).get("status")
        if isinstance(st, str) and st.startswith("not computed"):
            notes[f.stem] = st.removeprefix("not computed: ").split(";")[0]
    plural = {"holds": "hold"}
    head = (f"{len(df)} claims of the paper tested under profile '{profile}': "
            + ", ".join(f"{n} {plural.get(v, v) if n != 1 else v}" for v, n in counts.items()))
    todo = (f"{len(miss)} run(s) the notebooks asked for are not computed yet; compute them with "
            f"`bash run_all.sh --profile {profile} --compute` or "
            f"`python -m ufnlib grid --profile {profile} --workers N` (then rerun run_all.sh)"
            if miss else "every run the notebooks asked for is in the cache")
    md = (f"# Paper claims under profile `{profile}`\n\n{head}.\n\n{todo}.\n\n"
          "Verdicts, decided on every run the test needs by the comparison model (ufnlib.analysis.comparison; "
          "docs/design.md): *holds* = every comparison the claim needs is decided in its direction; "
          "*contradicted* = one is decided the other way; *not shown* = the data cannot tell (no clear "
          "difference, or one seed). A comparison is decided by its rule, " + RULE + ". *Partly computed* "
          "means some of the runs the test needs are missing (the detail in the claims table says what "
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


def finish(notebooks, html_dir) -> list[str]:
    """Tidy each executed notebook (``tidy_executed``) and render it to ``html_dir/<name>.html``,
    all in this one process (run_all.sh calls it once, not twice per notebook). Returns the
    notebooks that could not be rendered (a warning, not a failure)."""
    from nbconvert import HTMLExporter
    exporter, failed = HTMLExporter(), []
    for nb in map(Path, notebooks):
        if not nb.is_file():
            continue
        tidy_executed(nb)
        try:
            body, _ = exporter.from_filename(str(nb))
            atomic_write_bytes(Path(html_dir) / f"{nb.stem}.html", body.encode())
        except Exception as e:  # noqa: BLE001 -- a notebook that does not render is still a result
            failed.append(f"{nb}: {type(e).__name__}: {e}")
    return failed


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m ufnlib.analysis.runindex", description="run_all.sh helpers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ix = sub.add_parser("index", help="record a run's statuses and rewrite index.html")
    ix.add_argument("--profile", required=True, choices=PROFILES)
    ix.add_argument("--status-file", required=True)
    ix.add_argument("--started", required=True)
    ix.add_argument("--mode", default="", help="how the notebooks ran, e.g. 'report only'")
    sm = sub.add_parser("summary", help="write <profile>/summary.md and print the claims' verdicts")
    sm.add_argument("--profile", required=True, choices=PROFILES)
    fn = sub.add_parser("finish", help="tidy executed notebooks and render them to HTML, in one process")
    fn.add_argument("--html-dir", required=True)
    fn.add_argument("notebooks", nargs="+")
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
    elif args.cmd == "finish":
        for f in finish(args.notebooks, args.html_dir):
            print(f"run_all: warning: could not render {f}", file=sys.stderr)
    else:
        print(describe_failure(args.notebook))
    return 0


if __name__ == "__main__":
    sys.exit(main())
