"""Speed levers, measured before one is chosen (not a test): milliseconds per training step of
today's trainer and of variants of it, in one process, in turns.

    python benchmarks/bench_levers.py [--dataset beauty] [--strategy uniform] [--threads 2]
                                      [--variants base foreach loop compile] [--steps 25] [--rounds 6]

Variants: ``base`` (the trainer as it is; its Adam is PyTorch's fused one), ``fused`` /
``foreach`` / ``loop`` (Adam's fused, multi-tensor or single-tensor implementation), ``compile``
(``torch.compile(model.encode, dynamic=True)``). Each variant gets its own trainer (same config
and seed, mining on from the first step); rounds of ``--steps`` steps take turns over the
variants, so that a machine whose speed drifts slows all alike. Before the timing, each variant
trains ``--check`` steps from a fresh seed alone, and its losses are compared with ``base``'s:
"identical" or the largest difference (a lever that changes floating-point results needs the
numerics check, benchmarks/check_numerics.py). The report goes to ``--out``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make(variant: str, cfg, split):
    import torch

    from ufnlib.training.train import Trainer
    tr = Trainer(cfg, split, evaluator=object(), progress=False)
    betas = (0.9, cfg.beta2)
    if variant == "fused":
        tr.opt = torch.optim.Adam(tr.model.parameters(), lr=cfg.lr, betas=betas, fused=True)
    elif variant == "foreach":
        tr.opt = torch.optim.Adam(tr.model.parameters(), lr=cfg.lr, betas=betas, foreach=True)
    elif variant == "loop":
        tr.opt = torch.optim.Adam(tr.model.parameters(), lr=cfg.lr, betas=betas, foreach=False)
    elif variant == "compile":
        tr.model.encode = torch.compile(tr.model.encode, dynamic=True)
    elif variant != "base":
        raise SystemExit(f"unknown variant {variant!r}")
    tr.maybe_end_warmup()
    return tr, tr.epoch_users()


def batch(users, k: int, b: int):
    """The k-th batch of ``b`` users of the epoch order, wrapping around."""
    return users.roll(-((k * b) % len(users)))[:b]


def losses(variant: str, cfg, split, steps: int) -> list[float]:
    import torch
    torch.manual_seed(cfg.seed)
    tr, users = make(variant, cfg, split)
    torch.manual_seed(cfg.seed)
    return [tr.train_step(batch(users, i, cfg.batch_size)) for i in range(steps)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--backbone", default="sasrec")
    ap.add_argument("--strategy", default="uniform")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=["base", "foreach", "loop", "compile"])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--check", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from ufnlib import Config, load_split
    from ufnlib.experiments.provenance import GIT_AT_IMPORT
    split = load_split(args.dataset)
    cfg = Config(dataset=args.dataset, backbone=args.backbone, strategy=args.strategy, warmup="fixed",
                 warmup_epochs=0, seed=1)
    ref = losses("base", cfg, split, args.check)
    same = {}
    for v in args.variants:
        got = losses(v, cfg, split, args.check) if v != "base" else ref
        d = max(abs(a - b) for a, b in zip(got, ref))
        same[v] = "identical" if d == 0 else f"max abs. loss difference {d:.2e} over {args.check} steps"
    trs = {v: make(v, cfg, split) for v in args.variants}
    ms = {v: [] for v in args.variants}
    for rnd in range(args.rounds):
        for v, (tr, users) in trs.items():
            t = time.perf_counter()
            for s in range(args.steps):
                tr.train_step(batch(users, rnd * args.steps + s, cfg.batch_size))
            ms[v].append((time.perf_counter() - t) / args.steps * 1000)
    med = {v: statistics.median(x[2:]) for v, x in ms.items()}   # the first rounds compile / warm caches
    rep = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "git": GIT_AT_IMPORT,
           "dataset": args.dataset, "backbone": args.backbone, "strategy": args.strategy, "threads": args.threads,
           "steps_per_round": args.steps, "ms_per_step": ms, "median_after_2_rounds": med, "results": same,
           "torch": torch.__version__, "cpu_count": os.cpu_count(), "loadavg_at_end": os.getloadavg()}
    lines = [f"# Speed levers, {args.dataset} / {args.backbone} / {args.strategy}, {args.threads} threads "
             f"({rep['date']}, commit {GIT_AT_IMPORT['commit'][:8]}, load avg {rep['loadavg_at_end'][0]:.2f})", "",
             f"Variants in turns, {args.rounds} rounds of {args.steps} steps; median of the rounds after the "
             "first two.", "", "| variant | ms/step (each round) | median | x base | results vs base |",
             "|---|---|---|---|---|"]
    for v in args.variants:
        lines.append(f"| {v} | {', '.join(f'{x:.1f}' for x in ms[v])} | {med[v]:.1f} | "
                     f"{med[v] / med['base']:.2f} | {same[v]} |" if "base" in med else "")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"levers-{args.dataset}-{args.backbone}-{args.strategy}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    (out / f"{name}.json").write_text(json.dumps(rep, indent=1))
    (out / f"{name}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
