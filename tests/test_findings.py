"""The findings at one glance: notebook 11's rows from constructed tables, the README's shape
(the figure at the top, a short "In short", at most 200 lines) and its generated sections being
current (`scripts/update_readme.py --check`)."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest

from ufnlib.analysis import comparison, findings

ROOT = Path(__file__).resolve().parent.parent


def _tables(t: Path, heldout_out: bool) -> None:
    def cell(ds, bb, rel, lo, hi, word, paper):
        return dict(dataset=ds, backbone=bb, arm="+UFN", metric="ndcg@10", rel_improv=rel, ci_low=lo, ci_high=hi,
                    effect=word, paper_improv=paper)
    base = dict(dataset="d1", backbone="SASRec", arm="backbone", metric="ndcg@10", rel_improv=math.nan)
    pd.DataFrame([base, cell("d1", "SASRec", -0.01, -0.02, 0.005, comparison.UNCLEAR, 0.05),
                  cell("d1", "SASRec", 0.2, 0.1, 0.3, comparison.HELPS, 0.05) | {"metric": "hr@10"},
                  cell("d2", "BERT4Rec", -0.2, math.nan, math.nan, comparison.ONE_SEED, 0.02)]
                 ).to_csv(t / "table2_data.csv", index=False)
    pd.DataFrame([dict(arm="fmr", label="+FMR", metric="ndcg@10", rel_improv=-0.03, ci_low=-0.04, ci_high=-0.02,
                       effect=comparison.HURTS, paper_improv=0.03)]).to_csv(t / "table3_data.csv", index=False)
    (t / "09_protocol.json").write_text(json.dumps({"dataset": "d1"}))
    read = pd.DataFrame({"reading": ["last epoch", "last epoch"], "strategy": ["ufn", "uniform"],
                         "vs uniform": ["+2.30%", ""], "95% interval": ["[-3.52%, +8.13%]", ""],
                         "verdict": [comparison.UNCLEAR, ""]})
    read.to_csv(t / "protocol_readings.csv", index=False)
    if heldout_out:
        read.to_csv(t / "protocol_readings_heldout_out.csv", index=False)


def test_forest_rows_read_the_saved_tables(tmp_path):
    _tables(tmp_path, heldout_out=False)
    rows = findings.forest_rows(tmp_path)
    assert list(rows["source"]) == ["Table 2", "Table 2", "Table 3", "09 (held-out in reach)"]
    assert rows.iloc[0][["change", "low", "high", "paper"]].tolist() == [-0.01, -0.02, 0.005, 0.05]
    assert math.isnan(rows.iloc[1]["low"]) and rows.iloc[1]["word"] == comparison.ONE_SEED
    r09 = rows.iloc[3]
    assert [r09["change"], r09["low"], r09["high"]] == pytest.approx([0.023, -0.0352, 0.0813])
    assert r09["paper"] == 0.05                      # Table 2's claim for notebook 09's dataset and SASRec
    assert findings.counts(rows) == {comparison.HELPS: 0, comparison.HURTS: 1, comparison.UNCLEAR: 2,
                                     comparison.ONE_SEED: 1}
    assert findings.group_counts(rows) == {
        "Table 2's cells": {"rows": 2, "counts": {comparison.UNCLEAR: 1, comparison.ONE_SEED: 1}},
        "Tables 3-4's variants": {"rows": 1, "counts": {comparison.HURTS: 1}},
        "notebook 09's readings of its fixed-budget runs": {"rows": 1, "counts": {comparison.UNCLEAR: 1}}}
    fig = findings.forest(rows)
    assert len(fig.axes[0].get_yticklabels()) == len(rows)


def test_forest_rows_add_the_heldout_setting_and_skip_missing_tables(tmp_path):
    assert findings.forest_rows(tmp_path).empty
    _tables(tmp_path, heldout_out=False)
    (tmp_path / "protocol_readings_heldout_out.csv").write_text("\n")      # saved empty: its runs missing
    assert len(findings.forest_rows(tmp_path)) == 4
    _tables(tmp_path, heldout_out=True)
    assert list(findings.forest_rows(tmp_path)["source"])[-2:] == ["09 (held-out in reach)",
                                                                  "09 (held-out out of reach)"]


def test_readme_is_short_with_the_figure_at_the_top():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines (at most 200; long lists go to docs/results.md)"
    top = "\n".join(lines[:40])
    m = re.search(r"!\[[^\]]*\]\(([^)]+findings_forest\.png)\)", top)
    assert m and (ROOT / m.group(1)).is_file(), "the findings figure is not in the README's first 40 lines"
    start, end = lines.index("<!-- results:in_short -->"), lines.index("<!-- /results:in_short -->")
    assert 0 < end - start - 1 <= 6, "In short: at most 6 lines"
    assert lines.index("<!-- results:in_short -->") < lines.index("<!-- results:claims -->")


def test_generated_sections_are_current():
    """README.md and docs/*.md say what the committed tables and runs say: a change that moves a
    reported number fails here until `python scripts/update_readme.py` is run."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "update_readme.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr + "\nFix: python scripts/update_readme.py"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("a", "img") and a.get("href" if tag == "a" else "src"):
            self.links.append((tag, a.get("href" if tag == "a" else "src")))


def _unresolved(page: Path) -> tuple[list, list]:
    p = _Links()
    p.feed(page.read_text())
    local = [(t, u) for t, u in p.links if not re.match(r"^(https?:|mailto:|#)", u)]
    return local, [u for _, u in local if not (page.parent / unquote(u.split("#")[0])).exists()]


def test_findings_page_links_resolve(tmp_path):
    """The findings page, generated on a constructed report folder: the figure, the claims with
    their verdict colours and links, and every local link and image resolving."""
    from ufnlib.analysis import runindex
    prof = tmp_path / "paper"
    for d in ("tables", "figures", "notebooks"):
        (prof / d).mkdir(parents=True)
    (prof / "tables" / "11_findings.json").write_text(json.dumps(
        {"rows": 2, "counts": {comparison.HURTS: 2}, "with_paper_claim": 2, "interval_below_claim": 1}))
    for stem in ("findings_forest", "09_protocol_curves"):
        (prof / "figures" / f"{stem}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    pd.DataFrame([{"source": "Table 3, FCR", "text": "FCR helps.", "ours": "contradicted", "missing": ""}]
                 ).to_csv(prof / "tables" / "table3_claims.csv", index=False)
    (prof / "tables" / "table3_claims.md").write_text("x")
    for nb in ("02_ablation", "09_protocol", "11_findings"):
        (prof / "notebooks" / f"{nb}.ipynb").write_text("{}")
    (prof / "notebooks" / "11_findings.html").write_text("<html></html>")
    (prof / "run.json").write_text(json.dumps({"profile": "paper", "git": {"commit": "abc"}, "notebooks": [
        {"name": "11_findings", "status": "ok", "seconds": 1.0}]}))
    page = runindex.write_index(tmp_path)
    text = page.read_text()
    assert 'src="paper/figures/findings_forest.png"' in text and 'class="contra"' in text
    assert 'href="paper/notebooks/11_findings.html"' in text        # rendered: the HTML
    assert 'href="paper/notebooks/02_ablation.ipynb"' in text       # not rendered: the notebook
    local, bad = _unresolved(page)
    assert len(local) >= 6 and bad == []


def test_committed_findings_page_links_resolve():
    """results/index.html as committed: the findings figure is on it and nothing it links is
    missing, except the notebooks' HTML renderings, which are not in git (each re-execution would
    add megabytes to the history): `bash run_all.sh` writes them beside the committed .ipynb."""
    page = ROOT / "results" / "index.html"
    local, bad = _unresolved(page)
    assert any(u.endswith("findings_forest.png") for t, u in local if t == "img")
    bad = [u for u in bad if not re.match(r"^[a-z]+/notebooks/[^/]+\.html$", u)]
    assert bad == [], f"results/index.html links missing files: {bad[:10]}"


def test_readme_and_docs_local_links_resolve():
    """Every relative link in README.md and docs/*.md names a file or folder of the checkout."""
    bad = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for u in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if not re.match(r"(https?:|mailto:|#)", u) and not (doc.parent / unquote(u.split("#")[0])).exists():
                bad.append(f"{doc.name}: {u}")
    assert bad == [], bad
