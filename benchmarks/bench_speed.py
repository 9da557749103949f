"""Speed benchmark (not a test): seconds per training epoch and per full evaluation.

    python benchmarks/bench_speed.py [--dataset beauty] [--threads 2] [--epochs 3]
                                     [--strategies uniform ufn] [--out results/benchmarks]
                                     [--baseline REV]

Protocol, side by side in one run: a SASRec is warmed up with ``--warm`` uniform epochs (so that
mining sees realistic scores); each strategy then starts from that same state in its own
subprocess (so peak memory is its own) with mining and the teacher switched on from its first
epoch, and trains ``--epochs`` epochs. The subprocesses take turns, one epoch each (uniform epoch
1, ufn epoch 1, uniform epoch 2, ...), never two at once: a machine whose speed drifts during the
run (shared hosts do, by a factor up to 1.5 within minutes here) then slows every strategy alike,
which running one strategy after the other did not. Reported per strategy: seconds of each epoch
(the first mining epoch only records; re-feeding starts in the second), peak RSS after each epoch
(VmHWM of the subprocess), and the memory held by the FMR tensors. Evaluation: seconds to rank all
users (valid and test) in both modes. The load average is printed.

``--baseline REV`` measures this checkout against another commit side by side: the tree of REV
(``git archive``) is unpacked into a temporary folder, and every strategy gets a second
subprocess that runs REV's own copy of this script on REV's ufnlib, from the same warmed-up
weights. All subprocesses take turns (within an epoch: this checkout first on even epochs,
REV first on odd ones), so the ratio this checkout / REV per strategy is measured in one run.
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
    """Peak resident memory of this process in MB: ``VmHWM`` of /proc/self/status (Linux), which
    starts afresh at exec. (``ru_maxrss`` does not: a subprocess started by a large parent reports
    at least the parent's size at the fork, which inflated the figures of earlier reports.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def turns(args):
    """Child side of the interleaved protocol: set up, say ``ready``, then run one epoch per
    ``go`` line read from stdin and print its seconds and peak RSS; the summary at EOF."""
    import torch
    torch.set_num_threads(args.threads)
    from ufnlib import Config, load_split
    from ufnlib.training.train import Trainer
    split = load_split(args.dataset)
    cfg = Config(dataset=args.dataset, backbone=args.backbone, strategy=args.strategy,
                 warmup="fixed", warmup_epochs=0, seed=1)
    tr = Trainer(cfg, split, evaluator=object(), progress=False)
    tr.model.load_state_dict(torch.load(args.state))
    out = {"strategy": args.strategy, "backbone": args.backbone, "epochs": [], "rss_mb": [],
           "rss_start_mb": rss_mb()}
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        tr.maybe_end_warmup()
        rec = tr.run_epoch()
        tr.history.append(rec)
        tr.epoch += 1
        out["epochs"].append(rec["train_seconds"])
        out["rss_mb"].append(rss_mb())
        if "nrec_mean" in rec:
            out.setdefault("nrec_mean", []).append(rec["nrec_mean"])
            out.setdefault("mined", []).append(rec["mined"])
        print(json.dumps({"epoch_seconds": rec["train_seconds"]}), flush=True)
    mem = getattr(tr.strategy, "memory", None)
    out["memory_mb"] = mem.nbytes() / 2**20 if mem is not None else 0.0
    print(json.dumps(out), flush=True)


def start(args, strategy: str, state: str, tree: Path | None = None) -> subprocess.Popen:
    """A ``--turns`` subprocess of this checkout, or (``tree``) of another commit's unpacked tree,
    running that tree's own script on that tree's ufnlib."""
    script = (tree / "benchmarks" / "bench_speed.py") if tree else Path(__file__)
    cmd = [sys.executable, str(script), "--turns", "--dataset", args.dataset, "--backbone", args.backbone,
           "--threads", str(args.threads), "--strategy", strategy, "--state", state]
    env = {**os.environ, "PYTHONPATH": str(tree or ROOT)}
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                         cwd=str(tree or ROOT))
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError(f"benchmark subprocess for {strategy} ({tree or 'this checkout'}) failed to start")
    return p


def unpack(rev: str, into: Path) -> dict:
    """The tree of commit ``rev`` of this repository, unpacked into ``into``; its full hash."""
    full = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    tar = subprocess.run(["git", "archive", "--format=tar", full], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    if "--turns" not in (into / "benchmarks" / "bench_speed.py").read_text():
        raise SystemExit(f"--baseline {rev}: its benchmarks/bench_speed.py has no --turns protocol (too old)")
    return {"commit": full, "rev": rev}


def drive(procs: list, epochs: int, flip: bool = False) -> list[dict]:
    """Let the subprocesses train in turns, one epoch each, then collect their summaries.
    ``flip``: procs come in pairs (this checkout, baseline); odd epochs run the baseline first."""
    for e in range(epochs):
        order = procs
        if flip and e % 2:
            order = [q for i in range(0, len(procs), 2) for q in (procs[i + 1], procs[i])]
        for p in order:
            p.stdin.write("go\n")
            p.stdin.flush()
            p.stdout.readline()
    runs = []
    for p in procs:
        p.stdin.close()
        runs.append(json.loads(p.stdout.read().strip().splitlines()[-1]))
        if p.wait() != 0:
            raise RuntimeError("benchmark subprocess failed")
    return runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--backbone", default="sasrec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--strategies", nargs="+", default=["uniform", "ufn"])
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also run commit REV's code side by side (in turns) and report this checkout / REV")
    ap.add_argument("--sequential", action="store_true",
                    help="one strategy after the other (the protocol of reports before 2026-11-27 07:30)")
    ap.add_argument("--turns", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--strategy", default="uniform", help=argparse.SUPPRESS)
    ap.add_argument("--state", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.turns:
        turns(args)
        return

    import torch
    torch.set_num_threads(args.threads)
    from ufnlib import Config, Evaluator, load_split
    from ufnlib.experiments.provenance import GIT_AT_IMPORT
    from ufnlib.training.train import Trainer
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
    baseline = None
    if args.sequential:
        runs = [drive([start(args, st, state)], args.epochs)[0] for st in args.strategies]
    elif args.baseline:
        with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
            baseline = unpack(args.baseline, Path(tmp))
            procs = [p for st in args.strategies for p in (start(args, st, state), start(args, st, state, Path(tmp)))]
            runs = drive(procs, args.epochs, flip=True)
        for i, r in enumerate(runs):
            r["code"] = "baseline" if i % 2 else "current"
    else:
        runs = drive([start(args, st, state) for st in args.strategies], args.epochs)
    os.unlink(state)
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": GIT_AT_IMPORT, "protocol": "sequential" if args.sequential else "interleaved",
        **({"baseline": baseline} if baseline else {}),
        "dataset": args.dataset, "backbone": args.backbone, "threads": args.threads,
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
    name = f"speed-{args.dataset}-{args.backbone}-{stamp}" + (f"-vs-{baseline['commit'][:8]}" if baseline else "")
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
    base = next((r for r in runs if r["strategy"] == "uniform" and r.get("code", "current") == "current"), None)
    k = min(4, min(len(r["epochs"]) for r in runs))
    lines = [f"# Speed, {report['dataset']} / {report['backbone']}, {report['threads']} threads "
             f"({report['date']}, commit {report['git']['commit'][:8]}, "
             f"load avg {report['machine']['loadavg_at_end'][0]:.2f})", "",
             f"Evaluation of all {report['users']:,} users, sampled-100 + full ranking: valid "
             f"{evals['valid']:.2f} s, test {evals['test']:.2f} s (sampled only: {evals['test_sampled_only']:.2f} s).",
             f"Uniform warm-up epochs: {', '.join(f'{x:.2f}' for x in warm)} s.",
             "Protocol: " + ("strategies in turns, one epoch each (interleaved); peak RSS = VmHWM of each subprocess."
                             if report.get("protocol") == "interleaved" else
                             "one strategy after the other (sequential)." + (
                                 "" if "protocol" in report else " Peak RSS of this older report is ru_maxrss, which "
                                 "includes the parent's size at the fork (about 650-750 MB): "
                                 "it overstates every row.")), "",
             f"| strategy | s/epoch (each) | s/epoch (median of last {k}) | x uniform | "
             "peak RSS MB (each epoch) | mining memory tensors MB |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        ratio = steady(r["epochs"], k) / steady(base["epochs"], k) if base else float("nan")
        name = r["strategy"] + (f" ({r['code']})" if "code" in r else "")
        lines.append(f"| {name} | {', '.join(f'{x:.2f}' for x in r['epochs'])} | "
                     f"{steady(r['epochs'], k):.2f} | "
                     f"{ratio:.2f} | {', '.join(f'{x:.0f}' for x in r['rss_mb'])} | {r['memory_mb']:.0f} |")
    if report.get("baseline"):
        b = report["baseline"]["commit"][:8]
        lines += ["", f"Side by side with commit {b} ({report['baseline']['rev']}), in turns: this checkout / {b}, "
                  f"median of the last {k} epochs:", "", "| strategy | this checkout s/epoch | "
                  f"{b} s/epoch | ratio |", "|---|---|---|---|"]
        for cur, old in zip(runs[::2], runs[1::2]):
            c, o = steady(cur["epochs"], k), steady(old["epochs"], k)
            lines.append(f"| {cur['strategy']} | {c:.2f} | {o:.2f} | {c / o:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        src = Path(sys.argv[2])
        src.with_suffix(".md").write_text(render(json.loads(src.read_text())) + "\n")
        sys.exit(0)
    main()
