"""Experiments: ``run(config)`` -> a result record, cached under ``results/runs/``.

A record (JSON, plus a compressed ``.npz`` of per-user ranks) holds the config, valid and test
metrics in both evaluation modes at the epoch selected on validation, the per-epoch history,
seed, git commit, package versions, hardware and wall time. Records are written atomically; a
cached config returns at once; an interrupted run resumes from its last checkpoint
(``results/checkpoints/``, git-ignored).
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..config import CACHE_VERSION, Config, config_key, unused_fields
from ..data import owndata
from ..data.datasets import PROJECT_ROOT, REGISTRY, DataError, leave_one_out, load
from ..files import atomic_torch_save, atomic_write_bytes  # noqa: F401 (atomic_write_bytes re-exported)
from ..negatives.diagnostics import runaway_epoch
from ..training.evaluate import Evaluator, metrics_from_ranks
from ..training.train import Trainer, stopped_after_few_steps

DEFAULT_RESULTS = PROJECT_ROOT / "results"


def results_dir(path=None) -> Path:
    return Path(path or os.environ.get("UFN_RESULTS_DIR") or DEFAULT_RESULTS)


def git_commit() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "HEAD")
    if not commit and os.environ.get("UFN_GIT_COMMIT"):
        # a copy of the working tree without .git (e.g. sent to a GPU machine): the sender
        # states the commit it copied, and that its ufnlib/ had no uncommitted changes
        return {"commit": os.environ["UFN_GIT_COMMIT"], "dirty": False, "source": "UFN_GIT_COMMIT"}
    return {"commit": commit or "unknown",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "ufnlib"))}


# the code a run executes is the code imported at start-up: record its commit then, not at the end
GIT_AT_IMPORT = git_commit()


def resolve_device(device=None) -> torch.device:
    """The device a run trains on: ``device``, else ``$UFN_DEVICE``, else the CPU. A device is
    an execution setting like the thread count, not part of the config key: its record says
    where it ran (``env.device``), and only CPU runs are bit-for-bit repeatable."""
    name = device or os.environ.get("UFN_DEVICE") or "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device '{name}' (from {'UFN_DEVICE' if not device else 'device='}): {e}. "
                         f"Fix: use cpu or cuda[:N].") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' was asked for but this torch ({torch.__version__}) sees no "
                         f"CUDA GPU. Fix: unset UFN_DEVICE / pass device='cpu'.")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device '{name}' is not supported. Fix: use cpu or cuda[:N].")
    return dev


def environment(device=None) -> dict:
    import pandas
    dev = torch.device(device or "cpu")
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    return {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pandas.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": dev.type,
            **({"gpu": gpu, "cuda": torch.version.cuda} if gpu else {})}


def _content(dataset: str) -> str | None:
    """A file dataset's checksum (so the in-process caches below see a changed file), else None."""
    return owndata.identity(dataset).git_sha1 if owndata.is_file_spec(dataset) else None


def load_split(dataset: str):
    return _load_split(dataset, _content(dataset))


@functools.lru_cache(maxsize=8)
def _load_split(dataset: str, content: str | None):
    split = leave_one_out(load(dataset))
    got = split.seqs.extra.get("identity")
    if content and got.git_sha1 != content:
        raise DataError(f"{dataset}: the file changed while it was read (git blob SHA-1 {got.git_sha1}, "
                        f"{content} a moment before). Fix: run again once nothing writes to it.")
    return split


def _evaluator(dataset: str, maxlen: int, eval_neg: int, eval_seed: int) -> Evaluator:
    return _cached_evaluator(dataset, _content(dataset), maxlen, eval_neg, eval_seed)


@functools.lru_cache(maxsize=8)
def _cached_evaluator(dataset: str, content, maxlen: int, eval_neg: int, eval_seed: int) -> Evaluator:
    return Evaluator(_load_split(dataset, content), maxlen, eval_neg, eval_seed)


def record_path(cfg: Config, root=None) -> Path:
    return results_dir(root) / "runs" / f"{config_key(cfg)}.json"


def matches(rec: dict, cfg: Config) -> bool:
    """Does a stored record's config agree with ``cfg`` on every field it stores that the
    backbone reads (``config.unused_fields`` are ignored)?"""
    want, skip = cfg.to_dict(), unused_fields(cfg)
    if owndata.is_file_spec(cfg.dataset):   # a file: its content and format, not its path or name
        if not owndata.same_data(rec["config"].get("dataset", ""), cfg.dataset):
            return False
        skip = skip | {"dataset"}
    return all(want.get(k, v) == v for k, v in rec["config"].items() if k not in skip)


def data_fingerprint(split) -> str:
    """Hash of a dataset's sequences: generated data changes when its generator does, and a
    record made on other data must not be returned for it (real files are checksum-verified)."""
    import hashlib
    s = split.seqs
    return hashlib.sha1(np.ascontiguousarray(s.items).tobytes()
                        + np.ascontiguousarray(s.offsets).tobytes()).hexdigest()[:16]


def fresh_data(rec: dict, cfg: Config) -> bool:
    """For generated datasets: was the record made on the data the generator gives now?"""
    if cfg.dataset in REGISTRY or owndata.is_file_spec(cfg.dataset):   # checksums in the key
        return True
    return rec["dataset"].get("fingerprint") == data_fingerprint(load_split(cfg.dataset))


def dataset_record(dataset: str, split) -> dict:
    """The record's ``dataset`` entry: what the data was (for a file: its name, checksum, size,
    format and where it was found, never its absolute path)."""
    info = REGISTRY.get(dataset)
    common = {"users": split.n_users, "fingerprint": data_fingerprint(split), "items": split.n_items}
    ident = split.seqs.extra.get("identity")
    if ident is None:
        return {"name": dataset, "git_sha1": info.git_sha1 if info else None,
                "note": info.note if info else "generated", **common}
    return {"name": ident.name, "git_sha1": ident.git_sha1, "bytes": ident.size, "format": ident.fmt,
            "format_from": ident.fmt_from, "where": ident.where, "note": "user file", **common}


def is_cached(cfg: Config, root=None) -> bool:
    p = record_path(cfg, root)
    if not p.is_file():
        return False
    rec = json.loads(p.read_text())
    return matches(rec, cfg) and fresh_data(rec, cfg)


def load_record(cfg_or_key, root=None) -> dict:
    key = cfg_or_key if isinstance(cfg_or_key, str) else config_key(cfg_or_key)
    return json.loads((results_dir(root) / "runs" / f"{key}.json").read_text())


def load_ranks(cfg_or_key, root=None) -> dict[str, np.ndarray]:
    """Per-user ranks of a cached run: keys like ``test/sampled``, plus ``users``."""
    key = cfg_or_key if isinstance(cfg_or_key, str) else config_key(cfg_or_key)
    with np.load(results_dir(root) / "runs" / f"{key}.npz") as z:
        return {k.replace("__", "/"): z[k] for k in z.files}


def final_evaluation(evaluator: Evaluator, model, prefix: str = "") -> tuple[dict, dict]:
    metrics, ranks = {}, {}
    for which in ("valid", "test"):
        r = evaluator.ranks(model, which, ("sampled", "full"))
        metrics[which] = {m: metrics_from_ranks(v) for m, v in r.items()}
        for m, v in r.items():
            ranks[f"{prefix}{which}__{m}"] = v
    return metrics, ranks


def run(cfg: Config | dict, root=None, force: bool = False, progress: bool = True,
        threads: int | None = None, stop_after_epochs: int | None = None, device=None) -> dict | None:
    """Train and evaluate ``cfg`` (or return its cached record). ``stop_after_epochs`` simulates an
    interruption (returns None with the checkpoint left in place). ``device``: see
    ``resolve_device`` (default ``$UFN_DEVICE`` or cpu)."""
    cfg = Config.from_dict(cfg) if isinstance(cfg, dict) else cfg
    if threads:
        torch.set_num_threads(threads)
    key = config_key(cfg)
    root = results_dir(root)
    rpath = root / "runs" / f"{key}.json"
    ckpt = root / "checkpoints" / f"{key}.pt"
    if rpath.is_file() and not force:
        rec = json.loads(rpath.read_text())
        if matches(rec, cfg) and fresh_data(rec, cfg):
            return rec
    if force and ckpt.is_file():
        ckpt.unlink()
    dev = resolve_device(device)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    split = load_split(cfg.dataset)
    ident = split.seqs.extra.get("identity")
    if ident is not None and config_key(cfg) != key:
        raise DataError(f"{cfg.dataset}: the file changed since this run started. Fix: run again "
                        f"once nothing writes to it.")
    ev = _evaluator(cfg.dataset, cfg.maxlen, cfg.eval_neg, cfg.eval_seed)
    tr = Trainer(cfg, split, ev, ckpt_path=ckpt, progress=progress, stop_after_epochs=stop_after_epochs,
                 device=dev)
    resumed_from = tr.epoch if tr.try_resume() else 0
    tr.fit(resume=False)
    if not tr.done:
        return None
    protocol = None
    if tr.protocol is not None:   # the protocol study's log: beside the record's selection, never used by it
        protocol = {"every": cfg.log_test_every, "log": tr.protocol.entries,
                    "reference_spread_last": tr.protocol.ref.spread(tr.reported_model())}
    model = tr.model
    model.load_state_dict(tr.best["state"])
    metrics, ranks = final_evaluation(ev, model)
    if protocol is not None:
        protocol["reference_spread_selected"] = tr.protocol.ref.spread(model)
        for which, flags in (tr.protocol.heldout_best or {}).items():
            ranks[f"heldout_in_nfalse__{which}"] = flags
    extra = {"reported_model": "student"}
    if tr.best.get("student_state") is not None:
        # the selected epoch's weights were the EMA teacher's: record the student's too
        from ..models import make_model
        student = make_model(cfg, split.n_items, split.n_users).to(dev)
        student.load_state_dict(tr.best["student_state"])
        m_s, r_s = final_evaluation(ev, student, prefix="student_")
        extra = {"reported_model": "teacher (EMA)", "metrics_student": m_s}
        ranks.update(r_s)
    extra["warmup_end_epoch"] = tr.warmup_epoch
    extra["runaway_epoch"] = runaway_epoch(tr.history)
    if protocol is not None:
        extra["protocol"] = protocol
    ranks["users"] = ev.users
    rec = {
        "key": key, "cache_version": CACHE_VERSION,
        "config": {**cfg.to_dict(), "dataset": ident.recorded() if ident else cfg.dataset},
        "dataset": dataset_record(cfg.dataset, split),
        "selection": {"metric": f"valid/sampled/{cfg.select_metric}", "best_epoch": tr.best["epoch"],
                      "best_score": tr.best["score"], "epochs_run": tr.epoch,
                      "stopped": "patience" if tr.epoch < cfg.max_epochs else "max_epochs",
                      "few_steps_stop": stopped_after_few_steps(tr.history, cfg, tr.steps_per_epoch),
                      "steps": tr.epoch * tr.steps_per_epoch},
        "metrics": metrics, **extra,
        "history": tr.history,
        "seed": cfg.seed, "git": GIT_AT_IMPORT, "env": environment(dev),
        "train_seconds": tr.elapsed, "wall_seconds": time.perf_counter() - t0,
        "resumed_from_epoch": resumed_from, "started": started,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    import io

    # order matters: the record is written last, so a cached record always has its companions
    atomic_torch_save({k: v.cpu() for k, v in tr.best["state"].items()}, root / "models" / f"{key}.pt")
    buf = io.BytesIO()
    small = lambda v: np.asarray(v, dtype=np.uint16 if np.max(v) < 65535 and np.min(v) >= 0 else np.int32)
    np.savez_compressed(buf, **{k: small(v) for k, v in ranks.items()})
    atomic_write_bytes(root / "runs" / f"{key}.npz", buf.getvalue())
    atomic_write_bytes(rpath, json.dumps(rec, indent=1).encode())
    if ckpt.is_file():
        ckpt.unlink()
    return rec


def list_runs(root=None):
    """All cached records as a DataFrame: one row per run, config columns and test metrics."""
    import pandas as pd
    rows = []
    for p in sorted((results_dir(root) / "runs").glob("*.json")):
        r = json.loads(p.read_text())
        row = {"key": r["key"], **{k: r["config"][k] for k in ("dataset", "backbone", "strategy", "seed")},
               "best_epoch": r["selection"]["best_epoch"], "epochs": r["selection"]["epochs_run"],
               "train_s": round(r["train_seconds"], 1)}
        for mode in ("sampled", "full"):
            for m in ("hr@10", "ndcg@10"):
                row[f"test_{mode}_{m}"] = r["metrics"]["test"][mode][m]
        row["commit"] = r["git"]["commit"][:8]
        rows.append(row)
    return pd.DataFrame(rows)


def load_model(cfg: Config, root=None):
    """The selected (best-on-validation) weights of a cached run, if its model file is present."""
    from ..models import make_model
    split = load_split(cfg.dataset)
    model = make_model(cfg, split.n_items, split.n_users)
    model.load_state_dict(torch.load(results_dir(root) / "models" / f"{config_key(cfg)}.pt", map_location="cpu"))
    model.eval()
    return model
