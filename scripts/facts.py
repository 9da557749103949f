"""Write results/facts.json: what the docs quote from the code and the run cache, as numbers.

    python scripts/facts.py            # rewrite it
    python scripts/facts.py --check    # exit 1 if it is out of date

`profiles`: each profile's runs (as `grid --dry-run` counts them); `seeds`: each profile's seeds per
config; `config`: `ufnlib.Config()`'s defaults; `rules`: the constants of the named rules the docs
quote (the flat-start and runaway flags, the validation warm-up's lift, the presets, ...);
`paper_table1`: the paper's Table 1 as printed; `run_costs`: what the cached runs of the paper's
defaults cost at 1 thread on the CPU, by code generation (packed batches from generation 3 on; git
tells a commit's generation), and the paper profile's missing runs priced at those medians.
scripts/update_readme.py only formats it.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "results" / "facts.json"
PACKED = "64656c9"     # the first commit that trains packed batches (docs/speed.md, generation 3)


def run_costs(recs) -> dict:
    """Medians per (dataset, backbone, strategy, code) of the 1-thread CPU runs of the defaults."""
    from ufnlib.analysis.generations import UNKNOWN, of_commit
    from ufnlib.analysis.run_tables import is_default
    from ufnlib.experiments import grid, profiles
    groups = {}
    for r in recs:
        if r["env"].get("torch_threads") != 1 or r["env"].get("device", "cpu") != "cpu" or not is_default(r):
            continue
        gen = of_commit(r["git"]["commit"])
        h = [x for x in r["history"] if "train_seconds" in x]
        if gen == UNKNOWN or not h:
            continue
        sec = sum(x["train_seconds"] + x.get("eval_seconds", 0.0) for x in h)
        c = r.config
        code = "packed" if gen >= 3 else "before"
        groups.setdefault((c["dataset"], c["backbone"], c["strategy"], code), []).append((sec / len(h), sec, len(h)))
    rows = [{"dataset": d, "backbone": bb, "strategy": st, "code": code, "runs": len(v),
             "epochs": statistics.median(x[2] for x in v), "s_per_epoch": statistics.median(x[0] for x in v),
             "min_per_run": statistics.median(x[1] for x in v) / 60}
            for (d, bb, st, code), v in sorted(groups.items())]
    med = {code: {(r["dataset"], r["backbone"], r["strategy"]): r["min_per_run"] for r in rows if r["code"] == code}
           for code in ("packed", "before")}
    price = {"packed": [], "before": [], "none": 0}
    missing = grid.missing(profiles.profile_runs("paper"))
    for c in missing:
        k = (c.dataset, c.backbone, c.strategy)
        code = "packed" if k in med["packed"] else "before" if k in med["before"] else None
        if code:
            price[code].append(med[code][k])
        else:
            price["none"] += 1
    return {"packed_from": PACKED, "rows": rows, "missing": len(missing),
            "priced": {k: {"runs": len(price[k]), "core_hours": sum(price[k]) / 60} for k in ("packed", "before")},
            "unpriced": price["none"], "speedup": speedups()}


def speedups() -> dict | None:
    """The packed code's epoch time over abed9db's, min and max over the side-by-side reports."""
    from update_readme import sidebyside_medians  # the templater's reading of a side-by-side report

    from ufnlib.analysis.generations import of_commit
    ratios = []
    for bb in ("sasrec", "bert4rec", "ssept"):
        fs = sorted((ROOT / "results" / "benchmarks").glob(f"speed-beauty-{bb}-*-vs-abed9dbc.json"), reverse=True)
        d = json.loads(fs[0].read_text()) if fs else None
        if d and of_commit(d["git"]["commit"]) != "unknown" and of_commit(d["git"]["commit"]) >= 3:
            ratios += [m["current"] / m["baseline"] for st in ("uniform", "ufn") if (m := sidebyside_medians(d, st))]
    return {"min": min(ratios), "max": max(ratios)} if ratios else None


def default(fn, name: str):
    """A function's default for argument ``name``, read from its signature."""
    return inspect.signature(fn).parameters[name].default


def rules() -> dict:
    """The constants of the named training and reporting rules the docs quote, read from the code."""
    from ufnlib.analysis import comparison
    from ufnlib.data import logs
    from ufnlib.experiments import presets
    from ufnlib.negatives import diagnostics
    from ufnlib.training import algorithm1, protocol, train
    return {"few_steps": default(train.stopped_after_few_steps, "few_steps"),      # flat_start's threshold
            "warmup_min_lift": algorithm1.WARMUP_MIN_LIFT,                           # failed / validation warm-up
            "runaway_epochs": default(diagnostics.runaway, "window") + 1,            # validated mining epochs read
            "runaway_near": default(diagnostics.runaway, "near"),                    # x chance
            "reference_users": protocol.REFERENCE_USERS,                             # the reference's estimate
            "min_events": logs.DEFAULTS["min_events"],                               # a log's short users
            "alpha": comparison.ALPHA,                                               # the verdicts' level
            "verdict_rule": comparison.RULE,                                         # the rule, as captions print it
            "presets": presets.PRESETS}


def facts() -> dict:
    from ufnlib import Config
    from ufnlib.analysis.run_tables import cached_records
    from ufnlib.data.datasets import PAPER_TABLE1
    from ufnlib.experiments import profiles
    return {"profiles": {p: len(profiles.profile_runs(p)) for p in ("paper", "quick", "smoke")},
            "seeds": {p: len(profiles.default_seeds(p)) for p in ("paper", "quick", "smoke")},
            "config": dataclasses.asdict(Config()), "rules": rules(),
            "paper_table1": PAPER_TABLE1,                                  # the paper's Table 1, as printed
            "run_costs": run_costs(cached_records(ROOT / "results"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    text = json.dumps(facts(), indent=1, sort_keys=True) + "\n"
    if a.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"out of date: {OUT.relative_to(ROOT)} (run python scripts/facts.py)")
            sys.exit(1)
        return
    OUT.write_text(text)


if __name__ == "__main__":
    main()
