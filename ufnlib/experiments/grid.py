"""Compute a grid of runs (the missing ones only) on any executor; move a cache as one archive.

    res = run_grid(configs)                      # local pool: one process per core, cached runs skipped
    res = run_grid(configs, compute=False)       # only what the cache holds; res.missing lists the rest
    res = run_grid(configs, executor=ex)         # any concurrent.futures.Executor, e.g. Dask's:
                                                 #   Client(...).get_executor()
    archive("grid.tar.gz", configs)              # records + per-user ranks of those runs
    import_archive("grid.tar.gz")                # into this machine's cache

``configs`` is a list of ``Config`` (as ``ufnlib.experiments.profiles`` returns them). A run that
fails is reported with its error; the others go on. Every run is ``experiments.run``: the same
config gives the same cache key and the same numbers wherever it is computed, provided that the
torch thread count is the same and no two runs share a process at the same time (the trainer
seeds torch's global RNG): use processes, or Dask workers with ``threads_per_worker=1``, not a
multi-threaded pool.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import tarfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, config_key
from ..files import atomic_write_bytes
from .profiles import grid_options, run_label
from .run import run
from .store import checkpoint_path, id_maps_path, is_cached, lookup, model_path, ranks_path, record_path, results_dir


def seed_lines(labelled) -> list[str]:
    """``(label, seed)`` pairs grouped by label, first-seen order: one listing line per label,
    ``  - label: seeds 1, 3``."""
    seeds: dict = {}
    for label, seed in labelled:
        seeds.setdefault(label, []).append(seed)
    return [f"  - {label}: seed{'s' * (len(s) > 1)} {', '.join(map(str, sorted(s)))}" for label, s in seeds.items()]


@dataclass
class GridResult:
    """What a grid holds now. ``records`` follow the order of the asked configs (each once)."""
    records: list[dict] = field(default_factory=list)
    missing: list[Config] = field(default_factory=list)       # not in the cache (not computed or failed)
    failed: dict[str, str] = field(default_factory=dict)       # run label -> error
    computed: list[str] = field(default_factory=list)          # keys computed by this call

    @property
    def complete(self) -> bool:
        return not self.missing

    def select(self, **fields_) -> list[dict]:
        """Records whose config has all the given field values, e.g. ``select(strategy="ufn")``."""
        return [r for r in self.records if all(r.config.get(k) == v for k, v in fields_.items())]

    def summary(self, listed: int = 12) -> str:
        """A few lines: how many runs are here, which are missing and why. Up to ``listed``
        missing runs are named one a line; more are grouped by config, with their seeds. Failed
        runs are always named, with their error."""
        n = len(self.records) + len(self.missing)
        lines = [f"{len(self.records)} of {n} runs available"
                 + (f" ({len(self.computed)} computed now)" if self.computed else "")]
        if self.missing:
            lines.append(f"missing (not in the cache; compute them with compute=True or "
                         f"`python -m ufnlib grid`): {len(self.missing)}")
            failed = [c for c in self.missing if run_label(c) in self.failed]
            lines += [f"  - {run_label(c)}: FAILED {self.failed[run_label(c)]}" for c in failed]
            rest = [c for c in self.missing if run_label(c) not in self.failed]
            if len(rest) <= listed:
                lines += [f"  - {run_label(c)}" for c in rest]
            else:
                lines += seed_lines((run_label(c, seed=False), c.seed) for c in rest)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"available": len(self.records), "computed": len(self.computed),
                "missing": [run_label(c) for c in self.missing],
                "failed": dict(self.failed)}


def _distinct(configs) -> list[Config]:
    cfgs, seen = [], set()
    for c in configs:
        if not isinstance(c, Config):
            raise TypeError(f"expected Config, got {type(c).__name__}")
        k = config_key(c)
        if k not in seen:
            seen.add(k)
            cfgs.append(c)
    return cfgs


def missing(configs, root=None) -> list:
    """The entries of ``configs`` that the cache does not hold."""
    return [c for c in _distinct(configs) if not is_cached(c, root)]


def compute_one(params: dict, root: str, threads: int | None = None) -> str:
    """Worker entry point (picklable by reference): train + evaluate one config into ``root``'s
    cache. Returns its key."""
    cfg = Config.from_dict(params)
    run(cfg, root=root, progress=False, threads=threads)
    return config_key(cfg)


def compute_bundle(params: list[dict], root: str, threads: int | None = None, chunks: int = 4) -> list[str]:
    """Worker entry point for a bundle (``run.run_bundle``): the configs train together in one
    process; returns the keys of those that finished."""
    from .run import run_bundle
    cfgs = [Config.from_dict(p) for p in params]
    recs = run_bundle(cfgs, root=root, threads=threads, chunks=chunks)
    return [config_key(c) for c, r in zip(cfgs, recs) if r is not None]


def bundles(configs, size: int) -> list[list[Config]]:
    """``configs`` cut into bundles of at most ``size`` runs that may share one
    (``training.bundle.SHARED_FIELDS`` equal), each bundle taking
    its runs in the given order, the bundles ordered by their first run (the most wanted first)."""
    from ..training.bundle import SHARED_FIELDS
    cfgs = _distinct(configs)
    groups: dict = {}
    for c in cfgs:
        groups.setdefault(tuple(getattr(c, f) for f in SHARED_FIELDS), []).append(c)
    pos = {config_key(c): i for i, c in enumerate(cfgs)}
    out = [g[i:i + size] for g in groups.values() for i in range(0, len(g), max(size, 1))]
    return sorted(out, key=lambda b: pos[config_key(b[0])])


def default_workers(n_runs: int) -> int:
    return max(1, min(n_runs, os.cpu_count() or 1))


def run_grid(configs, executor: cf.Executor | None = None, root=None, compute: bool = True,
             workers: int | None = None, threads: int | None = None, verbose: bool = True,
             bundle: int = 1, chunks: int = 4) -> GridResult:
    """Records of ``configs``, computing the missing ones first when ``compute``.

    executor: any ``concurrent.futures.Executor`` (its workers must import this ufnlib and see
      ``root``); None = a local pool of ``workers`` processes (default: one per core, at most one
      per run) with ``threads`` torch threads each (default: cores // workers). ``workers=1``
      computes in this process, one run after the other.
    bundle: train up to this many compatible runs in one process with stacked weights
      (``bundles``, ``training.bundle``; for a GPU: on a CPU a bundle trains each run more slowly
      than single runs do); each task is then a bundle. ``chunks``: the bundle's length classes.
    Returns a ``GridResult``; failed runs are listed in ``failed`` (and stay in ``missing``).
    """
    if isinstance(executor, cf.ThreadPoolExecutor) and getattr(executor, "_max_workers", 1) > 1:
        warnings.warn("runs in concurrent threads of one process share torch's global RNG (seeded per "
                      "run), so their numbers are not reproducible; use processes (the default pool, or "
                      "Dask workers with threads_per_worker=1)", UserWarning, stacklevel=2)
    cfgs = _distinct(configs)
    root_s = str(results_dir(root).resolve())
    keys = [config_key(c) for c in cfgs]
    found = {k: lookup(c, root_s) for k, c in zip(keys, cfgs)}     # one cache lookup per config
    todo = [c for k, c in zip(keys, cfgs) if found[k] is None]
    res = GridResult()
    if compute and todo:
        say = print if verbose else (lambda *a, **k: None)
        own = None
        units = bundles(todo, bundle) if bundle > 1 else [[c] for c in todo]
        if executor is None:
            workers = workers or default_workers(len(units))
            threads = threads or max(1, (os.cpu_count() or 1) // workers)
        say(f"grid: computing {len(todo)} run(s) into {root_s}"
            + (f" in bundles of up to {bundle}" if bundle > 1 else "") + "; "
            + (f"{workers} local worker(s) x {threads} torch thread(s)" if executor is None
               else f"executor {type(executor).__name__}"))
        t0 = time.perf_counter()

        def task(unit):                  # (function, arguments); a unit of one run trains as a single run
            if len(unit) > 1:
                return compute_bundle, ([c.to_dict() for c in unit], root_s, threads, chunks)
            return compute_one, (unit[0].to_dict(), root_s, threads)

        def label(unit):
            return run_label(unit[0]) if len(unit) == 1 else f"bundle of {len(unit)} ({run_label(unit[0])}, ...)"

        def finished(i, unit, get):
            try:
                got = get()
                res.computed.extend(got if isinstance(got, list) else [got])
                say(f"  [{i}/{len(units)}] {label(unit)} done ({time.perf_counter() - t0:.0f} s)")
            except Exception as e:   # noqa: BLE001  -- reported, the grid goes on
                for c in unit:
                    res.failed[run_label(c)] = _error_text(e)
                say(f"  [{i}/{len(units)}] {label(unit)} FAILED: {_error_text(e)}")
        if executor is None and workers == 1:
            for i, unit in enumerate(units, 1):
                fn, args = task(unit)
                finished(i, unit, lambda: fn(*args))
        else:
            if executor is None:
                import multiprocessing as mp
                # spawn, not fork: a forked child inherits torch's thread pools in a bad state
                executor = own = cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
            try:
                futs = {executor.submit(fn, *args): u for u in units for fn, args in [task(u)]}
                for i, f in enumerate(cf.as_completed(futs), 1):
                    finished(i, futs[f], f.result)
            finally:
                if own is not None:
                    own.shutdown(wait=True, cancel_futures=True)
        for c in todo:                                            # read what was just written
            found[config_key(c)] = lookup(c, root_s)
    for k, c in zip(keys, cfgs):
        rec = found[k]
        if rec is not None:
            res.records.append(rec)
        else:
            res.missing.append(c)
    return res


def notebook_runs(plan, profile: str, compute: bool = False, workers: int | None = None) -> GridResult:
    """A notebook's runs: ``run_grid`` with the profile's options (``profiles.grid_options``),
    computing the missing ones only when ``compute``; prints what is there and what is missing."""
    res = run_grid(plan, compute=compute, **grid_options(profile, workers))
    print(res.summary())
    return res


def _error_text(e: BaseException) -> str:
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    where = [l.strip() for l in tb if l.strip().startswith("File ")][-1:] if tb else []
    return f"{type(e).__name__}: {e}" + (f" [{where[0]}]" if where else "")


# ------------------------------------------------------------------------------------ archives
_KEY = re.compile(r"^[0-9a-f]{16}$")
_MEMBER = re.compile(r"^(runs/[0-9a-f]{16}\.(json|npz|ids\.json\.gz)|models/[0-9a-f]{16}\.pt"
                     r"|checkpoints/[0-9a-f]{16}\.pt)$")


def member(path_of, key: str) -> str:
    """An archive member's name: the store's path of ``key`` relative to the results folder
    (``runs/<key>.json``, ``runs/<key>.npz``, ``models/<key>.pt``)."""
    return path_of(key, Path(".")).as_posix()


def archive(path, configs=None, root=None, models: bool = False, checkpoints: bool = False) -> dict:
    """Write ``path`` (.tar.gz) with the cached records (``runs/<key>.json``) and per-user ranks
    (``runs/<key>.npz``) of ``configs`` (all cached runs if None), plus the selected weights
    (``models/<key>.pt``) if ``models``, and with ``checkpoints`` the checkpoints
    (``checkpoints/<key>.pt``) of those runs that are not finished, so that another machine
    resumes them. A file dataset's id maps (``runs/<key>.ids.json.gz``) travel with its record.
    Runs not cached are skipped and listed."""
    root = results_dir(root)
    if configs is None:
        keys = sorted(p.stem for p in (root / "runs").glob("*.json"))
        skipped = []
    else:
        cfgs = _distinct(configs)
        cached = {config_key(c): is_cached(c, root) for c in cfgs}
        keys = [k for k, ok in cached.items() if ok]
        skipped = [k for k, ok in cached.items() if not ok]
    ckpts = []
    if checkpoints:
        wanted = set(skipped) if configs is not None else None
        ckpts = sorted(p.stem for p in (root / "checkpoints").glob("*.pt")
                       if _KEY.match(p.stem) and (wanted is None or p.stem in wanted) and p.stem not in keys)
    files = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for k in keys:
            names = ([member(ranks_path, k), member(id_maps_path, k), member(record_path, k)]
                     + ([member(model_path, k)] if models else []))
            for name in names:        # record last, as the cache writes it
                p = root / name
                if p.is_file():
                    info = tar.gettarinfo(str(p), arcname=name)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    with open(p, "rb") as fh:
                        tar.addfile(info, fh)
                    files += 1
        for k in ckpts:
            p = checkpoint_path(k, root)
            try:
                with open(p, "rb") as fh:          # a checkpoint is replaced atomically: read one version
                    info = tar.gettarinfo(fileobj=fh, arcname=f"checkpoints/{k}.pt")
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, fh)
                files += 1
            except FileNotFoundError:             # the run finished meanwhile
                pass
    os.replace(tmp, path)
    return {"archive": str(path), "runs": len(keys), "files": files, "not_cached": skipped,
            "checkpoints": len(ckpts)}


def import_archive(path, root=None, overwrite: bool = False) -> dict:
    """Copy the runs of an archive written by ``archive`` into the cache under ``root``. Only
    ``runs/<key>.json|npz``, ``models/<key>.pt`` and ``checkpoints/<key>.pt`` members are read
    (anything else is refused); a record is imported only with its ranks, and written last. Runs
    already cached are kept unless ``overwrite``; a checkpoint is imported for a run without a
    record here, in place of a checkpoint here only with ``overwrite`` (the next computation of
    that run resumes from it, alone or in a bundle). Returns counts and the refused member names."""
    root = results_dir(root)
    imported, kept, refused, incomplete = [], [], [], []
    with tarfile.open(path, "r:gz") as tar:
        members = {}
        for m in tar.getmembers():
            if m.isfile() and _MEMBER.match(m.name):
                members[m.name] = m
            else:
                refused.append(m.name)
        keys = sorted({Path(n).stem for n in members if n.endswith(".json")})
        resumable = []
        for name in members:
            k = Path(name).stem
            if name.startswith("checkpoints/") and k not in keys and not record_path(k, root).is_file():
                dst = checkpoint_path(k, root)
                if overwrite or not dst.is_file():
                    atomic_write_bytes(dst, tar.extractfile(members[name]).read())
                    resumable.append(k)
        for k in keys:
            rec_bytes = tar.extractfile(members[member(record_path, k)]).read()
            try:
                rec = json.loads(rec_bytes)
                ok = rec.get("key") == k and config_key(Config.from_dict(rec["config"])) == k
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                refused.append(f"{member(record_path, k)} (key does not match its config)")
                continue
            if member(ranks_path, k) not in members:
                incomplete.append(k)
                continue
            if record_path(k, root).is_file() and not overwrite:
                kept.append(k)
                continue
            for name in (member(ranks_path, k), member(id_maps_path, k), member(model_path, k)):
                if name in members:
                    atomic_write_bytes(root / name, tar.extractfile(members[name]).read())
            atomic_write_bytes(record_path(k, root), rec_bytes)
            imported.append(k)
    return {"imported": len(imported), "already_cached": len(kept), "incomplete": incomplete,
            "refused": refused, "keys": imported, "checkpoints": resumable}

