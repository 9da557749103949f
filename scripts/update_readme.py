"""Fill the generated sections of README.md and docs/*.md from saved outputs, never from the run
records or git: the notebooks' tables and key numbers (results/paper/tables/), the benchmark
reports (results/benchmarks/) and results/facts.json (scripts/facts.py).

    python scripts/update_readme.py          # rewrite the generated parts in place
    python scripts/update_readme.py --check  # exit 1 if a file is out of date

``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->``: section NAME (``SECTIONS``: name -> the
function that reads its files and formats them). ``<!-- n:FILE:KEY[:FORMAT] -->v<!-- /n -->``: one
value of a JSON file (FILE relative to the repository, KEY dotted, FORMAT a format spec).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TABLES = ROOT / "results" / "paper" / "tables"
BENCH = ROOT / "results" / "benchmarks"

from ufnlib.analysis.tables import is_true  # noqa: E402
from ufnlib.paper import TABLE2  # noqa: E402


def numbers(name: str) -> dict | None:
    """A notebook's key numbers (``tables/<name>.json``), None before it ran."""
    f = TABLES / f"{name}.json"
    return json.loads(f.read_text()) if f.is_file() else None


def table(name: str, **kw):
    """A notebook's saved table (``tables/<name>.csv``), None before it ran."""
    import pandas as pd
    f = TABLES / f"{name}.csv"
    return pd.read_csv(f, **kw) if f.is_file() else None


def table_md(name: str) -> str | None:
    """A notebook's saved Markdown table without its caption (the page says what it is)."""
    f = TABLES / f"{name}.md"
    return f.read_text().strip().split("\n\n", 1)[-1] if f.is_file() else None


def facts() -> dict:
    return json.loads((ROOT / "results" / "facts.json").read_text())


NOT_YET = "Not computed yet: run `bash run_all.sh --only {}`."


# ----------------------------------------------------------------------------- README
def in_short() -> str:
    """"In short" (at most 6 lines): notebook 11's counts, the claims' verdicts, and notebook 09's
    readings as the figure shows them."""
    import pandas as pd

    from ufnlib.analysis import findings
    nums = numbers("11_findings")
    if nums is None:
        return NOT_YET.format(11)
    said = ", ".join(f"{w} in {n}" for w, n in nums["counts"].items())
    if nums.get("groups"):
        said = findings.groups_text(nums["groups"])
        said += " (Tables 3-4's +UFN rows repeat Table 2's Beauty SASRec cell)"
    lines = [f"- **UFN and its variants against their baseline** (test NDCG@10, sampled-100, the paper's protocol), "
             f"over the {nums['rows']} comparisons in the figure: {said}. In {nums['interval_below_claim']} of the "
             f"{nums['with_paper_claim']} with a claimed change, the whole 95% interval lies below the paper's change."]
    df = paper_claims()
    if len(df):
        ours = df["source"].str.contains(r"\(ours|\(premise", regex=True)

        def tally(d):
            return ", ".join(f"{k} {v}" for k, v in d["verdict"].value_counts().items())
        lines.append(f"- **The paper's {int((~ours).sum())} claims tested:** {tally(df[~ours])}"
                     + (f"; and {int(ours.sum())} checks of ours: {tally(df[ours])}" if ours.any() else "")
                     + " (the table below).")
    rows = findings.forest_rows(TABLES)
    r09 = rows[rows["source"].str.startswith("09")]

    def pct(v):
        return f"{100 * v:+.1f}%"

    def ci(r):
        return "" if pd.isna(r["low"]) or pd.isna(r["high"]) else f" [{pct(r['low'])}, {pct(r['high'])}]"

    def setting(r):
        return " with the held-out items out of reach" if "out of reach" in r["source"] else ""
    read = [f"at the {r['label']}{setting(r)} {pct(r['change'])}{ci(r)}, {r['word']}"
            for _, r in r09.iterrows() if r["label"].startswith(("epoch chosen on sampled validation", "last epoch"))]
    if read:
        lines.append(f"- **Why, in part (notebook 09):** how a run is read moves UFN's change: {'; '.join(read)} "
                     f"(the paper: {pct(r09['paper'].iloc[0])}). " + reading_moves())
    return "\n".join(lines)


def reading_moves(a: str = "epoch chosen on sampled validation (ours)", b: str = "last epoch (fixed budget)") -> str:
    """Which arm the reading moves: SASRec's and UFN's mean test NDCG@10 (sampled-100) under
    reading ``a`` and ``b``, with the held-out items in reach (notebook 09's side-by-side)."""
    data = numbers("09_protocol")
    sides = (data or {}).get("heldout_verdict", {}).get("sides", [])
    v = {(r["reading"], r["strategy"]): r.get("ndcg@10, in reach") for r in sides}
    pairs = {s: (v.get((a, s)), v.get((b, s))) for s in ("uniform", "ufn")}
    if any(x is None for p in pairs.values() for x in p):
        return ""
    (sa, sb), (ua, ub) = pairs["uniform"], pairs["ufn"]
    return (f"What moves is mostly {'SASRec' if abs(sb / sa - 1) > abs(ub / ua - 1) else 'UFN'} (items in reach; "
            f"mean NDCG@10 at the epoch chosen on validation, then at the last epoch): SASRec {sa:.4f}, {sb:.4f} "
            f"({sb / sa - 1:+.1%}); UFN {ua:.4f}, {ub:.4f} ({ub / ua - 1:+.1%}).")


def paper_claims():
    """The claims tables of the paper profile's notebooks, the protocol study's readings left out."""
    from ufnlib.analysis.runindex import claims_overview
    df = claims_overview("paper", ROOT / "results")
    return df[~df["source"].str.startswith("Reading:")]


def claims() -> str:
    """Every claim the paper profile's notebooks tested."""
    from ufnlib.analysis.runindex import claims_markdown
    df = paper_claims()
    if not len(df):
        return "Not computed yet: run `bash run_all.sh` (it writes results/paper/tables/*_claims.csv)."
    return claims_markdown(df, "results/", short=True).rstrip()


PROFILE_WHAT = {
    "paper": "the backbones x datasets x {SASRec, +UFN} of Table 2, the ablation and Table 4 on Beauty, the Figure 3 "
             "sweeps, notebook 09's protocol study, every seed. `bash run_all.sh` reports it from the cache; "
             "`--compute` trains what is missing (tens of CPU-core-hours)",
    "quick": "SASRec, +UFN and the EMA control on Beauty, the first seed (the paper profile's runs of that seed)",
    "smoke": "seeded synthetic data and tiny models, seconds per run: what the tests use"}


def profiles_table() -> str:
    """The profiles with their run counts (results/facts.json)."""
    n = facts()["profiles"]
    rows = [f"| `{p}`{' (default)' * (p == 'paper')} | {n[p]} | {what} |" for p, what in PROFILE_WHAT.items()]
    return ("| profile | runs (distinct configs, as `python -m ufnlib grid --profile P --dry-run` lists them) "
            "| what |\n|---|---|---|\n" + "\n".join(rows))


# ----------------------------------------------------------------------------- docs/computing.md
def run_costs() -> str:
    """What the cached runs of the paper's defaults cost (results/facts.json, scripts/facts.py)."""
    c = facts()["run_costs"]
    if not c["rows"]:
        return "No cached run of the paper's defaults at 1 thread yet."
    lines = ["| dataset | backbone | strategy | code | runs | epochs (median) | s / epoch (median) | "
             "min / run (median) |", "|---|---|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['dataset']} | {r['backbone']} | {r['strategy']} | {r['code']} | {r['runs']} | {r['epochs']:.0f} | "
              f"{r['s_per_epoch']:.1f} | {r['min_per_run']:.0f} |" for r in c["rows"]]
    sp, p = c["speedup"], c["priced"]
    ratio = (f": the packed code trains an epoch in {sp['min']:.2f}-{sp['max']:.2f}x the time of abed9db's, "
             f"docs/speed.md") if sp else ""
    est = (f"The paper profile lacks {c['missing']} runs (Figure 3's settings and the protocol study's budgets "
           f"priced as the defaults of their dataset, backbone and strategy): {p['packed']['runs']} priced at the "
           f"packed medians, about {p['packed']['core_hours']:.0f} CPU-core-hours; {p['before']['runs']} priced "
           f"at the medians before it, about {p['before']['core_hours']:.0f} CPU-core-hours (an upper bound{ratio}); "
           f"{c['unpriced']} with no run of their kind to price them.") if c["missing"] else \
        "The paper profile has every run."
    return ("Wall time of the cached runs of the paper's defaults, 1 torch thread, as each record logs it "
            "(`history[].train_seconds + eval_seconds`; runs shared the 2-core machine with one other run). "
            f"`packed`: commits from {c['packed_from']} on (docs/speed.md); `before`: earlier commits.\n\n"
            + "\n".join(lines) + "\n\n" + est)


# ----------------------------------------------------------------------------- docs/results.md
def schedule_lines() -> list[str]:
    """Notebook 01's table of when mining started, in words (``tables.schedules_text``)."""
    from ufnlib.analysis.tables import schedules_text
    t = table("table2_schedules")
    f = ROOT / "results" / "facts.json"         # the patience, for a table saved before the backbone's flag
    return [] if t is None else schedules_text(t, facts()["config"]["patience"] if f.is_file() else None)


def schedules() -> str:
    return "\n".join(f"- {x}" for x in schedule_lines()) or NOT_YET.format("01")


def table2_protocols() -> str:
    """Which Table 2 cells each protocol decides (``protocol_verdicts.cells_text`` on notebook 01's
    sampled and full-ranking effects)."""
    import pandas as pd

    from ufnlib.analysis.protocol_verdicts import cells_text
    from ufnlib.analysis.tables import table2_effects
    if not all((TABLES / f"table2{x}_data.csv").is_file() for x in ("", "_full")):
        return NOT_YET.format("01")
    return cells_text(*(table2_effects(pd.read_csv(TABLES / f"table2{x}_data.csv"))[0] for x in ("", "_full")))


def columns_protocols(name: str, nb: str) -> str:
    """Which columns of Table 3 or 4 each protocol decides, on which metrics
    (``protocol_verdicts.columns_text`` on the notebook's ``<name>`` and ``<name>_full`` tables)."""
    from ufnlib.analysis.protocol_verdicts import columns_text
    s, f = table(name, dtype=str), table(f"{name}_full", dtype=str)
    if s is None or f is None:
        return NOT_YET.format(nb)
    return "\n".join(f"- {x}" for x in columns_text(s, f))


def table2_vs_paper() -> str:
    """Each Table 2 arm's NDCG@10 against the paper's, per backbone (``run_tables.versus_paper_text``)."""
    from ufnlib.analysis.run_tables import versus_paper_text
    t = table("table2_runs", dtype=str)
    return NOT_YET.format("01") if t is None else "\n".join(f"- {x}" for x in versus_paper_text(t))


def runs_table(name: str, nb: str) -> str:
    """A notebook's run-by-run table (``run_tables``: runs and commits as columns)."""
    return table_md(name) or NOT_YET.format(nb)


def claims_list(name: str, nb: str) -> str:
    """A table's claims as its notebook decided them (``<name>_claims``: the statement, our verdict
    with the first part of its detail, the verdict on the paper's printed means), and the seeds per
    column (``<name>_runs``)."""
    t, runs = table(f"{name}_claims", dtype=str, keep_default_na=False), table(f"{name}_runs", dtype=str)
    if t is None or runs is None:
        return NOT_YET.format(nb)
    out = [f"- **{c.source}**: \"{c.text}\" Ours: **{c.ours}** ({c.detail.split('; ')[0]})"
           + (f"; on the paper's own printed means: {c.paper.split(' (')[0]}." if c.paper else ".")
           for c in t.itertuples()]
    seeds = ", ".join(f"{r.variant} {0 if r.seeds == '0' else len(r.seeds.split(','))}" for r in runs.itertuples())
    return "\n".join(out) + f"\n\nSeeds per column: {seeds}."


def figure_claims(name: str, nb: str) -> str:
    """A figure's claims as its notebook decided them (``<name>_claims``): the statement, the test
    it was given, our verdict and its evidence."""
    t = table(f"{name}_claims", dtype=str, keep_default_na=False)
    if t is None:
        return NOT_YET.format(nb)
    return "\n".join(f"- **{c.source}**: \"{c.text}\" Test: {c.test}. Ours: **{c.ours}** ({c.detail})."
                     for c in t.itertuples())


def detectors() -> str:
    """Notebook 03's detector tables (Beauty, synthetic) with their runs, and the comparison of FMR's
    rule with SRNS's in words (``detector_tables.detector_findings``)."""
    from ufnlib.analysis.detector_tables import detector_findings
    out = []
    for name in ("table4_detectors", "table4_detectors_synthetic"):
        f, data = TABLES / f"{name}.md", table(f"{name}_data")
        if not f.is_file() or data is None:
            return NOT_YET.format("03")
        out += [f.read_text().strip(), "", "Runs: " + ", ".join(f"`{k}`" for k in data["key"]) + ".", ""]
    out += [f"- {x}" for x in detector_findings(table("table4_detectors_data"),
                                                table("table4_detectors_synthetic_data"))]
    return "\n".join(out).rstrip()


def protocol() -> str:
    """Notebook 09's table of readings and its warm-up table (their verdict in words is the glance's,
    ``protocol_glance``), and the reference estimate's spread."""
    t, nums = TABLES / "protocol_readings.md", numbers("09_protocol")
    if not t.is_file() or nums is None:
        return NOT_YET.format("09")
    missing = nums["runs"]["missing"]
    head = (f"{len(missing)} of the study's runs are not computed yet "
            f"(`python -m ufnlib grid --profile paper --notebook 09 --workers 2`).\n\n" if missing else "")
    warm = TABLES / "protocol_warmup_vs.md"
    warm_txt = "\n\n" + warm.read_text().rstrip() if warm.is_file() else ""
    verdict = ("The readings in words, with their intervals and the warm-up verdict: "
               "[at the top of this page](#why-our-numbers-differ-from-the-papers-notebook-09).")
    spread = TABLES / "protocol_estimate_spread.csv"
    spread_txt = ""
    if spread.is_file():
        import pandas as pd

        from ufnlib.analysis.protocol_report import estimate_spread_lines
        spread_txt = ("\n\nThe reference's estimate (one draw of 10,000 users and fresh negatives per logged epoch; "
                      "`results/paper/tables/protocol_estimate_spread.md`):\n\n"
                      + "\n".join(f"- {v}" for v in estimate_spread_lines(pd.read_csv(spread))))
    return head + t.read_text().rstrip() + warm_txt + "\n\n" + verdict + spread_txt


def protocol_glance() -> str:
    """Notebook 09's verdict in a few lines (readings computed so far, seed counts, what is
    missing), the paper's change beside it; the full table is in docs/results.md."""
    from ufnlib.analysis.protocol_report import verdict_lines
    data = numbers("09_protocol")
    if data is None:
        return NOT_YET.format("09")
    missing = data["runs"]["missing"]
    readings = data["verdict"].get("readings", [])
    compared = [r for r in readings if r.get("strategy") != "uniform"]
    seeds = sorted({int(r.get("_n", r["seeds"])) for r in compared if r.get("seeds") is not None})
    if not seeds:
        n_txt = "none computed yet"
    elif seeds[-1] == 1:
        n_txt = "one seed compared per strategy so far: observations, not tests"
    else:
        n_txt = ("each change over the seeds whose two runs share a code generation, "
                 + (f"{seeds[0]} to {seeds[-1]} per strategy" if seeds[0] != seeds[-1] else f"{seeds[0]} per strategy"))
    base, ufn, _ = TABLE2["beauty"]["sasrec"]["ndcg@10"]
    head = (f"The paper reports SASRec + UFN at {ufn / base - 1:+.1%} over SASRec in test NDCG@10 on Beauty "
            f"(Table 2). Our fixed-budget runs, read each way (test NDCG@10, sampled-100; {n_txt}):")
    link = "[docs/results.md](docs/results.md#why-the-papers-numbers-differ-readings-of-a-fixed-budget-run-notebook-09)"
    in_reach = [m for m in missing if "budget=" in m and "heldout=out" not in m]
    n_all = data["runs"]["available"] + len(missing)
    if in_reach:
        tail = (f"\n\n{len(missing)} of the study's {n_all} runs are not computed yet ({len(in_reach)} of them "
                f"fixed-budget runs with the held-out items in reach), so the readings above are partial; "
                f"table and readings: {link}.")
    else:
        tail = "\n\n" + reading_verdicts() + (
            f"\n\nThe readings rest on every fixed-budget run with the held-out items in reach. {len(missing)} of "
            f"the study's {n_all} runs are not computed yet (the held-out intervention's and the warm-up rules'; "
            f"notebook 09 section 1 names them); a comparison with fewer seeds than the others decides less; "
            f"table and readings: {link}." if missing else f"\n\nTable and readings: {link}.")
    return head + "\n\n" + "\n".join(f"- {v}" for v in verdict_lines(data["verdict"])) + tail


def reading_verdicts() -> str:
    """Under which readings each Table 3 statement holds, is contradicted or is not shown (notebook
    09's protocol_claims)."""
    df = table("protocol_claims")
    if df is None:
        return ""
    df = df[df["source"].str.startswith("Reading:")]
    lines = []
    for text, g in df.groupby("text", sort=False):
        by = {v: [s.removeprefix("Reading: ").replace(" (test-selected)", "") for s in g.loc[g["ours"] == v, "source"]]
              for v in ("holds", "contradicted", "not shown")}
        lines.append(f"- *{text}* Holds under: {'; '.join(by['holds']) or 'none'}. Contradicted under: "
                     f"{'; '.join(by['contradicted']) or 'none'}. Not shown under: "
                     f"{'; '.join(by['not shown']) or 'none'}.")
    head = ("Table 3's statements under each reading, by the comparison model over seeds on test HR@10 and NDCG@10 "
            "(sampled): holds when both are decided higher, contradicted when one is decided lower, not shown "
            "otherwise; intervals in docs/results.md and `results/paper/tables/protocol_claims.md`:\n\n")
    return head + "\n".join(lines) if lines else ""


def protocol_heldout() -> str:
    """Notebook 09 section 5 in words: per fixed-budget UFN run, the share of users whose held-out
    item was reversed into a positive at the selected epoch, and UFN's per-user gain over SASRec in
    each group (``protocol_heldout``)."""
    t = table("protocol_heldout")
    if t is None:
        return NOT_YET.format("09")
    if t.empty:
        return "Not computed: no fixed-budget UFN run with its SASRec run of the same seed is in the cache yet."
    out = []
    for (seed, split), g in t.groupby(["seed", "split"], sort=False):
        g = g.set_index("group")
        rev, rest = g.loc["reversed"], g.loc["not reversed"]
        name = "validation" if split == "valid" else "test"
        out.append(f"- seed {seed}, {name}: {rev['share']:.1%} of users had their {name} item in N_false; UFN's "
                   f"per-user NDCG@10 gain over SASRec is {rev['gain']:+.4f} on them and {rest['gain']:+.4f} on "
                   f"the others ({rev['gain_all']:+.4f} over all users).")
    return "\n".join(out)


def protocol_intervention() -> str:
    """Notebook 09 section 6 in words (``heldout.verdict_lines`` on its stored numbers)."""
    from ufnlib.analysis.heldout import verdict_lines
    nums = numbers("09_protocol")
    if nums is None:
        return NOT_YET.format("09")
    lines = verdict_lines(nums["heldout_verdict"])
    return lines[0] + "\n\n" + "\n".join(f"- {v}" for v in lines[1:])


def why_heldout() -> str:
    """Issue 29's answer for the README (``heldout.answer_lines`` on notebook 09's stored numbers)."""
    from ufnlib.analysis.heldout import answer_lines
    nums = numbers("09_protocol")
    if nums is None:
        return NOT_YET.format("09")
    return " ".join(answer_lines(nums["heldout_verdict"]))


def two_protocols() -> str:
    """Notebook 10's line on the two protocols (``two_protocols_report.readme_line_of``)."""
    from ufnlib.analysis.two_protocols_report import readme_line_of
    nums = numbers("10_two_protocols")
    return NOT_YET.format(10) if nums is None else readme_line_of(nums["readme"])


WORDS = ("helps", "hurts", "no clear difference", "one seed, not decided")


def glance_interval(lo, hi) -> str:
    """' [-1.8%, +0.2%]' (the glance's precision); empty without an interval."""
    return f" [{lo:+.1%}, {hi:+.1%}]" if lo == lo and hi == hi else ""


def cell_name(r) -> str:
    """A Table 2 cell as the glance names it, with its change, interval and seeds compared."""
    iv = glance_interval(r.ci_low, r.ci_high)
    return (f"{r.backbone} on {r.dataset} ({r.rel_improv:+.1%}{iv}, {r.n} seed{'s' * (r.n > 1)}"
            + ("; mixed code generations" if is_true(getattr(r, "mixed", False)) else "") + ")")


def verdicts_at_a_glance() -> str:
    """Table 2 in one sentence per verdict (cells where UFN helps, hurts, shows no clear difference
    against its backbone on test NDCG@10, sampled, or has one seed) and Figure 3 the same way, raw
    and after Holm's correction over the swept values: every word is the comparison model's
    (``ufnlib.analysis.comparison``), as in notebooks 01 and 04."""
    import pandas as pd

    from ufnlib.analysis.comparison import RULE
    from ufnlib.analysis.hyperparams import CORRECTION
    from ufnlib.analysis.tables import table2_effects
    from ufnlib.experiments.profiles import base_value, sweeps
    t = TABLES
    if not (t / "table2_data.csv").is_file():
        return "Not computed yet: run `bash run_all.sh`."
    cells, _ = table2_effects(pd.read_csv(t / "table2_data.csv"))
    full_csv = t / "table2_full_data.csv"
    full = table2_effects(pd.read_csv(full_csv))[0] if full_csv.is_file() else None
    f3 = None
    if (t / "figure3_versus_data.csv").is_file():
        f3 = pd.read_csv(t / "figure3_versus_data.csv", keep_default_na=True)
        f3 = f3[(f3["metric"] == "ndcg@10") & (f3["panel"] != "default") & f3["rel_improv"].notna()]
        f3 = f3.assign(effect_holm=f3["effect_holm"].fillna(""))
    lines = [glance_lead(cells, full, f3),
             f"- The verdict of every comparison below, in one sentence: {RULE}."]
    lines += [f"- Table 2, test NDCG@10 (sampled-100), UFN against its backbone, in the {len(cells)} of 9 (dataset, "
              f"backbone) cells computed so far: " + by_effect(cells, cell_name)[1] + "."]
    if full is not None:
        lines.append(f"- The same under full ranking (every item a candidate; not in the paper), {len(full)} "
                     f"cell{'s' * (len(full) != 1)}: " + by_effect(full, cell_name)[1] + ".")
    sched = schedule_lines()
    if sched:
        lines.append("- When mining started (Table 2's UFN runs; warm-up by the reference's plateau rule): "
                     + " ".join(sched) + " Notebook 09 varies the warm-up for SASRec on Beauty.")
    if f3 is not None:
        total = sum(x != base_value("paper", k) for k, v in sweeps("paper").items() for x in v)
        seeds = sorted({int(x) for x in f3["n"]})

        def point(r):
            iv = glance_interval(r.ci_low, r.ci_high)
            return (f"{figure3_point(r)} ({r.rel_improv:+.1%}{iv}"
                    + (f"; {r.n} seeds: {r.per_seed}" if r.n > 1 else "") + ")")
        text = by_effect(f3, point, "at")[1]
        holm = by_effect(f3.assign(effect=f3["effect_holm"]), figure3_point, "at")[0]
        mixed = int(sum(is_true(x) for x in f3["mixed"]))
        lines.append(f"- Figure 3 (Beauty), test NDCG@10, each swept SASRec + UFN point against SASRec at the same "
                     f"batch size and seeds: {len(f3)} of {total} points computed"
                     + (f" ({' or '.join(map(str, seeds))} seed{'s' if seeds != [1] else ''} each)" if seeds else "")
                     + ("; " + text if len(f3) else "") + ". After " + CORRECTION + f": helps at {len(holm['helps'])}"
                     + (f" ({', '.join(holm['helps'])})" if holm["helps"] else "")
                     + f", hurts at {len(holm['hurts'])}" + (f" ({', '.join(holm['hurts'])})" if holm["hurts"] else "")
                     + "." + (f" {mixed} of the {len(f3)} points compare runs of different code generations (the "
                              f"swept UFN runs against SASRec's older base runs; docs/speed.md)." if mixed else "")
                     + cut_text(f3))
        trends = figure3_trend_lines()
        if trends:
            lines.append("- Figure 3, along each swept field (UFN's change in test NDCG@10 against SASRec): "
                         + " ".join(trends))
    return "\n".join(lines)


def glance_lead(cells, full, f3) -> str:
    """The glance's first line, counts only: in how many Table 2 cells UFN helps, hurts, shows no
    clear difference or has one seed (sampled-100, and how many it helps under full ranking), the
    same per backbone over datasets, and how many swept Figure 3 values make SASRec + UFN beat
    SASRec, raw and after the correction for the number of values."""
    def counts(rows, prep="in"):
        return ", ".join(f"{k} {prep} {(rows['effect'] == k).sum()}" for k in WORDS if (rows["effect"] == k).any())
    out = (f"- **In short.** Test NDCG@10 under the paper's protocol (sampled-100): UFN against its backbone "
           f"in the {len(cells)} of 9 Table 2 cells computed: {counts(cells)}")
    if full is not None and len(full):
        won = [f"{r.backbone} on {r.dataset}" for r in full.itertuples() if r.effect == "helps"]
        out += (f" (under full ranking, not in the paper: helps in {len(won)}"
                + (f", {', '.join(won)}" if won else "") + ")")
    out += ". By backbone, over the datasets computed: " + "; ".join(
        f"{bb} {counts(g, 'on')}" for bb, g in cells.groupby("backbone", sort=False)) + "."
    if f3 is not None and len(f3):
        won = [figure3_point(r) for r in f3.itertuples() if r.effect == "helps"]
        held = [figure3_point(r) for r in f3.itertuples() if r.effect_holm == "helps"]
        out += (f" Figure 3: {len(won)} of the {len(f3)} swept values computed make SASRec + UFN beat SASRec"
                + (f" ({', '.join(won)})" if won else "") + f", {len(held)} after Holm's correction for the "
                f"{len(f3)} values" + (f" ({', '.join(held)})" if held else "") + ".")
    return out


def figure3_point(row) -> str:
    """A Figure 3 point as the glance names it: "m = 8", "batch size = 256"."""
    from ufnlib.analysis.hyperparams import CLAIM_PANEL
    return f"{CLAIM_PANEL.get(row.panel, row.panel)} = {row.value:g}"


def by_effect(rows, name, prep: str = "in") -> tuple[dict, str]:
    """Rows with an ``effect`` word grouped by it (the comparison model's words; each row named by
    ``name``), and the sentence part "helps in 1 (...); hurts in 0; no clear difference in 2 (...)"
    (``prep``: "in" / "at"; a word no row has is left out, except helps and hurts)."""
    by = {w: [] for w in WORDS}
    for r in rows.itertuples():
        if r.effect in by:
            by[r.effect].append(name(r))
    return by, "; ".join(f"{k} {prep} {len(v)}" + (f" ({', '.join(v)})" if v else "") for k, v in by.items()
                         if v or k in ("helps", "hurts"))


def figure3_trend_lines() -> list[str]:
    """Notebook 04's trends in words (``hyperparams.trends_text`` on its ``figure3_trends`` table;
    panels with too few points left out)."""
    from ufnlib.analysis.hyperparams import trends_text
    t = table("figure3_trends")
    return [] if t is None else [x for x in trends_text(t) if "too few points" not in x]


def figure3() -> str:
    """Notebook 04's point-by-point table (each UFN point against SASRec on the same batch size
    and seeds, with run keys) and the paper's Figure 3 statements, as the paper profile wrote them."""
    import pandas as pd
    t = TABLES
    if not (t / "figure3_versus.md").is_file():
        return "Not computed yet: run `bash run_all.sh --only 04`."
    versus = table_md("figure3_versus")
    from ufnlib.analysis.comparison import RULE
    from ufnlib.analysis.hyperparams import CORRECTION
    out = ["Each SASRec + UFN point against SASRec at the same batch size, on the seeds both have "
           f"(test, sampled-100; 'default' is UFN at the base). Verdict, {RULE}; 'verdict (Holm)' after "
           f"{CORRECTION}. "
           "Figure: [results/paper/figures/figure3_hyperparameters.png]"
           "(../results/paper/figures/figure3_hyperparameters.png); caption and protocol: "
           "`results/paper/tables/figure3_versus.md`.", "", versus]
    from ufnlib.analysis.hyperparams import mining_text
    m = table("figure3_mining")
    trends, mining = figure3_trend_lines(), [] if m is None else mining_text(m)
    if trends:
        out += ["", "Along each swept field, UFN's change in test NDCG@10 against SASRec (notebook 04, "
                "`results/paper/tables/figure3_trends.md`):", ""] + [f"- {x}" for x in trends]
    if mining:
        out += ["", "What FMR reversed at each point, per mining epoch over all of each run's mining epochs, and "
                "the lift: how much more often a reversed entry is an item the user came back to than a random "
                "negative is "
                "(`results/paper/tables/figure3_mining.md`):", ""] + [f"- {x}" for x in mining]
    if (t / "figure3_claims.csv").is_file():
        out += ["", "The paper's statements about Figure 3:"]
        out.append("")
        for c in pd.read_csv(t / "figure3_claims.csv", dtype=str, keep_default_na=False).itertuples():
            out.append(f"- **{c.source}**: \"{c.text}\" Ours: **{c.ours}**"
                       + (f" ({c.detail})" if c.detail else "")
                       + (f"; {c.missing.split(':')[0]} missing" if c.missing else "") + ".")
    return "\n".join(out)


def cut_text(points) -> str:
    """The Figure 3 points whose UFN runs the epoch cap ended while still improving (their value
    may still be rising), as a sentence; empty when there are none or the column is absent."""
    if "cut" not in points or not (points["cut"] > 0).any():
        return ""
    cut = [figure3_point(r) for r in points.itertuples() if r.cut > 0]
    return (f" The epoch cap ended the UFN run(s) of {len(cut)} point(s) while still improving "
            f"({', '.join(cut)}).")


def report_section(f: Path) -> str:
    """A benchmark report's Markdown as a subsection: its title one level down, with its file."""
    text = f.read_text().strip().splitlines()
    return "###" + text[0] + f" — `results/benchmarks/{f.name}`\n\n" + "\n".join(text[1:]).strip()


def speed() -> str:
    """The newest benchmark report per backbone (benchmarks/bench_speed.py writes them)."""
    out = []
    for bb in ("sasrec", "bert4rec", "ssept"):
        covered = set()     # newest report first; an older one only for strategies not measured since
        for f in sorted((BENCH).glob(f"speed-beauty-{bb}-*.md"), reverse=True):
            if "-vs-" in f.name:          # side by side with another commit: section "sidebyside"
                continue
            js = f.with_suffix(".json")
            strategies = {r["strategy"] for r in json.loads(js.read_text())["runs"]} if js.is_file() else set()
            if covered and strategies <= covered:
                continue
            covered |= strategies
            out.append(report_section(f))
    return "\n\n".join(out) or "No benchmark recorded yet: run `python benchmarks/bench_speed.py`."


def side_by_side() -> str:
    """Every report of code against an earlier commit (bench_speed --baseline), newest first."""
    out = []
    for bb in ("sasrec", "bert4rec", "ssept"):
        for f in sorted((BENCH).glob(f"speed-beauty-{bb}-*-vs-*.md"), reverse=True):
            out.append(report_section(f))
    return "\n\n".join(out) or "None yet: run `python benchmarks/bench_speed.py --baseline REV`."


def levers() -> str:
    """Every lever report, newest first (benchmarks/bench_levers.py writes them)."""
    out = []
    for f in sorted((BENCH).glob("levers-*.md"), reverse=True):
        out.append(report_section(f))
    return "\n\n".join(out) or "No lever measured yet: run `python benchmarks/bench_levers.py`."


def numerics() -> str:
    """Every numerics check, newest first (benchmarks/check_numerics.py writes them), each opened by
    its verdict: how many metrics lie within the criterion, and the smallest Welch p."""
    out = []
    for f in sorted((BENCH).glob("numerics-*.md"), reverse=True):
        rep = json.loads(f.with_suffix(".json").read_text())
        ms = rep["metrics"]
        inside = [m for m, r in ms.items() if r["within"]]
        verdict = (f"**{len(rep['seeds'])} seeds: {len(inside)} of {len(ms)} metrics within the criterion**"
                   + ("" if len(inside) == len(ms) else f" (outside: {', '.join(m for m in ms if m not in inside)})")
                   + f"; smallest Welch p {min(r['welch_p'] for r in ms.values()):.2f}.")
        sec = report_section(f).split("\n", 1)
        out.append(sec[0] + "\n\n" + verdict + "\n" + sec[1])
    return "\n\n".join(out) or ("Not computed yet: `python benchmarks/check_numerics.py --root DIR --compute` "
                                "reruns the cached configs with this code.")


def sidebyside_medians(report: dict, strategy: str) -> dict | None:
    """Median seconds of the last 4 epochs of ``strategy`` for this checkout and the baseline in a
    ``bench_speed.py --baseline`` report, ``{"current": s, "baseline": s}``; None if not both."""
    import statistics
    med = {r["code"]: statistics.median(r["epochs"][-4:]) for r in report["runs"] if r["strategy"] == strategy}
    return med if {"current", "baseline"} <= med.keys() else None


def speed_glance() -> str:
    """README: the newest side-by-side report per backbone against abed9db (the code before the
    speed issue), the newest CPU bundle report, and whether a GPU measured a bundle."""
    bdir = BENCH
    lines = ["| backbone | `uniform`: this code vs abed9db | `ufn` | report |", "|---|---|---|---|"]
    for bb in ("sasrec", "bert4rec", "ssept"):
        fs = sorted(bdir.glob(f"speed-beauty-{bb}-*-vs-abed9dbc.json"), reverse=True)
        if not fs:
            lines.append(f"| {bb} | not measured | not measured | |")
            continue
        d = json.loads(fs[0].read_text())
        cells = []
        for st in ("uniform", "ufn"):
            med = sidebyside_medians(d, st)
            cells.append(f"{med['current']:.1f} s vs {med['baseline']:.1f} s ({med['current'] / med['baseline']:.2f}x)"
                         if med else "not measured")
        lines.append(f"| {bb} | {cells[0]} | {cells[1]} | `{fs[0].name}` (commit {d['git']['commit'][:7]}) |")
    out = ["Seconds per training epoch on S3-Rec Beauty, 2 threads, this code against commit abed9db "
           "(before the speed work), in turns in one run (`benchmarks/bench_speed.py --baseline abed9db`; "
           "median of the last 4 of 8 epochs):", "", *lines, ""]
    cpu = [json.loads(f.read_text()) for f in sorted(bdir.glob("bundle-*-cpu-*.json"), reverse=True)]
    gpu = [json.loads(f.read_text()) for f in sorted(bdir.glob("bundle-*-cuda-*.json"), reverse=True)]
    if cpu:
        b = cpu[0]
        ks = ", ".join(f"K = {r['runs']}: {r['vs_single']:.2f}x" for r in b["rows"] if r["setting"] != "single")
        out.append(f"Many runs in one process (`bench_bundle.py`, {b['meta']['backbone']} `{b['meta']['strategy']}`, "
                   f"{b['meta']['threads']} thread, commit {b['meta']['commit'][:7]}): on this CPU a bundle of K runs "
                   f"reaches {ks} the run-epochs per second of a single run, so the CPU grid trains runs singly.")
    out.append("On a GPU: " + (", ".join(f"K = {r['runs']}: {r['run_epochs_per_s']:.2f} run-epochs/s"
                                        for r in gpu[0]["rows"]) if gpu else
                               "**not measured** (no GPU has been lent since the bundled trainer was built); "
                               "the command is in [docs/computing.md](docs/computing.md)."))
    checks = [json.loads(f.read_text()) for f in sorted(bdir.glob("numerics-*.json"), reverse=True)]
    newest = [c for c in ([next((c for c in checks if not c.get("against")), None)]
                          + [next((c for c in checks if c.get("against")), None)]) if c]
    if newest:
        def said(c):
            out_ = [m for m, r in c["metrics"].items() if not r["within"]]
            rel = {m: c["metrics"][m]["rel_diff"] for m in out_}
            commits = ", ".join(sorted({r["commit"][:7] for r in c["new_runs"]}))
            old = f"the records in `{c['against']}`" if c.get("against") else "the cached records"
            return (f"reruns at {commits} against {old}: {len(c['metrics']) - len(out_)} of {len(c['metrics'])} "
                    f"metrics within" + (" (outside: " + ", ".join(f"{m} {v:+.1%}" for m, v in rel.items()) + ")"
                                         if out_ else ""))
        c0 = newest[0]
        out.append(f"\nThe speed work changed floating-point results (rounding, and once the draws of the noise), so "
                   f"a rerun of a cached config gives other numbers, as another seed would; records name their "
                   f"commit and the cache was kept ([docs/speed.md](docs/speed.md), generations of numbers). Newest "
                   f"numerics checks ({c0['dataset']} / {c0['backbone']} / {c0['strategy']}, {len(c0['seeds'])} "
                   f"seeds; criterion: within twice the old seed spread): " + "; ".join(map(said, newest)) + ".")
    return "\n".join(out)


def bundle_bench() -> str:
    """The newest real-data bundle check (benchmarks/check_bundle.py), then every bundle benchmark,
    newest first (benchmarks/bench_bundle.py)."""
    bdir = BENCH
    out = [report_section(f) for f in sorted(bdir.glob("bundlecheck-*.md"), reverse=True)[:1]]
    out += [report_section(f) for f in sorted(bdir.glob("bundle-*.md"), reverse=True)]
    return "\n\n".join(out) or "Not measured yet: run `python benchmarks/bench_bundle.py`."


def gpu_probe() -> str:
    """The GPU probe's epochs (results/benchmarks/gpu_probe_*.jsonl): seconds per training epoch
    per setting (processes sharing the GPU) and strategy."""
    import statistics
    out = []
    for f in sorted((BENCH).glob("gpu_probe_*.jsonl")):
        lines = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
        head = next((x for x in lines if "note" in x), {})
        rows = {}
        for x in lines:
            if "tag" in x:
                rows.setdefault((x["tag"], x["strategy"]), []).append(x)
        out += [f"From `results/benchmarks/{f.name}` ({head.get('date', 'undated')}): {head.get('note', '')}", "",
                "| setting | strategy | epochs measured | train s/epoch (min-max) | median | "
                "sampled validation s (median) |",
                "|---|---|---|---|---|---|"]
        for (tag, st), xs in rows.items():
            t = [x["train_s"] for x in xs]
            out.append(f"| {tag} | {st} | {len(xs)} | {min(t):.1f}-{max(t):.1f} | {statistics.median(t):.1f} | "
                       f"{statistics.median(x['eval_s'] for x in xs):.2f} |")
        out.append("")
    return "\n".join(out).strip() or "No GPU measured yet."


SECTIONS = {
    # README.md
    "in_short": in_short, "claims": claims, "profiles": profiles_table, "why_heldout": why_heldout,
    # docs/results.md
    "glance": verdicts_at_a_glance, "protocol_glance": protocol_glance,
    "protocol_intervention": protocol_intervention, "two_protocols": two_protocols,
    "backbones": lambda: runs_table("table2_runs", "01"), "schedules": schedules,
    "sasrec": lambda: runs_table("table2_sasrec_runs", "01"), "ablation": lambda: runs_table("table3_runs", "02"),
    "table3_claims": lambda: claims_list("table3", "02"), "table4": lambda: runs_table("table4_runs", "03"),
    "table4_claims": lambda: claims_list("table4", "03"), "detectors": detectors,
    "table2_protocols": table2_protocols, "table2_vs_paper": table2_vs_paper,
    "table3_protocols": lambda: columns_protocols("table3", "02"),
    "table4_protocols": lambda: columns_protocols("table4", "03"),
    "figure3": figure3, "protocol": protocol, "protocol_heldout": protocol_heldout,
    "figure4_claims": lambda: figure_claims("figure4", "05"), "figure5_claims": lambda: figure_claims("figure5", "06"),
    # docs/computing.md
    "run_costs": run_costs, "gpu_probe": gpu_probe, "bundle": bundle_bench,
    # docs/speed.md
    "speed_glance": speed_glance, "numerics": numerics, "speed": speed, "sidebyside": side_by_side, "levers": levers,
}


def value(path: str, key: str, fmt: str) -> str:
    """One value of a JSON file, by dotted key, formatted."""
    v = json.loads((ROOT / path).read_text())
    for k in key.split("."):
        v = v[k]
    return format(v, fmt)


def relative_links(text: str, in_docs: bool) -> str:
    """Sections link from the repository root (README); inside docs/ the same links go up one."""
    return text.replace("](docs/", "](").replace("](results/", "](../results/") if in_docs else text


def render(text: str, in_docs: bool = False) -> str:
    for name in set(re.findall(r"<!-- results:(\w+) -->\n", text)):
        fn = SECTIONS[name]
        pat = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)", re.S)
        text = pat.sub(lambda m: m.group(1) + relative_links(fn(), in_docs) + "\n" + m.group(2), text)
    return re.sub(r"(<!-- n:([^:]+):([\w.@-]+):?([^ ]*) -->).*?(<!-- /n -->)",
                  lambda m: m.group(1) + value(m.group(2), m.group(3), m.group(4)) + m.group(5), text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    stale = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        old = doc.read_text()
        new = render(old, in_docs=doc.parent.name == "docs")
        if new != old:
            stale.append(doc.relative_to(ROOT))
            if not a.check:
                doc.write_text(new)
    if a.check and stale:
        print("out of date:", ", ".join(map(str, stale)))
        sys.exit(1)


if __name__ == "__main__":
    main()
