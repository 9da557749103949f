"""Numerics freeze check: does this code retrace a cached run bit for bit?

While the paper grid is being computed, no change may alter the floating-point results of a
cached run (DEVELOPERS' numerics freeze). ``retrace(key)`` trains the first epochs of a cached
record's config with this checkout and compares every per-epoch entry of its history (losses,
validation metrics, mining counters; wall times aside) with the record's, exactly. With
``full=True`` it trains the whole run and also compares the final metrics and per-user ranks.
``benchmarks/check_freeze.py`` is the command line; ``tests/test_freeze.py`` runs a short retrace.
"""
from __future__ import annotations

import json
import math

import numpy as np

from ..config import Config
from . import store

TIMING = ("train_seconds", "eval_seconds")


def _strip(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in TIMING}


def _differences(a, b, where: str) -> list[str]:
    """Paths at which two JSON-like values differ (floats compared exactly; NaN equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in {'record' if k in a else 'rerun'}" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += _differences(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = [f"{where}: length {len(a)} in the record, {len(b)} in the rerun"] if len(a) != len(b) else []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _differences(x, y, f"{where}[{i}]")
        return out
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{where}: record {a!r}, rerun {b!r}"]


def retrace(key: str, epochs: int | None = None, root=None, full: bool = False, threads: int = 1) -> dict:
    """Retrain the cached run ``key`` for ``epochs`` epochs (default: its warm-up end + 2, so that
    mining is exercised; ``full``: the whole run) and compare. Returns a dict with ``epochs``,
    ``differences`` (a list of paths; empty = bitwise the record) and the record's commit. The
    record's thread count is used unless ``threads`` is given; a record computed on another
    thread count or device can differ in the last bits without any code change."""
    import torch

    from ..training.train import Trainer
    from .run import final_evaluation
    from .splits import evaluator, load_split
    path = store.record_path(key, root)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no cached record of that key. Fix: pass a key from "
                                f"`python -m ufnlib list`.")
    rec = json.loads(path.read_text())
    cfg = Config.from_dict(rec["config"])
    if epochs is None:
        epochs = min((rec.get("warmup_end_epoch") or 0) + 2, rec["selection"]["epochs_run"])
    torch.set_num_threads(threads)
    split = load_split(cfg.dataset)
    ev = evaluator(cfg.dataset, cfg.maxlen, cfg.eval_neg, cfg.eval_seed)
    tr = Trainer(cfg, split, ev, ckpt_path=None, progress=False, stop_after_epochs=None if full else epochs)
    tr.fit(resume=False)
    n = len(tr.history)
    diffs = _differences([_strip(e) for e in rec["history"][:n]], [_strip(e) for e in tr.history], "history")
    if rec.get("protocol") is not None and tr.protocol is not None:   # the protocol study's test log
        logged = [e for e in rec["protocol"]["log"] if e["epoch"] <= n]
        diffs += _differences(logged, json.loads(json.dumps(tr.protocol.entries)), "protocol.log")
    if full:
        model = tr.model
        model.load_state_dict(tr.best["state"])
        metrics, ranks = final_evaluation(ev, model)
        diffs += _differences(rec["metrics"], json.loads(json.dumps(metrics)), "metrics")
        cached = store.load_ranks(key, root)
        for name, r in ranks.items():
            if name not in cached or not np.array_equal(np.asarray(cached[name]), np.asarray(r)):
                diffs.append(f"ranks.{name}: differ")
    return {"key": key, "epochs": n, "record_commit": rec["git"]["commit"],
            "record_threads": rec["env"].get("torch_threads"), "differences": diffs}
