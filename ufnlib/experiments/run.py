"""``run(config)`` -> a result record, cached under ``results/runs/`` (``store``).

A record (JSON, plus a compressed ``.npz`` of per-user ranks) holds the config, valid and test
metrics in both evaluation modes at the epoch selected on validation, the per-epoch history,
seed, git commit, package versions, hardware and wall time (``provenance``). A cached config
returns at once; an interrupted run resumes from its last checkpoint (``results/checkpoints/``,
git-ignored).
"""
from __future__ import annotations

import datetime as _dt
import time

import torch

from ..config import CACHE_VERSION, Config, config_key
from ..data.datasets import DataError
from ..models import make_model
from ..negatives.diagnostics import runaway_epoch
from ..training.evaluate import Evaluator, metrics_from_ranks
from ..training.train import Trainer, stopped_after_few_steps
from . import store
from .provenance import GIT_AT_IMPORT, dataset_record, environment, resolve_device
from .splits import evaluator, load_split


def final_evaluation(evaluator: Evaluator, model, prefix: str = "") -> tuple[dict, dict]:
    metrics, ranks = {}, {}
    for which in ("valid", "test"):
        r = evaluator.ranks(model, which, ("sampled", "full"))
        metrics[which] = {m: metrics_from_ranks(v) for m, v in r.items()}
        for m, v in r.items():
            ranks[f"{prefix}{which}__{m}"] = v
    return metrics, ranks


def run(cfg: Config | dict, root=None, force: bool = False, progress: bool = True,
        threads: int | None = None, stop_after_epochs: int | None = None, device=None,
        preset: dict | None = None) -> store.Record | None:
    """Train and evaluate ``cfg`` (or return its cached record). ``stop_after_epochs`` simulates an
    interruption (returns None with the checkpoint left in place). ``device``: see
    ``resolve_device`` (default ``$UFN_DEVICE`` or cpu). ``preset``: which preset chose some of
    ``cfg``'s fields (``presets``; name, fields, why), written into the record as is."""
    cfg = Config.from_dict(cfg) if isinstance(cfg, dict) else cfg
    if threads:
        torch.set_num_threads(threads)
    key = config_key(cfg)
    root = store.results_dir(root)
    ckpt = store.checkpoint_path(key, root)
    if not force and (rec := store.lookup(cfg, root)) is not None:
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
    ev = evaluator(cfg.dataset, cfg.maxlen, cfg.eval_neg, cfg.eval_seed)
    tr = Trainer(cfg, split, ev, ckpt_path=ckpt, progress=progress, stop_after_epochs=stop_after_epochs,
                 device=dev)
    resumed_from = tr.epoch if tr.try_resume() else 0
    tr.fit(resume=False)
    if not tr.done:
        return None
    rec = write_record(tr, split, ev, root, started=started, resumed_from=resumed_from,
                       wall_seconds=time.perf_counter() - t0, preset=preset)
    if ckpt.is_file():
        ckpt.unlink()
    return rec


def write_record(tr: Trainer, split, ev: Evaluator, root, started: str, resumed_from: int,
                 wall_seconds: float, env_extra: dict | None = None, preset: dict | None = None) -> store.Record:
    """Evaluate a finished trainer's selected weights and write its record (and ranks, weights)."""
    cfg, dev = tr.cfg, tr.device
    key = config_key(cfg)
    ident = split.seqs.extra.get("identity")
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
        student = make_model(cfg, split.n_items, split.n_users).to(dev)
        student.load_state_dict(tr.best["student_state"])
        m_s, r_s = final_evaluation(ev, student, prefix="student_")
        extra = {"reported_model": "teacher (EMA)", "metrics_student": m_s}
        ranks.update(r_s)
    extra["warmup_end_epoch"] = tr.warmup_epoch
    extra["runaway_epoch"] = runaway_epoch(tr.history)
    if protocol is not None:
        extra["protocol"] = protocol
    if preset is not None:
        extra["preset"] = preset
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
        "seed": cfg.seed, "git": GIT_AT_IMPORT, "env": {**environment(dev), **(env_extra or {})},
        "train_seconds": tr.elapsed, "wall_seconds": wall_seconds,
        "resumed_from_epoch": resumed_from, "started": started,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    store.write(rec, ranks, tr.best["state"], root, id_maps=store.id_maps_of(split.seqs))
    return store.Record(rec)


def run_bundle(cfgs: list, root=None, chunks: int = 4, threads: int | None = None, device=None,
               stop_after_epochs: int | None = None) -> list[store.Record | None]:
    """Train the configs ``cfgs`` that are not cached as one bundle (``training.bundle``): one
    process, stacked weights; each run writes the record its single run writes (same key), with
    ``env.bundle`` saying it was bundled, as soon as it is done. Returns the records in the order
    of ``cfgs`` (None for runs an interruption left unfinished). Checkpoints are the single runs'
    (``results/checkpoints/<key>.pt``): a run resumes from its own, in a bundle or alone."""
    from ..training.bundle import Bundle, check_compatible
    cfgs = [Config.from_dict(c) if isinstance(c, dict) else c for c in cfgs]
    check_compatible(cfgs)
    if threads:
        torch.set_num_threads(threads)
    root = store.results_dir(root)
    out = {config_key(c): store.lookup(c, root) for c in cfgs}
    todo = list({config_key(c): c for c in cfgs if out[config_key(c)] is None}.values())
    if not todo:
        return [out[config_key(c)] for c in cfgs]
    dev = resolve_device(device)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    split = load_split(todo[0].dataset)
    trainers = [Trainer(c, split, evaluator(c.dataset, c.maxlen, c.eval_neg, c.eval_seed), progress=False,
                        device=dev, ckpt_path=store.checkpoint_path(config_key(c), root)) for c in todo]
    resumed = {config_key(t.cfg): t.epoch for t in trainers if t.try_resume()}
    env = {"bundle": {"size": len(todo), "chunks": chunks}}

    def finished(tr):
        key = config_key(tr.cfg)
        out[key] = write_record(tr, split, tr.evaluator, root, started=started, resumed_from=resumed.get(key, 0),
                                wall_seconds=time.perf_counter() - t0, env_extra=env)
        if tr.ckpt_path.is_file():
            tr.ckpt_path.unlink()
    for tr in trainers:
        if tr.done:                     # finished before an interruption hit its record
            finished(tr)
    bundle = Bundle(trainers, chunks=chunks, stop_after_epochs=stop_after_epochs)
    bundle.on_finish = finished
    bundle.fit()
    return [out[config_key(c)] for c in cfgs]
