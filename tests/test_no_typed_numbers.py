"""No number typed by hand in the README or docs/: every digit outside the generated sections
(`<!-- results:NAME -->` ... `<!-- /results:NAME -->`), the generated values
(`<!-- n:FILE:KEY -->` ... `<!-- /n -->`), code and links is a name, not a result: a year, a
table/figure/notebook/section number, a metric's cut-off, the protocol's name, a version, a commit.
Settings come from `results/facts.json` (scripts/facts.py reads them from the code), results from
the notebooks' tables and the benchmark reports (issue 31, item 5)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# names that contain digits (each a pattern, matched case-sensitively)
ALLOWED = [
    r"\b(19|20)\d\d\b",                                   # years
    r"\b(Tables?|Figures?|Algorithm|Equation|Eq\.) \d+(-\d+)?(/\d+)?\b",   # paper tables, figures, Table 3/4
    r"\b[Nn]otebooks? \d\d( and \d\d)?\b",                 # our notebooks
    r"\btop-\d+\b", r"\bexit status \d\b",                   # a list's name, an exit code
    r"\b(NDCG|HR|MRR)@\d+\b",                              # metric cut-offs
    r"\bsampled-100\b", r"\bS3-Rec\b", r"\bBERT4Rec\b",    # protocol and model names
    r"\b95% interval\b",                                   # the interval's level (comparison.ALPHA)
    r"\bissue \d+\b", r"\bv\d+(\.\d+)*\b",                 # issue numbers, versions
    r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{7,16}\b",              # commit ids and run keys (hex with a letter)
    r"\bgenerations? \d\b",                               # numerics generations (analysis/generations.py)
    r"^\s*\d+\. ",                                         # an ordered list's item numbers
    r"\bH[12]00\b",                                        # GPU models (NVIDIA H100, H200)
    r"\bsections? \d+\b",                                   # a notebook's section numbers
    r"\blines? \d+(-\d+)?((, | and )\d+(-\d+)?)*",         # Algorithm 1's line numbers
    r"\b(UTF-8|ISO 8601|SHA-1)\b",                         # standards' names
]


def scan(text: str) -> list[str]:
    """Lines of ``text`` with a digit that is not in a generated section, code, a link target
    or an ALLOWED name."""
    text = re.sub(r"<!-- results:(\w+) -->.*?<!-- /results:\1 -->", "", text, flags=re.S)
    text = re.sub(r"<!-- n:.*?<!-- /n -->", "", text, flags=re.S)       # one generated value
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    bad = []
    for line in text.splitlines():
        rest = line
        for pat in ALLOWED:
            rest = re.sub(pat, "", rest)
        if re.search(r"\d", rest):
            bad.append(line.strip())
    return bad


def test_scan_finds_a_typed_result_and_passes_names():
    assert scan("UFN gains 5.6% over SASRec.") == ["UFN gains 5.6% over SASRec."]
    assert scan("Table 2 and notebook 09, NDCG@10 (sampled-100), 2022.") == []
    assert scan("<!-- results:x -->\nUFN gains 5.6%.\n<!-- /results:x -->\n`python -m x --k 3`") == []


def test_scan_skips_generated_values_and_commits():
    assert scan("d = <!-- n:results/facts.json:config.hidden -->50<!-- /n --> at 64656c9.") == []
    assert scan("at 1234567, d = <!-- n:x:y -->50<!-- /n -->") == ["at 1234567, d ="]   # no letter: a number


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_docs_have_no_number_typed_by_hand(page):
    bad = scan((ROOT / "docs" / page).read_text())
    assert bad == [], f"docs/{page} lines with a number outside the generated parts (generate it, point to " \
                      "the record or report that has it, or say it without the number): " + " | ".join(bad[:10])


def test_readme_has_no_number_typed_by_hand():
    bad = scan((ROOT / "README.md").read_text())
    assert bad == [], "README lines with a number outside the generated sections (generate it, or move it " \
                      "into code): " + " | ".join(bad[:10])
