"""Speed benchmark (not a test): seconds per training epoch and per full evaluation.

    python benchmarks/bench_speed.py [--dataset beauty] [--threads 2] [--epochs 3]
                                     [--strategies uniform ufn] [--out results/benchmarks]

Protocol, side by side in one run: a SASRec is warmed up with ``--warm`` uniform epochs (so that
mining sees realistic scores); each strategy then starts from that same state in its own
subprocess (so peak memory is its own) with mining and the teacher switched on from its first
epoch, and trains ``--epochs`` epochs. Reported per strategy: seconds of each epoch (the first
mining epoch only records; re-feeding starts in the second), peak RSS after each epoch, and the
memory held by the FMR tensors. Evaluation: seconds to rank all users (valid and test) in both
modes. The load average is printed: other work on the machine inflates absolute times, the ratios
measured here side by side much less.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one(args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    from ufnlib import Config, load_split
    from ufnlib.train import Trainer
    split = load_split(args.dataset)
    cfg = Config(dataset=args.dataset, backbone=args.backbone, strategy=args.strategy,
                 warmup="fixed", warmup_epochs=0, seed=1)
    tr = Trainer(cfg, split, evaluator=object(), progress=False)
    tr.model.load_state_dict(torch.load(args.state))
    out = {"strategy": args.strategy, "backbone": args.backbone, "epochs": [], "rss_mb": [],
           "rss_start_mb": rss_mb()}
    for _ in range(args.epochs):
        tr.maybe_end_warmup()
        rec = tr.run_epoch()
        tr.history.append(rec)
        tr.epoch += 1
        out["epochs"].append(rec["train_seconds"])
        out["rss_mb"].append(rss_mb())
        if "nrec_mean" in rec:
            out.setdefault("nrec_mean", []).append(rec["nrec_mean"])
            out.setdefault("mined", []).append(rec["mined"])
    mem = getattr(tr.strategy, "memory", None)
    out["memory_mb"] = mem.nbytes() / 2**20 if mem is not None else 0.0
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--backbone", default="sasrec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--strategies", nargs="+", default=["uniform", "ufn"])
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--strategy", default="uniform", help=argparse.SUPPRESS)
    ap.add_argument("--state", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return

    import torch
    torch.set_num_threads(args.threads)
    from ufnlib import Config, Evaluator, load_split
    from ufnlib.experiments import GIT_AT_IMPORT
    from ufnlib.train import Trainer
    split = load_split(args.dataset)
    t = time.perf_counter()
    ev = Evaluator(split, 50)
    build = time.perf_counter() - t
    cfg = Config(dataset=args.dataset, backbone=args.backbone, seed=1)
    tr = Trainer(cfg, split, evaluator=ev, progress=False)
    warm = [tr.run_epoch()["train_seconds"] for _ in range(args.warm)]
    evals = {}
    for which in ("valid", "test"):
        t = time.perf_counter()
        ev.ranks(tr.model, which, ("sampled", "full"))
        evals[which] = time.perf_counter() - t
    t = time.perf_counter()
    ev.ranks(tr.model, "test", ("sampled",))
    evals["test_sampled_only"] = time.perf_counter() - t
    fd, state = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    torch.save(tr.model.state_dict(), state)
    runs = []
    for s in args.strategies:
        cmd = [sys.executable, __file__, "--one", "--dataset", args.dataset, "--backbone", args.backbone,
               "--threads", str(args.threads), "--epochs", str(args.epochs), "--strategy", s, "--state", state]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    os.unlink(state)
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": GIT_AT_IMPORT, "dataset": args.dataset, "backbone": args.backbone, "threads": args.threads,
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "loadavg_at_end": os.getloadavg()},
        "users": split.n_users, "evaluator_build_s": build, "warm_epochs_s": warm,
        "eval_all_users_both_modes_s": evals, "runs": runs,
    }
    text = render(report)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"speed-{args.dataset}-{args.backbone}-{stamp}"
    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
    (out / f"{name}.md").write_text(text + "\n")


def steady(epochs: list[float], k: int = 4) -> float:
    """Median of the last ``k`` epochs: mining state grows over the first epochs after warm-up,
    and one epoch's time on a shared machine is noisy."""
    import statistics
    return statistics.median(epochs[-k:])


def render(report: dict) -> str:
    """The Markdown summary of a report (``--render report.json`` rewrites it from the JSON)."""
    runs, evals, warm = report["runs"], report["eval_all_users_both_modes_s"], report["warm_epochs_s"]
    base = next((r for r in runs if r["strategy"] == "uniform"), None)
    k = min(4, min(len(r["epochs"]) for r in runs))
    lines = [f"# Speed, {report['dataset']} / {report['backbone']}, {report['threads']} threads "
             f"({report['date']}, commit {report['git']['commit'][:8]}, load avg {report['machine']['loadavg_at_end'][0]:.2f})", "",
             f"Evaluation of all {report['users']:,} users, sampled-100 + full ranking: valid "
             f"{evals['valid']:.2f} s, test {evals['test']:.2f} s (sampled only: {evals['test_sampled_only']:.2f} s).",
             f"Uniform warm-up epochs: {', '.join(f'{x:.2f}' for x in warm)} s.", "",
             f"| strategy | s/epoch (each) | s/epoch (median of last {k}) | x uniform | peak RSS MB (each epoch) | mining memory tensors MB |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        ratio = steady(r["epochs"], k) / steady(base["epochs"], k) if base else float("nan")
        lines.append(f"| {r['strategy']} | {', '.join(f'{x:.2f}' for x in r['epochs'])} | {steady(r['epochs'], k):.2f} | "
                     f"{ratio:.2f} | {', '.join(f'{x:.0f}' for x in r['rss_mb'])} | {r['memory_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        src = Path(sys.argv[2])
        src.with_suffix(".md").write_text(render(json.loads(src.read_text())) + "\n")
        sys.exit(0)
    main()
