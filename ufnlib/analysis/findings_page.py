"""The findings section of ``results/index.html``: notebook 11's figure and counts, every claim
with its verdict (coloured) and evidence links, each notebook's key figure, and where the
numbers come from (commit, time, data checksums). ``runindex.write_index`` puts it above the
per-profile lists of executed notebooks. Static HTML with relative links, so the page reads the
same from ``file://`` and from a web server.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from .findings import groups_text

# each notebook's key figure (figures/<stem>.png), where it has one
KEY_FIGURES = {"00_data_prep": "00_item_popularity", "03_srns_comparison": "table4_detectors",
               "04_hyperparameters": "figure3_hyperparameters", "05_training_curves": "figure4_training_curves",
               "07_teaching_false_negatives": "07_false_negative_share", "08_walkthrough": "08_toy_logits",
               "09_protocol": "09_protocol_curves", "10_two_protocols": "10_two_protocols"}   # 11: heads the page
VERDICT_CLASS = {"holds": "holds", "contradicted": "contra", "not shown": "unclear",
                 "partly computed": "partial", "not computed": "none"}
STYLE = (".holds{background:#d9f0d3}.contra{background:#f4cccc}.unclear{background:#eeeeee}"
         ".partial{background:#fde9c9}.none{background:#f7f7f7;color:#777}"
         "table.claims td{vertical-align:top;border-bottom:1px solid #ddd}"
         ".figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{width:28em;margin:0}"
         ".figs img{width:100%;border:1px solid #ddd}img.forest{max-width:100%}")


def _e(v) -> str:
    return html.escape(str(v))


def _notebook_link(root: Path, profile: str, name: str) -> str:
    """The executed notebook as HTML where it was rendered, else the ``.ipynb``."""
    base = f"{profile}/notebooks/{name}"
    return base + (".html" if (root / f"{base}.html").is_file() else ".ipynb")


def _json(p: Path) -> dict:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def _claims(root: Path, profile: str, df) -> str:
    if df is None or not len(df):
        return "<p>No claims tested yet.</p>"
    rows = []
    for r in df.to_dict("records"):
        nb = Path(r["notebook"]).stem
        miss = f" ({_e(r['missing'].split(':')[0])} missing)" if r["missing"] else ""
        rows.append(f'<tr><td>{_e(r["source"])}: {_e(r["claim"])}</td>'
                    f'<td class="{VERDICT_CLASS.get(r["verdict"], "")}">{_e(r["verdict"])}{miss}</td>'
                    f'<td><a href="{_e(r["table"])}">table</a>, '
                    f'<a href="{_e(_notebook_link(root, profile, nb))}">notebook</a></td></tr>')
    return ('<table class="claims"><tr><th>claim</th><th>verdict (our runs)</th><th>evidence</th></tr>\n'
            + "\n".join(rows) + "\n</table>")


def _figures(root: Path, profile: str) -> str:
    out = []
    for name, stem in KEY_FIGURES.items():
        png = f"{profile}/figures/{stem}.png"
        if (root / png).is_file():
            out.append(f'<figure><a href="{_e(_notebook_link(root, profile, name))}"><img src="{_e(png)}" '
                       f'alt="{_e(name)}: {_e(stem)}"></a><figcaption>{_e(name)}</figcaption></figure>')
    return '<div class="figs">\n' + "\n".join(out) + "\n</div>" if out else "<p>No figures yet.</p>"


def _provenance(root: Path, profile: str) -> str:
    run = _json(root / profile / "run.json")
    g = run.get("git", {})
    data = _json(root / profile / "tables" / "00_data_prep.json").get("sources", [])
    sums = "".join(f"<li><code>{_e(s.get('file', s.get('dataset')))}</code>: sha256 <code>{_e(s.get('sha256'))}</code>"
                   f"</li>" for s in data if s.get("sha256"))
    return (f"<p>Commit <code>{_e(str(g.get('commit', '?'))[:12])}</code>"
            + (" (with uncommitted changes)" if g.get("dirty") else "")
            + f"; notebooks run {_e(run.get('started', '?'))} to {_e(run.get('finished', '?'))} (UTC), "
            f"{_e(run.get('mode', ''))}; data from {_e(run.get('data', '?'))}.</p>"
            + (f"<p>Data checksums:</p><ul>{sums}</ul>" if sums else ""))


def section(root, claims, profile: str = "paper") -> str:
    """The findings of ``profile`` as an HTML fragment (empty when notebook 11 has not run);
    ``claims``: ``runindex.claims_overview(profile, root)``."""
    root = Path(root)
    nums = _json(root / profile / "tables" / "11_findings.json")
    forest = f"{profile}/figures/findings_forest.png"
    if not nums or not (root / forest).is_file():
        return ""
    counts = ", ".join(f"{_e(w)} in {n}" for w, n in nums.get("counts", {}).items())
    if nums.get("groups"):
        counts = groups_text(nums["groups"], _e)
    return (f"<style>{STYLE}</style>\n<h2>The findings (profile <code>{_e(profile)}</code>)</h2>\n"
            f"<p>UFN (or a variant) against its baseline in test NDCG@10, sampled-100, over the {nums.get('rows')} "
            f"comparisons of the figure: {counts}. In {nums.get('interval_below_claim')} of the "
            f"{nums.get('with_paper_claim')} with a claimed change, the whole 95% interval lies below the paper's "
            f'change. Made by <a href="{_e(_notebook_link(root, profile, "11_findings"))}">notebook 11</a>.</p>\n'
            f'<p><img class="forest" src="{_e(forest)}" alt="forest plot of the findings"></p>\n'
            f"<h2>The paper's claims</h2>\n{_claims(root, profile, claims)}\n"
            f"<h2>Each notebook's key figure</h2>\n{_figures(root, profile)}\n"
            f"<h2>Provenance</h2>\n{_provenance(root, profile)}\n")
