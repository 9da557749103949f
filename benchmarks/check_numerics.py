"""Numerics check (not a test): do runs of this code land within the seed spread of the cached ones?

    python benchmarks/check_numerics.py --root DIR [--compute] [--dataset beauty]
                                        [--backbone sasrec] [--strategy uniform] [--seeds 1 2 3]
                                        [--workers 2] [--threads 1] [--out results/benchmarks]

A change that alters floating-point results (a fused kernel, another summation order) makes a
rerun of a cached config differ from its record, as another seed would. This script reruns the
configs (the profile's settings, default protocol) with this checkout into a separate results
folder ``--root`` (``--compute``; runs that are there already are reused, an interrupted one
resumes), then puts them beside the records of the same configs in the project's cache. For each
test metric (sampled and full ranking) it reports the values per seed, mean and standard deviation
of each side, the difference of means, Welch's t-test, and whether the difference of means is
within twice the cached runs' seed standard deviation (the criterion written in the report). The
report goes to ``--out`` (markdown + json) and the new records' json files to
``--out/numerics/<commit>/``, so that each figure names the run it came from.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("test/sampled/ndcg@10", "test/sampled/hr@10", "test/full/ndcg@10", "test/full/hr@10",
           "valid/sampled/ndcg@10")


def value(rec, path: str) -> float:
    split, mode, name = path.split("/")
    return float(rec["metrics"][split][mode][name])


def compare(old: list[float], new: list[float]) -> dict:
    from scipy import stats
    mo, mn = statistics.mean(old), statistics.mean(new)
    so = statistics.stdev(old) if len(old) > 1 else float("nan")
    sn = statistics.stdev(new) if len(new) > 1 else float("nan")
    p = float(stats.ttest_ind(new, old, equal_var=False).pvalue) if min(len(old), len(new)) > 1 else float("nan")
    return dict(old=old, new=new, old_mean=mo, old_std=so, new_mean=mn, new_std=sn, diff=mn - mo,
                rel_diff=(mn - mo) / mo if mo else float("nan"), welch_p=p,
                within=bool(abs(mn - mo) <= 2 * so) if so == so else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True, help="results folder for this checkout's reruns")
    ap.add_argument("--compute", action="store_true", help="compute the reruns that are missing")
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--backbone", default="sasrec")
    ap.add_argument("--strategy", default="uniform")
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    ap.add_argument("--against", help="compare with the records in this folder (<key>.json, e.g. an earlier "
                    "check's results/benchmarks/numerics/<commit>/) instead of the project's cache")
    args = ap.parse_args()

    from ufnlib.experiments import profiles, store
    from ufnlib.experiments.grid import run_grid
    from ufnlib.experiments.provenance import GIT_AT_IMPORT
    cfgs = [profiles.make(**{**profiles.base(args.profile), "dataset": args.dataset, "backbone": args.backbone,
                             "strategy": args.strategy, "seed": s}) for s in args.seeds]
    if args.against:
        paths = [Path(args.against) / store.record_path(c).name for c in cfgs]
        old = [json.loads(p.read_text()) if p.is_file() else None for p in paths]
        where, baseline = args.against, f"The records in `{args.against}` (old)"
    else:
        old = [store.lookup(c) for c in cfgs]
        where, baseline = f"the project's cache ({store.results_dir()})", "The cached records (old)"
    if any(r is None for r in old):
        missing = [profiles.run_label(c) for c, r in zip(cfgs, old) if r is None]
        raise SystemExit(f"{where} lacks {missing}: there is nothing to compare these reruns with; compute "
                         "them first (python -m ufnlib grid ...)")
    res = run_grid(cfgs, root=args.root, compute=args.compute, workers=args.workers, threads=args.threads)
    if res.missing:
        raise SystemExit(f"{len(res.missing)} rerun(s) missing in {args.root}: run again with --compute")
    new = [store.lookup(c, args.root) for c in cfgs]
    commits = sorted({r["git"]["commit"] for r in new})
    rows = {m: compare([value(r, m) for r in old], [value(r, m) for r in new]) for m in METRICS}
    epochs = {"old": [r["selection"]["best_epoch"] for r in old], "new": [r["selection"]["best_epoch"] for r in new]}
    now = dt.datetime.now(dt.timezone.utc)
    rep = {"date": now.isoformat(timespec="seconds"), "git": GIT_AT_IMPORT, "dataset": args.dataset,
           "backbone": args.backbone, "strategy": args.strategy, "profile": args.profile, "seeds": args.seeds,
           "criterion": "|mean(new) - mean(old)| <= 2 * std(old) over seeds", "against": args.against,
           "old_runs": [dict(key=r["key"], commit=r["git"]["commit"], threads=r["env"].get("torch_threads"))
                        for r in old],
           "new_runs": [dict(key=r["key"], commit=r["git"]["commit"], threads=r["env"].get("torch_threads"))
                        for r in new],
           "best_epoch": epochs, "metrics": rows}
    lines = [f"# Numerics check, {args.dataset} / {args.backbone} / {args.strategy}, seeds "
             f"{', '.join(map(str, args.seeds))} ({rep['date']}, reruns at commit(s) "
             f"{', '.join(c[:8] for c in commits)})", "",
             f"{baseline} and reruns of the same configs by this code (new), default protocol; "
             f"criterion: {rep['criterion']}.", "",
             "| run | seed | old key (commit, threads) | new key (commit, threads) | best epoch old / new |",
             "|---|---|---|---|---|"]
    for s, o, n, eo, en in zip(args.seeds, rep["old_runs"], rep["new_runs"], epochs["old"], epochs["new"]):
        lines.append(f"| {profiles.run_label(cfgs[0]).rsplit('/', 1)[0]} | {s} | {o['key']} ({o['commit'][:8]}, "
                     f"{o['threads']}) | {n['key']} ({n['commit'][:8]}, {n['threads']}) | {eo} / {en} |")
    lines += ["", "| metric | old per seed | new per seed | old mean ± std | new mean ± std | new - old "
              "(rel.) | Welch p | within |", "|---|---|---|---|---|---|---|---|"]
    for m, r in rows.items():
        lines.append(f"| {m} | {', '.join(f'{x:.4f}' for x in r['old'])} | {', '.join(f'{x:.4f}' for x in r['new'])} | "
                     f"{r['old_mean']:.4f} ± {r['old_std']:.4f} | {r['new_mean']:.4f} ± {r['new_std']:.4f} | "
                     f"{r['diff']:+.4f} ({r['rel_diff']:+.1%}) | {r['welch_p']:.2f} | "
                     f"{'yes' if r['within'] else 'no' if r['within'] is not None else 'n/a'} |")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"numerics-{args.dataset}-{args.backbone}-{args.strategy}-{now.strftime('%Y%m%d-%H%M%S')}"
    (out / f"{name}.json").write_text(json.dumps(rep, indent=1))
    (out / f"{name}.md").write_text(text + "\n")
    for r, c in zip(new, cfgs):
        dst = out / "numerics" / r["git"]["commit"][:8]
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy2(store.record_path(c, args.root), dst / f"{r['key']}.json")


if __name__ == "__main__":
    main()
