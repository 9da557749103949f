"""Regenerate the results sections of README.md and docs/*.md from the cached run records.

    python scripts/update_readme.py          # rewrite the marked sections in place
    python scripts/update_readme.py --check  # exit 1 if a file is out of date

Every number between the ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` markers is
computed here from ``results/runs/*.json`` (run key and commit listed beside it); nothing in those
sections is typed by hand.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ufnlib.analysis.tables import is_true  # noqa: E402
from ufnlib.paper import TABLE2, TABLE3, TABLE4, TABLE4_COLUMNS  # noqa: E402

METRICS = ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10")


def records(root: Path) -> list:
    from ufnlib.experiments.store import load_record
    return [load_record(p.stem, root) for p in sorted((root / "runs").glob("*.json"))]


def is_default(rec: dict, **want) -> bool:
    """A run of the paper's defaults except the given fields."""
    from ufnlib import Config, config_key
    c = rec.config
    base = Config(dataset=c["dataset"], backbone=c["backbone"], strategy=c["strategy"], seed=c["seed"])
    return rec.key == config_key(base) and all(c[k] == v for k, v in want.items())


def sasrec_vs_paper(recs) -> str:
    rows = ["| dataset | seed | best epoch (valid) | HR@10 ours | HR@10 paper | diff | NDCG@10 ours | NDCG@10 paper | "
            "diff | full-ranking HR@10 / NDCG@10 | run | commit |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ds in ("sports", "yelp"):
        for r in recs:
            if r.dataset != ds or not is_default(r, backbone="sasrec", strategy="uniform"):
                continue
            t, f = r["metrics"]["test"]["sampled"], r["metrics"]["test"]["full"]
            ph, pn = TABLE2[ds]["sasrec"]["hr@10"][0], TABLE2[ds]["sasrec"]["ndcg@10"][0]
            rows.append(f"| {ds} | {r['seed']} | {r['selection']['best_epoch']} | {t['hr@10']:.4f} | {ph:.4f} | "
                        f"{(t['hr@10'] / ph - 1):+.1%} | {t['ndcg@10']:.4f} | {pn:.4f} | "
                        f"{(t['ndcg@10'] / pn - 1):+.1%} | "
                        f"{f['hr@10']:.4f} / {f['ndcg@10']:.4f} | `{r['key']}` | `{r['git']['commit'][:8]}` |")
    return "\n".join(rows)


def default_runs(recs, strategy: str, backbone: str, dataset: str = "beauty") -> list[dict]:
    """The default-config runs of (dataset, backbone, strategy) with the paper profile's seeds (the
    notebooks' seeds; extra seeds, e.g. the numerics check's, stay out), in seed order."""
    from ufnlib.experiments.profiles import default_seeds
    seeds = set(default_seeds("paper"))
    return sorted((r for r in recs if r.dataset == dataset and r.seed in seeds
                   and is_default(r, strategy=strategy, backbone=backbone)), key=lambda r: r.seed)


def mean_cells(rs) -> list[str]:
    """Test (sampled) mean, ± sample std over seeds when there are several, per metric."""
    import numpy as np
    cells = []
    for m in METRICS:
        v = np.array([r.value(m, "sampled", "test") for r in rs])
        cells.append(f"{v.mean():.4f}" + (f" ± {v.std(ddof=1):.4f}" if len(v) > 1 else ""))
    return cells


def variants(recs, names: dict, paper: dict) -> str:
    """SASRec variants on Beauty (mean ± std over the cached seeds) beside the paper's HR@10 and
    NDCG@10 (``paper[metric][strategy]``)."""
    import numpy as np
    by = {s: default_runs(recs, s, "sasrec") for s in names}
    head = ("| variant | seeds | " + " | ".join(f"{m.upper()} ours" for m in METRICS)
            + " | NDCG@10 full | HR@10 paper | NDCG@10 paper |")
    rows = [head, "|" + "---|" * (len(METRICS) + 5)]
    for s, name in names.items():
        rs = by[s]
        ph, pn = paper["hr@10"].get(s, "—"), paper["ndcg@10"].get(s, "—")
        if not rs:
            rows.append(f"| {name} | 0 | " + " | ".join("not run yet" for _ in METRICS) + f" | | {ph} | {pn} |")
            continue
        cell = mean_cells(rs)
        full = np.mean([r.value("ndcg@10", "full", "test") for r in rs])
        rows.append(f"| {name} | {','.join(str(r['seed']) for r in rs)} | " + " | ".join(cell)
                    + f" | {full:.4f} | {ph} | {pn} |")
    keys = ", ".join(f"`{r['key']}`" for s in names for r in by[s])
    return "\n".join(rows) + f"\n\nRuns: {keys or 'none yet'}."


def ablation(recs) -> str:
    """Issue #3: Table 3's variants, the EMA control and SASRec^R (paper values of Table 4)."""
    names = {"uniform": "SASRec", "ema_eval": "SASRec + EMA eval (control)", "fmr": "+FMR", "fcr": "+FCR",
             "ufn": "+UFN", "removal": "SASRec^R (removal)"}
    paper = {m: {**{"removal": TABLE4[m]["removal"]}, **TABLE3[m]} for m in ("hr@10", "ndcg@10")}
    return variants(recs, names, paper)


def table4(recs) -> str:
    """Issue #5: the seven columns of Table 4."""
    return variants(recs, dict(TABLE4_COLUMNS), TABLE4)


def table4_claims(recs) -> str:
    """The paper's four observations about Table 4, decided by the comparison model on the seven
    columns' default Beauty runs (``tables.table4_claims``; notebook 03 has the same, with every
    comparison's interval in its claims table)."""
    from ufnlib.analysis import tables
    from ufnlib.analysis.stats import ArmComparisons
    arms = {s: default_runs(recs, s, "sasrec") for s in TABLE4_COLUMNS}
    seeds = ", ".join(f"{TABLE4_COLUMNS[s]} {len(arms[s])}" for s in TABLE4_COLUMNS)
    out = []
    for c in tables.table4_claims(ArmComparisons(arms)):
        out.append(f"- **{c.source}**: \"{c.text}\" Ours: **{c.ours}** ({c.detail.split('; ')[0]}); "
                   f"on the paper's own printed means: {c.paper.split(' (')[0]}.")
    return "\n".join(out) + f"\n\nSeeds per column: {seeds}."


def backbones(recs) -> str:
    """Table 2: each backbone with and without UFN on each dataset, beside the paper's columns."""
    import numpy as np
    names = {"sasrec": "SASRec", "bert4rec": "BERT4Rec", "ssept": "SSE-PT"}
    from ufnlib.analysis.comparison import compare_runs
    from ufnlib.analysis.generations import of_record
    head = ("| dataset | backbone | arm | seeds | " + " | ".join(f"{m.upper()}" for m in METRICS)
            + " | Improv. NDCG@10 (seeds compared) | 95% interval | verdict | paper NDCG@10 | paper Improv. | "
              "NDCG@10 full | best / run epochs | device | run | commit (generation) |")
    rows = [head, "|" + "---|" * (len(METRICS) + 14)]
    for ds, bb in ((d, b) for d in ("beauty", "sports", "yelp") for b in names):
        nm = f"{ds} | {names[bb]}"
        arms = {st: default_runs(recs, st, bb, ds) for st in ("uniform", "ufn")}
        c = (compare_runs(arms["uniform"], arms["ufn"], "ndcg@10", root=ROOT / "results")
             if arms["uniform"] and arms["ufn"] else None)
        for st, arm in (("uniform", "backbone"), ("ufn", "+UFN")):
            rs = arms[st]
            paper = TABLE2[ds][bb]["ndcg@10"]
            p_val = paper[0] if st == "uniform" else paper[1]
            p_imp = "" if st == "uniform" else f"{paper[2]:+.2f}%"
            if not rs:
                rows.append(f"| {nm} | {arm} | 0 | " + " | ".join("not run yet" for _ in METRICS)
                            + f" | | | | {p_val:.4f} | {p_imp} | | | | | |")
                continue
            cell = mean_cells(rs)
            cmp = ["", "", ""]
            if st == "ufn" and c is not None and c.n:
                cmp = [f"{c.change:+.2%} ({', '.join(map(str, c.seeds))})", c.fmt_interval(),
                       c.word + ("; mixed code generations" if c.mixed else "")]
            full = np.mean([r.value("ndcg@10", "full", "test") for r in rs])
            ep = ", ".join(f"{r['selection']['best_epoch']} / {r['selection']['epochs_run']}" for r in rs)
            dev = ", ".join(sorted({r["env"].get("gpu") or r["env"].get("device", "cpu") for r in rs}))
            rows.append(f"| {nm} | {arm} | {','.join(str(r['seed']) for r in rs)} | " + " | ".join(cell)
                        + f" | {' | '.join(cmp)} | {p_val:.4f} | {p_imp} | {full:.4f} | {ep} | {dev} | "
                        + ", ".join(f"`{r['key']}`" for r in rs) + " | "
                        + ", ".join(sorted({f"`{r['git']['commit'][:8]}` ({of_record(r)})" for r in rs})) + " |")
    return "\n".join(rows)


def schedule_lines() -> list[str]:
    """Notebook 01's sentences on when mining started against when each backbone peaked."""
    nums = ROOT / "results" / "paper" / "tables" / "01_main_results.json"
    return json.loads(nums.read_text()).get("schedules", []) if nums.is_file() else []


def schedules(recs) -> str:
    return "\n".join(f"- {x}" for x in schedule_lines()) or "Not computed yet: run `bash run_all.sh --only 01`."


def report_section(f: Path) -> str:
    """A benchmark report's Markdown as a subsection: its title one level down, with its file."""
    text = f.read_text().strip().splitlines()
    return "###" + text[0] + f" — `results/benchmarks/{f.name}`\n\n" + "\n".join(text[1:]).strip()


def speed(recs) -> str:
    """The newest benchmark report per backbone (benchmarks/bench_speed.py writes them)."""
    out = []
    for bb in ("sasrec", "bert4rec", "ssept"):
        covered = set()     # newest report first; an older one only for strategies not measured since
        for f in sorted((ROOT / "results" / "benchmarks").glob(f"speed-beauty-{bb}-*.md"), reverse=True):
            if "-vs-" in f.name:          # side by side with another commit: section "sidebyside"
                continue
            js = f.with_suffix(".json")
            strategies = {r["strategy"] for r in json.loads(js.read_text())["runs"]} if js.is_file() else set()
            if covered and strategies <= covered:
                continue
            covered |= strategies
            out.append(report_section(f))
    return "\n\n".join(out) or "No benchmark recorded yet: run `python benchmarks/bench_speed.py`."


def side_by_side(recs) -> str:
    """Every report of code against an earlier commit (bench_speed --baseline), newest first."""
    out = []
    for bb in ("sasrec", "bert4rec", "ssept"):
        for f in sorted((ROOT / "results" / "benchmarks").glob(f"speed-beauty-{bb}-*-vs-*.md"), reverse=True):
            out.append(report_section(f))
    return "\n\n".join(out) or "None yet: run `python benchmarks/bench_speed.py --baseline REV`."


def levers(recs) -> str:
    """Every lever report, newest first (benchmarks/bench_levers.py writes them)."""
    out = []
    for f in sorted((ROOT / "results" / "benchmarks").glob("levers-*.md"), reverse=True):
        out.append(report_section(f))
    return "\n\n".join(out) or "No lever measured yet: run `python benchmarks/bench_levers.py`."


def numerics(recs) -> str:
    """Every numerics check, newest first (benchmarks/check_numerics.py writes them), each opened by
    its verdict: how many metrics lie within the criterion, and the smallest Welch p."""
    out = []
    for f in sorted((ROOT / "results" / "benchmarks").glob("numerics-*.md"), reverse=True):
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


def speed_glance(recs) -> str:
    """README: the newest side-by-side report per backbone against abed9db (the code before the
    speed issue), the newest CPU bundle report, and whether a GPU measured a bundle."""
    bdir = ROOT / "results" / "benchmarks"
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


def bundle_bench(recs) -> str:
    """The newest real-data bundle check (benchmarks/check_bundle.py), then every bundle benchmark,
    newest first (benchmarks/bench_bundle.py)."""
    bdir = ROOT / "results" / "benchmarks"
    out = [report_section(f) for f in sorted(bdir.glob("bundlecheck-*.md"), reverse=True)[:1]]
    out += [report_section(f) for f in sorted(bdir.glob("bundle-*.md"), reverse=True)]
    return "\n\n".join(out) or "Not measured yet: run `python benchmarks/bench_bundle.py`."


def gpu_probe(recs) -> str:
    """The GPU probe's epochs (results/benchmarks/gpu_probe_*.jsonl): seconds per training epoch
    per setting (processes sharing the GPU) and strategy."""
    import statistics
    out = []
    for f in sorted((ROOT / "results" / "benchmarks").glob("gpu_probe_*.jsonl")):
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


def claims(recs) -> str:
    """Every claim the paper profile's notebooks tested, from their claims tables."""
    from ufnlib.analysis.runindex import claims_markdown, claims_overview
    df = claims_overview("paper", ROOT / "results")
    df = df[~df["source"].str.startswith("Reading:")]     # the protocol study's: in docs/results.md
    if not len(df):
        return "Not computed yet: run `bash run_all.sh` (it writes results/paper/tables/*_claims.csv)."
    return claims_markdown(df, "results/", short=True).rstrip()


WORDS = ("helps", "hurts", "no clear difference", "one seed, not decided")


def glance_interval(lo, hi) -> str:
    """' [-1.8%, +0.2%]' (the glance's precision); empty without an interval."""
    return f" [{lo:+.1%}, {hi:+.1%}]" if lo == lo and hi == hi else ""


def cell_name(r) -> str:
    """A Table 2 cell as the glance names it, with its change, interval and seeds compared."""
    iv = glance_interval(r.ci_low, r.ci_high)
    return (f"{r.backbone} on {r.dataset} ({r.rel_improv:+.1%}{iv}, {r.n} seed{'s' * (r.n > 1)}"
            + ("; mixed code generations" if is_true(getattr(r, "mixed", False)) else "") + ")")


def verdicts_at_a_glance(recs) -> str:
    """Table 2 in one sentence per verdict (cells where UFN helps, hurts, shows no clear difference
    against its backbone on test NDCG@10, sampled, or has one seed) and Figure 3 the same way, raw
    and after Holm's correction over the swept values: every word is the comparison model's
    (``ufnlib.analysis.comparison``), as in notebooks 01 and 04."""
    import pandas as pd

    from ufnlib.analysis.comparison import RULE
    from ufnlib.analysis.hyperparams import CORRECTION
    from ufnlib.analysis.tables import table2_effects
    from ufnlib.experiments.profiles import base_value, sweeps
    t = ROOT / "results" / "paper" / "tables"
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


def notebook04_numbers() -> dict:
    """Notebook 04's key numbers (``04_hyperparameters.json``) as the paper profile wrote them."""
    nums = ROOT / "results" / "paper" / "tables" / "04_hyperparameters.json"
    return json.loads(nums.read_text()) if nums.is_file() else {}


def figure3_trend_lines(nums: dict | None = None) -> list[str]:
    """Notebook 04's sentences on how UFN's change against SASRec moves along each swept field
    (panels with too few points left out)."""
    nums = notebook04_numbers() if nums is None else nums
    return [x for x in nums.get("trends", []) if "too few points" not in x]


def figure3(recs) -> str:
    """Notebook 04's point-by-point table (each UFN point against SASRec on the same batch size
    and seeds, with run keys) and the paper's Figure 3 statements, as the paper profile wrote them."""
    import pandas as pd
    t = ROOT / "results" / "paper" / "tables"
    if not (t / "figure3_versus.md").is_file():
        return "Not computed yet: run `bash run_all.sh --only 04`."
    table = (t / "figure3_versus.md").read_text().strip().split("\n\n", 1)[-1]
    from ufnlib.analysis.comparison import RULE
    from ufnlib.analysis.hyperparams import CORRECTION
    out = ["Each SASRec + UFN point against SASRec at the same batch size, on the seeds both have "
           f"(test, sampled-100; 'default' is UFN at the base). Verdict, {RULE}; 'verdict (Holm)' after "
           f"{CORRECTION}. "
           "Figure: [results/paper/figures/figure3_hyperparameters.png]"
           "(../results/paper/figures/figure3_hyperparameters.png); caption and protocol: "
           "`results/paper/tables/figure3_versus.md`.", "", table]
    nums = notebook04_numbers()
    trends, mining = figure3_trend_lines(nums), nums.get("mining", [])
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


def protocol(recs) -> str:
    """Notebook 09's table of readings and its verdict, as the paper profile's run wrote them."""
    t = ROOT / "results" / "paper" / "tables" / "protocol_readings.md"
    nums = ROOT / "results" / "paper" / "tables" / "09_protocol.json"
    if not t.is_file() or not nums.is_file():
        return "Not computed yet: run `bash run_all.sh --only 09`."
    verdict = json.loads(nums.read_text()).get("verdict", [])
    missing = json.loads(nums.read_text())["runs"]["missing"]
    head = (f"{len(missing)} of the study's runs are not computed yet "
            f"(`python -m ufnlib grid --profile paper --notebook 09 --workers 2`).\n\n" if missing else "")
    warm = ROOT / "results" / "paper" / "tables" / "protocol_warmup_vs.md"
    warm_txt = "\n\n" + warm.read_text().rstrip() if warm.is_file() else ""
    return head + t.read_text().rstrip() + warm_txt + "\n\n" + "\n".join(f"- {v}" for v in verdict)


def protocol_glance(recs) -> str:
    """README: notebook 09's verdict in a few lines (readings computed so far, seed counts, what
    is missing), the paper's +5.6% beside it; the full table is in docs/results.md."""
    nums = ROOT / "results" / "paper" / "tables" / "09_protocol.json"
    if not nums.is_file():
        return "Not computed yet: run `bash run_all.sh --only 09`."
    data = json.loads(nums.read_text())
    missing = data["runs"]["missing"]
    seeds = sorted({int(r["seeds"]) for r in data.get("readings", []) if r.get("seeds") is not None})
    if not seeds:
        n_txt = "none computed yet"
    elif seeds[-1] == 1:
        n_txt = "one seed per strategy so far: observations, not tests"
    else:
        n_txt = f"{seeds[0]}-{seeds[-1]} seeds per strategy" if seeds[0] != seeds[-1] else f"{seeds[0]} seeds each"
    base, ufn, _ = TABLE2["beauty"]["sasrec"]["ndcg@10"]
    head = (f"The paper reports SASRec + UFN at {ufn / base - 1:+.1%} over SASRec in test NDCG@10 on Beauty "
            f"(Table 2). Our fixed-budget runs, read each way (test NDCG@10, sampled-100; {n_txt}):")
    link = "[docs/results.md](docs/results.md#why-the-papers-numbers-differ-readings-of-a-fixed-budget-run-notebook-09)"
    fixed_missing = [m for m in missing if "budget=" in m]
    n_all = data["runs"]["available"] + len(missing)
    if fixed_missing:
        tail = (f"\n\n{len(missing)} of the study's {n_all} runs are not computed yet, so no reading decides "
                f"the paper's claims; table and readings: {link}.")
    else:
        tail = "\n\n" + reading_verdicts() + (
            f"\n\nThe readings rest on every fixed-budget run. {len(missing)} of the study's {n_all} runs "
            f"(the warm-up rules) are not computed yet; a warm-up rule with fewer seeds than the others "
            f"decides nothing; table and readings: {link}." if missing else f"\n\nTable and readings: {link}.")
    return head + "\n\n" + "\n".join(f"- {v}" for v in data.get("verdict", [])) + tail


def reading_verdicts() -> str:
    """Under which readings each Table 3 statement holds, is contradicted or is not shown (notebook
    09's protocol_claims.csv)."""
    import pandas as pd
    f = ROOT / "results" / "paper" / "tables" / "protocol_claims.csv"
    if not f.is_file():
        return ""
    df = pd.read_csv(f)
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


def protocol_heldout(recs) -> str:
    """Notebook 09 section 5 in words: per fixed-budget UFN run, the share of users whose held-out
    item was reversed into a positive (in N_false) at the selected epoch, and UFN's per-user gain
    over SASRec in each group, from the paper profile's table."""
    f = ROOT / "results" / "paper" / "tables" / "protocol_heldout.csv"
    if not f.is_file():
        return "Not computed yet: run `bash run_all.sh --only 09`."
    import pandas as pd
    t = pd.read_csv(f)
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


def protocol_intervention(recs) -> str:
    """README's "why": notebook 09 section 6 in words (the held-out-item intervention), as the
    paper profile's run wrote it into 09_protocol.json."""
    nums = ROOT / "results" / "paper" / "tables" / "09_protocol.json"
    lines = json.loads(nums.read_text()).get("heldout_verdict") if nums.is_file() else None
    if not lines:
        return "Not computed yet: run `bash run_all.sh --only 09`."
    return lines[0] + "\n\n" + "\n".join(f"- {v}" for v in lines[1:])


def two_protocols(recs) -> str:
    """README: notebook 10's line on the two protocols, as the paper profile's run wrote it
    (``two_protocols_report.readme_line``, filled from its tables)."""
    nums = ROOT / "results" / "paper" / "tables" / "10_two_protocols.json"
    if not nums.is_file():
        return "Not computed yet: run `bash run_all.sh --only 10`."
    return json.loads(nums.read_text())["readme_line"]


def detectors(recs) -> str:
    """Table 4's detectors (notebook 03 section 5): on the default Beauty runs, and on the synthetic
    runs of ``profiles.detectors_synthetic`` (paper profile, seeds 1-3), with run keys."""
    from ufnlib import config_key
    from ufnlib.analysis import detector_tables
    from ufnlib.analysis.report import markdown_table
    from ufnlib.experiments import profiles
    beauty = [r for s in detector_tables.DETECTOR_COLUMNS for r in default_runs(recs, s, "sasrec")]
    want = {config_key(c) for c in profiles.detectors_synthetic("paper", [1, 2, 3])}
    syn = [r for r in recs if r.key in want]
    b, y = detector_tables.detectors(beauty), detector_tables.detectors_synthetic(syn)
    out = [b.caption, "", markdown_table(b.display).strip(), "",
           "Runs: " + ", ".join(f"`{r['key']}`" for r in beauty) + ".", "",
           y.caption, "", markdown_table(y.display).strip(), "",
           "Runs: " + ", ".join(f"`{r['key']}`" for r in syn) + ".", ""]
    out += [f"- {f}" for f in detector_tables.detector_findings(b, y)]
    return "\n".join(out).rstrip()


PACKED = "64656c9"     # the first commit that trains packed batches (docs/speed.md, generation 3)


def _packed(commit: str) -> bool | None:
    """Does ``commit`` train packed batches (generation 3)? None when git cannot tell."""
    from ufnlib.analysis.generations import UNKNOWN, of_commit
    gen = of_commit(commit)
    return None if gen == UNKNOWN else gen >= 3


def run_costs(recs) -> str:
    """docs/computing.md: what the cached runs of the paper's defaults cost at 1 thread on the CPU
    (train + validation seconds per epoch, minutes per run; medians), with the packed code and
    before it; and the paper profile's missing runs priced at the packed code's medians."""
    import statistics

    from ufnlib.experiments import grid, profiles
    rows = {}
    for r in recs:
        if r["env"].get("torch_threads") != 1 or r["env"].get("device", "cpu") != "cpu" or not is_default(r):
            continue
        gen = _packed(r["git"]["commit"])
        if gen is None:
            continue
        h = [x for x in r["history"] if "train_seconds" in x]
        if not h:
            continue
        sec = sum(x["train_seconds"] + x.get("eval_seconds", 0.0) for x in h)
        c = r.config
        rows.setdefault((c["dataset"], c["backbone"], c["strategy"], gen), []).append((sec / len(h), sec, len(h)))
    if not rows:
        return "No cached run of the paper's defaults at 1 thread yet."
    lines = ["| dataset | backbone | strategy | code | runs | epochs (median) | s / epoch (median) | "
             "min / run (median) |", "|---|---|---|---|---:|---:|---:|---:|"]
    for (d, bb, st, gen), v in sorted(rows.items()):
        lines.append(f"| {d} | {bb} | {st} | {'packed' if gen else 'before'} | {len(v)} | "
                     f"{statistics.median(x[2] for x in v):.0f} | {statistics.median(x[0] for x in v):.1f} | "
                     f"{statistics.median(x[1] for x in v) / 60:.0f} |")
    med = {gen: {k[:3]: statistics.median(x[1] for x in v) / 60 for k, v in rows.items() if k[3] == gen}
           for gen in (True, False)}
    missing = grid.missing(profiles.profile_runs("paper"))
    ratios = []
    for bb in ("sasrec", "bert4rec", "ssept"):
        fs = sorted((ROOT / "results" / "benchmarks").glob(f"speed-beauty-{bb}-*-vs-abed9dbc.json"), reverse=True)
        d = json.loads(fs[0].read_text()) if fs else None
        if d and _packed(d["git"]["commit"]):
            ratios += [m["current"] / m["baseline"] for st in ("uniform", "ufn") if (m := sidebyside_medians(d, st))]
    ratio = (f": the packed code trains an epoch in {min(ratios):.2f}-{max(ratios):.2f}x the time of abed9db's, "
             f"docs/speed.md" if ratios else "")
    price = {"packed": [], "before": [], "none": 0}
    for c in missing:
        k = (c.dataset, c.backbone, c.strategy)
        if k in med[True]:
            price["packed"].append(med[True][k])
        elif k in med[False]:
            price["before"].append(med[False][k])
        else:
            price["none"] += 1
    est = (f"The paper profile lacks {len(missing)} runs (Figure 3's settings and the protocol study's budgets "
           f"priced as the defaults of their dataset, backbone and strategy): {len(price['packed'])} priced at the "
           f"packed medians, about {sum(price['packed']) / 60:.0f} CPU-core-hours; {len(price['before'])} priced "
           f"at the medians before it, about {sum(price['before']) / 60:.0f} CPU-core-hours (an upper bound{ratio}); "
           f"{price['none']} with no run of their kind to price them."
           ) if missing else "The paper profile has every run."
    return ("Wall time of the cached runs of the paper's defaults, 1 torch thread, as each record logs it "
            "(`history[].train_seconds + eval_seconds`; runs shared the 2-core machine with one other run). "
            "`packed`: commits from " + PACKED + " on (docs/speed.md); `before`: earlier commits.\n\n"
            + "\n".join(lines) + "\n\n" + est)


def in_short(recs) -> str:
    """README's "In short" (at most 6 lines): notebook 11's counts, the claims' verdicts, and
    notebook 09's readings as the figure shows them, from their saved tables."""
    import pandas as pd

    from ufnlib.analysis import findings
    from ufnlib.analysis.runindex import claims_overview
    tables = ROOT / "results" / "paper" / "tables"
    f = tables / "11_findings.json"
    if not f.is_file():
        return "Not computed yet: run `bash run_all.sh` (notebook 11 writes the figure and its counts)."
    nums = json.loads(f.read_text())
    said = ", ".join(f"{w} in {n}" for w, n in nums["counts"].items())
    lines = [f"- **UFN against its baseline** (test NDCG@10, sampled-100, the paper's protocol), over the "
             f"{nums['rows']} comparisons in the figure: {said}. In {nums['interval_below_claim']} of the "
             f"{nums['with_paper_claim']} with a claimed change, the whole 95% interval lies below the paper's change."]
    df = claims_overview("paper", ROOT / "results")
    df = df[~df["source"].str.startswith("Reading:")]
    if len(df):
        vc = df["verdict"].value_counts()
        lines.append(f"- **The paper's {len(df)} claims tested:** "
                     + ", ".join(f"{k} {v}" for k, v in vc.items()) + " (the table below).")
    rows = findings.forest_rows(tables)
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
                     f"(the paper: {pct(r09['paper'].iloc[0])}).")
    return "\n".join(lines)


PROFILE_WHAT = {
    "paper": "the backbones x datasets x {SASRec, +UFN} of Table 2, the ablation and Table 4 on Beauty, the Figure 3 "
             "sweeps, notebook 09's protocol study, every seed. `bash run_all.sh` reports it from the cache; "
             "`--compute` trains what is missing (tens of CPU-core-hours)",
    "quick": "SASRec, +UFN and the EMA control on Beauty, the first seed (the paper profile's runs of that seed)",
    "smoke": "seeded synthetic data and tiny models, seconds per run: what the tests use"}


def profiles_table(recs) -> str:
    """README: the profiles with their run counts as `grid --dry-run` counts them (from the code)."""
    from ufnlib.experiments import profiles
    rows = [f"| `{p}`{' (default)' * (p == 'paper')} | {len(profiles.profile_runs(p))} | {what} |"
            for p, what in PROFILE_WHAT.items()]
    return ("| profile | runs (distinct configs, as `python -m ufnlib grid --profile P --dry-run` lists them) "
            "| what |\n|---|---|---|\n" + "\n".join(rows))


SECTIONS = {"in_short": in_short, "profiles": profiles_table,
            "sasrec": sasrec_vs_paper, "ablation": ablation, "speed": speed, "levers": levers,
            "sidebyside": side_by_side, "numerics": numerics, "gpu_probe": gpu_probe, "bundle": bundle_bench,
            "speed_glance": speed_glance,
            "claims": claims,
            "protocol": protocol, "glance": verdicts_at_a_glance,
            "protocol_glance": protocol_glance, "protocol_heldout": protocol_heldout,
            "protocol_intervention": protocol_intervention,
            "backbones": backbones, "table4": table4, "table4_claims": table4_claims, "detectors": detectors,
            "run_costs": run_costs, "schedules": schedules, "figure3": figure3, "two_protocols": two_protocols}


def relative_links(text: str, in_docs: bool) -> str:
    """Sections link from the repository root (README); inside docs/ the same links go up one."""
    return text.replace("](docs/", "](").replace("](results/", "](../results/") if in_docs else text


def render(text: str, recs, in_docs: bool = False) -> str:
    for name, fn in SECTIONS.items():
        pat = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)", re.S)
        text = pat.sub(lambda m: m.group(1) + relative_links(fn(recs), in_docs) + "\n" + m.group(2), text)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--results", default=str(ROOT / "results"))
    a = ap.parse_args()
    recs = records(Path(a.results))
    stale = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        old = doc.read_text()
        new = render(old, recs, in_docs=doc.parent.name == "docs")
        if new != old:
            stale.append(doc.relative_to(ROOT))
            if not a.check:
                doc.write_text(new)
    if a.check and stale:
        print("out of date:", ", ".join(map(str, stale)))
        sys.exit(1)


if __name__ == "__main__":
    main()
