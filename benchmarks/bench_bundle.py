"""Bundle benchmark (not a test): run-epochs per second of K runs in one process
(``training.bundle``) against single runs, measured side by side.

    python benchmarks/bench_bundle.py [--dataset beauty] [--backbone sasrec] [--strategy ufn]
                                      [--ks 1 2 4 8] [--threads 1] [--epochs 3] [--chunks 4]
                                      [--device cpu] [--out results/benchmarks]

Protocol: a SASRec is warmed up with ``--warm`` uniform epochs; every setting starts from those
weights in its own subprocess (seeds 1..K, mining and the teacher on from the first epoch, as in
``bench_speed.py``): ``single`` is one ordinary ``Trainer``, ``bundle K`` one ``Bundle`` of K
trainers. The subprocesses take turns, one epoch each, never two at once, so that a machine whose
speed drifts slows every setting alike. Reported per setting: seconds per epoch (the first
epoch, where mining only records, is left out of the summary) and run-epochs per second
(K / seconds), and the ratio to ``single``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(args):
    import torch
    torch.set_num_threads(args.threads)
    from ufnlib import Config, load_split
    from ufnlib.training.bundle import Bundle
    from ufnlib.training.train import Trainer
    split = load_split(args.dataset)
    k = max(args.k, 1)
    trainers = []
    for seed in range(1, k + 1):
        cfg = Config(dataset=args.dataset, backbone=args.backbone, strategy=args.strategy, warmup="fixed",
                     warmup_epochs=0, seed=seed)
        tr = Trainer(cfg, split, evaluator=object(), progress=False, device=args.device)
        tr.model.load_state_dict(torch.load(args.state))
        trainers.append(tr)
    bundle = Bundle(trainers, chunks=args.chunks) if args.k > 0 else None
    print("ready", flush=True)
    out = {"k": args.k, "epochs": []}
    for line in sys.stdin:
        if line.strip() != "go":
            break
        t0 = time.perf_counter()
        if bundle is None:
            tr = trainers[0]
            tr.maybe_end_warmup()
            tr.history.append(tr.run_epoch())
            tr.epoch += 1
        else:
            bundle.train_epoch()           # without validation, as the single setting's run_epoch
            for t in bundle.live:
                t.epoch += 1
        if args.device != "cpu":
            torch.cuda.synchronize()
        out["epochs"].append(time.perf_counter() - t0)
        print(json.dumps({"epoch": out["epochs"][-1]}), flush=True)
    print(json.dumps(out), flush=True)


def warm_state(args, path):
    import torch
    torch.set_num_threads(args.threads)
    from ufnlib import Config, load_split
    from ufnlib.training.train import Trainer
    cfg = Config(dataset=args.dataset, backbone=args.backbone, strategy="uniform", seed=1)
    tr = Trainer(cfg, load_split(args.dataset), evaluator=object(), progress=False)
    for _ in range(args.warm):
        tr.run_epoch()
    torch.save(tr.model.state_dict(), path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--backbone", default="sasrec")
    ap.add_argument("--strategy", default="ufn")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--state", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "warm.pt"
        t0 = time.perf_counter()
        warm_state(args, state)
        print(f"warm-up: {args.warm} uniform epochs in {time.perf_counter() - t0:.0f} s", flush=True)
        settings = [0] + list(args.ks)            # 0 = single Trainer
        procs = {}
        for k in settings:
            cmd = [sys.executable, __file__, "--child", "--k", str(k), "--state", str(state)]
            for f in ("dataset", "backbone", "strategy", "threads", "chunks", "device"):
                cmd += [f"--{f}", str(getattr(args, f))]
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            assert p.stdout.readline().strip() == "ready"
            procs[k] = p
        times = {k: [] for k in settings}
        for e in range(args.epochs):
            for k in (settings if e % 2 == 0 else settings[::-1]):
                procs[k].stdin.write("go\n")
                procs[k].stdin.flush()
                times[k].append(json.loads(procs[k].stdout.readline())["epoch"])
                print(f"epoch {e + 1} {'single' if k == 0 else f'bundle {k}'}: {times[k][-1]:.1f} s", flush=True)
        for p in procs.values():
            p.stdin.close()
            p.wait()
    import statistics
    rows = []
    for k in settings:
        ep = times[k][1:] if len(times[k]) > 1 else times[k]
        sec = statistics.median(ep)
        runs = max(k, 1)
        rows.append({"setting": "single" if k == 0 else f"bundle {k}", "runs": runs, "s_per_epoch": sec,
                     "run_epochs_per_s": runs / sec, "epochs": times[k]})
    base = rows[0]["run_epochs_per_s"]
    for r in rows:
        r["vs_single"] = r["run_epochs_per_s"] / base
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "ufnlib", "benchmarks"],
                                capture_output=True, text=True).stdout.strip())
    meta = {"date": stamp, "commit": commit + ("+dirty" if dirty else ""), "dataset": args.dataset,
            "backbone": args.backbone, "strategy": args.strategy, "threads": args.threads, "chunks": args.chunks,
            "device": args.device, "machine": platform.platform(), "cpu_count": os.cpu_count(),
            "load_avg": os.getloadavg(), "epochs": args.epochs, "warm": args.warm}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"bundle-{args.dataset}-{args.backbone}-{args.strategy}-{args.device}-{stamp}"
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [f"# Bundle benchmark: {args.backbone} `{args.strategy}` on {args.dataset}, {args.device}, "
             f"{args.threads} thread(s)", "",
             f"Commit {meta['commit']}, {stamp}, {meta['machine']}, {meta['cpu_count']} CPUs, load average "
             f"{', '.join(f'{x:.2f}' for x in meta['load_avg'])}. Generated by `benchmarks/bench_bundle.py` "
             f"(settings in turns, one epoch each; median of epochs 2..{args.epochs}; the first mining epoch "
             f"left out; chunks = {args.chunks}).", "",
             "| setting | runs | s per epoch | run-epochs per s | vs single |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['runs']} | {r['s_per_epoch']:.1f} | {r['run_epochs_per_s']:.3f} | "
                     f"{r['vs_single']:.2f}x |")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
