"""Run a list of training configs on one GPU machine in a pool of worker processes and bring
the finished records back as one archive (for a borrowed machine with a short lease).

    UFN_DEVICE=cuda UFN_GIT_COMMIT=<sha> UFN_DATA_DIR=... \
        python3 scripts/gpu_grid.py --out $OUT --workers 8 --deadline 540 \
        beauty/sasrec/fcr/1 beauty/sasrec/removal/1 ...

1. Smoke: every strategy and backbone of the list trains 3 epochs on the small synthetic
   dataset on the device (mining switched on after 1 epoch); one that fails is dropped from the
   list, with its traceback in the log, instead of failing the whole lease.
2. The list, in its order (first = most wanted), goes to ``--workers`` processes, one torch
   thread each, writing into a fresh cache (``--results``); every finished run and every
   ``--every`` seconds the finished records are archived to ``OUT/runs.tar.gz`` (replaced
   atomically), so a lease cut short still returns what had finished. Import with
   ``python -m ufnlib grid --import runs.tar.gz``.
3. No run is started after ``--start-until`` seconds; at ``--deadline`` the script writes a
   final archive and exits: runs still training then have no record; with ``--checkpoints`` the
   archive carries their last checkpoints (written after a run's first epoch, then every 60 s),
   which ``grid --import`` puts in place so that the next computation resumes them, here or on
   the CPU.

``--bundle K``: each worker trains a bundle of up to K compatible runs in one process with
stacked weights (``ufnlib.training.bundle``; ``grid.bundles`` forms them from the list, in its
order), which is what makes a GPU pay off: each kernel then serves K runs.

Records hold ``env.device = cuda`` and the GPU's name; float results on a GPU are not bit-for-bit
those of a CPU run of the same config and seed (see ``ufnlib.experiments.run.resolve_device``).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse(spec: str) -> dict:
    parts = spec.split("/")
    if len(parts) != 4:
        raise SystemExit(f"run spec '{spec}': expected dataset/backbone/strategy/seed")
    ds, bb, st, seed = parts
    return dict(dataset=ds, backbone=bb, strategy=st, seed=int(seed))


def smoke(backbone: str, strategy: str, root: str) -> str | None:
    """None if a 3-epoch synthetic run of (backbone, strategy) trains and evaluates on the device."""
    from ufnlib import run
    from ufnlib.experiments.profiles import SMOKE_DATASET, base
    params = {**base("smoke"), "dataset": SMOKE_DATASET, "backbone": backbone, "strategy": strategy,
              "seed": 1, "max_epochs": 3, "warmup_epochs": 1}
    try:
        from ufnlib.experiments.provenance import resolve_device
        rec = run(params, root=root, progress=False, threads=1)
        assert rec["env"]["device"] == resolve_device().type, rec["env"]
        return None
    except Exception:  # noqa: BLE001 - reported, and the strategy is left out
        return traceback.format_exc()


def label(params: list[dict]) -> str:
    """A unit of work in the log: its run's label, or the bundle's size and first run."""
    from ufnlib.experiments.profiles import run_label
    first = run_label(params[0])
    return first if len(params) == 1 else f"bundle of {len(params)}: {first}, ..."


def smoke_bundle(backbone: str, root: str) -> str | None:
    """None if a bundle of two 3-epoch synthetic runs (ufn, uniform) trains on the device."""
    try:
        from ufnlib.experiments.profiles import SMOKE_DATASET, base
        from ufnlib.experiments.run import run_bundle
        params = {**base("smoke"), "dataset": SMOKE_DATASET, "backbone": backbone, "max_epochs": 3,
                  "warmup_epochs": 1}
        recs = run_bundle([{**params, "strategy": "ufn", "seed": 1}, {**params, "strategy": "uniform", "seed": 2}],
                          root=root, threads=1)
        assert all(r is not None and r["env"]["bundle"]["size"] == 2 for r in recs)
        return None
    except Exception:  # noqa: BLE001 - reported; bundles are then switched off
        return traceback.format_exc()


def one(params: list[dict], root: str, chunks: int = 4) -> tuple[list[dict], float, str | None]:
    """Train one run, or a bundle of runs (more than one)."""
    t0 = time.time()
    try:
        from ufnlib.experiments.grid import compute_bundle, compute_one
        if len(params) > 1:
            compute_bundle(params, root, threads=1, chunks=chunks)
        else:
            compute_one(params[0], root, threads=1)
        return params, time.time() - t0, None
    except Exception:  # noqa: BLE001
        return params, time.time() - t0, traceback.format_exc()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", help="dataset/backbone/strategy/seed, most wanted first")
    ap.add_argument("--profile", default=None,
                    help="instead of a list: the profile's runs that this checkout's results/ lacks, in its order")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--start-until", type=float, default=300.0, help="no run is started after so many seconds")
    ap.add_argument("--deadline", type=float, default=540.0,
                    help="seconds after which the script archives and exits (unfinished runs are lost)")
    ap.add_argument("--every", type=float, default=45.0, help="archive every so many seconds")
    ap.add_argument("--results", default="/tmp/ufn_gpu_results")
    ap.add_argument("--bundle", type=int, default=1, help="runs per process, trained together (stacked weights)")
    ap.add_argument("--chunks", type=int, default=4, help="with --bundle: length classes per step")
    ap.add_argument("--checkpoints", action="store_true",
                    help="archive the checkpoints of unfinished runs too (they resume after grid --import)")
    args = ap.parse_args()
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "gpu_grid.log", "a", buffering=1)

    def say(msg):
        line = f"[{time.time() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        log.write(line + "\n")

    import torch
    say(f"torch {torch.__version__}, cuda {torch.version.cuda}, available={torch.cuda.is_available()}, "
        f"gpu={torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}, cpus={os.cpu_count()}, "
        f"UFN_DEVICE={os.environ.get('UFN_DEVICE')}, commit={os.environ.get('UFN_GIT_COMMIT')}")
    if args.profile:
        from ufnlib.experiments import grid, profiles
        todo = [c.to_dict() for c in grid.missing(profiles.profile_runs(args.profile))]
        say(f"profile {args.profile}: {len(todo)} runs missing in this checkout's results")
    else:
        todo = [parse(s) for s in args.runs]

    # 1. smoke, per (backbone, strategy), in a scratch cache
    torch.set_num_threads(2)
    bad = {}
    for bb, st in dict.fromkeys((p["backbone"], p["strategy"]) for p in todo):
        t0 = time.time()
        err = smoke(bb, st, "/tmp/ufn_gpu_smoke")
        say(f"smoke {bb}/{st}: {'ok' if err is None else 'FAILED'} ({time.time() - t0:.1f}s)")
        if err:
            bad[(bb, st)] = err
            log.write(err + "\n")
    todo = [p for p in todo if (p["backbone"], p["strategy"]) not in bad]
    if args.bundle > 1:                      # a bundle of two per backbone, before any real one
        for bb in dict.fromkeys(p["backbone"] for p in todo):
            t0 = time.time()
            err = smoke_bundle(bb, "/tmp/ufn_gpu_smoke_bundle")
            say(f"smoke bundle {bb}: {'ok' if err is None else 'FAILED'} ({time.time() - t0:.1f}s)")
            if err:
                log.write(err + "\n")
                args.bundle = 1
                say("bundles off: every run trains alone")
    say(f"{len(todo)} runs to do, {len(bad)} combination(s) dropped")

    # 2. the pool
    from ufnlib.experiments.grid import archive
    lock = threading.Lock()
    done: list[dict] = []

    def save(final=False):
        with lock:
            res = archive(out / "runs.tar.gz", root=args.results, checkpoints=args.checkpoints)
            status = {"elapsed_s": round(time.time() - t_start, 1), "done": done, "final": final,
                      "archived_runs": res["runs"], "dropped": [list(k) for k in bad]}
            tmp = out / "status.json.tmp"
            tmp.write_text(json.dumps(status, indent=1))
            os.replace(tmp, out / "status.json")

    stop = threading.Event()

    def ticker():
        while not stop.wait(args.every):
            try:
                save()
                ck = sorted(Path(args.results, "checkpoints").glob("*.pt"))
                say(f"archived {len(done)} finished; {len(ck)} in progress")
            except Exception as e:  # noqa: BLE001
                say(f"archive failed: {e}")
    threading.Thread(target=ticker, daemon=True).start()

    ctx = mp.get_context("spawn")
    if args.bundle > 1:
        from ufnlib import Config
        from ufnlib.experiments.grid import bundles
        units = bundles([Config.from_dict(p) for p in todo], args.bundle)
        pending = [[c.to_dict() for c in u] for u in units]
        say(f"{len(pending)} bundle(s) of up to {args.bundle} runs")
    else:
        pending = [[p] for p in todo]
    with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as ex:
        running = set()
        while pending or running:
            while pending and len(running) < args.workers and time.time() - t_start < args.start_until:
                p = pending.pop(0)
                running.add(ex.submit(one, p, args.results, args.chunks))
                say(f"start {label(p)}")
            if not running:
                break
            fin, running = cf.wait(running, timeout=5, return_when=cf.FIRST_COMPLETED)
            for f in fin:
                params, secs, err = f.result()
                for q in params:
                    done.append({**{k: q[k] for k in ("dataset", "backbone", "strategy", "seed")},
                                 "seconds": round(secs, 1), "ok": err is None, "bundle": len(params)})
                say(f"{'done' if err is None else 'FAILED'} {label(params)} in {secs:.0f}s")
                if err:
                    log.write(err + "\n")
                save()
            if time.time() - t_start > args.deadline and running:
                say(f"deadline: leaving {len(running)} run(s) unfinished")
                break
        stop.set()
        save(final=True)
        say("final archive written")
        log.close()
        for child in mp.active_children():    # unfinished or idle workers: they hold our stdout
            child.kill()
        os._exit(0)      # do not wait for them


if __name__ == "__main__":
    sys.exit(main())
