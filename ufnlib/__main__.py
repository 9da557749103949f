"""Command line: ``python -m ufnlib {train,list,table1,fetch,grid}``.

  python -m ufnlib train --dataset sports --backbone sasrec --strategy uniform --seed 1
  python -m ufnlib train --dataset beauty --strategy ufn --set m=3 --set alpha=0.1
  python -m ufnlib list
  python -m ufnlib table1 --datasets beauty sports yelp
  python -m ufnlib table1 --datasets my/data.txt beauty      # your own file beside a registry name
  python -m ufnlib train --dataset my/data.txt#pairs --set max_epochs=20
  python -m ufnlib train --dataset my/ratings.csv              # a log: user,item,timestamp
  python -m ufnlib train --dataset my/ratings.csv#csv:dups=keep,min_events=5 --json
  python -m ufnlib fetch beauty sports yelp
  python -m ufnlib grid --profile quick --dry-run            # what the quick profile needs
  python -m ufnlib grid --profile quick --notebook 01 --workers 2
  python -m ufnlib grid --profile paper --workers 8 --archive grid.tar.gz   # e.g. on a big machine
  python -m ufnlib grid --import grid.tar.gz                 # back home: into results/runs/
  python -m ufnlib grid --profile paper --bundle 32 --workers 2   # GPU host: 32 runs per process
  python -m ufnlib grid --profile smoke --notebook 02 --dataset my/data.txt

A dataset is a registry name (beauty, sports, yelp, beauty_sasrec), synthetic[:k=v,...], or a
FILE: PATH (format detected), PATH#s3rec ('user item item ...', one line per user), PATH#pairs
('user item', one interaction per line, chronological per user), PATH#csv (a 'user,item,timestamp'
log, comma/tab/semicolon, any ids) or PATH#inter (RecBole's atomic file); a log may add options:
PATH#csv:dups=first|last|keep,min_events=N,user=COL,item=COL,time=COL. A path must hold a '/' or
a '.' (./mydata). Runs on a file are cached by its content (git blob SHA-1, size, format, a log's
options), not its path; docs/own_data.md says more.

train: a file dataset runs with the new_data preset (patience counted only after 3,000 optimizer
steps, mining from the backbone's convergence on validation) unless --preset paper; the first
line says which. It ends with a summary (why it stopped, test against chance, warnings and their
fix); a run whose validation stayed at chance ends with a FAILED line and exit status 3. --json
prints the machine format instead.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

DATASET_HELP = ("registry name, synthetic[:k=v,...], or a file PATH, PATH#s3rec, PATH#pairs, PATH#csv[:options] "
                "or PATH#inter[:options] (no suffix: format detected; docs/own_data.md)")


def _parse_value(field, text: str):
    typ = type(field.default)
    if typ is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise SystemExit(f"error: --{field.name} expects true/false, got '{text}'")
    try:
        return typ(text)
    except ValueError:
        raise SystemExit(f"error: --{field.name} expects {typ.__name__}, got '{text}'") from None


def main(argv=None) -> int:
    """Entry point; bad or missing data ends with its one-paragraph message, not a traceback."""
    from .data.datasets import DataError
    try:
        return _main(argv)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None


def _main(argv=None) -> int:
    from .config import Config
    ap = argparse.ArgumentParser(prog="python -m ufnlib", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train + evaluate one config (cached)")
    for f in fields(Config):
        if f.name in ("dataset", "backbone", "strategy", "seed"):
            tr.add_argument(f"--{f.name}", default=str(f.default),
                            help=DATASET_HELP if f.name == "dataset" else None)
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="any other config field, e.g. --set max_epochs=50")
    tr.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    tr.add_argument("--device", default=None, help="cpu (default) or cuda[:N]; also $UFN_DEVICE")
    tr.add_argument("--force", action="store_true", help="recompute even if cached")
    tr.add_argument("--results", default=None, help="results folder (default results/)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--preset", choices=("paper", "new_data"), default=None,
                    help="settings chosen together (ufnlib.experiments.presets); default: new_data for a "
                         "file dataset, paper otherwise. --set wins over the preset")
    tr.add_argument("--json", action="store_true",
                    help="print the result as JSON (the preset line goes to stderr) instead of the summary")
    ls = sub.add_parser("list", help="list cached runs")
    ls.add_argument("--results", default=None)
    t1 = sub.add_parser("table1", help="dataset statistics (paper Table 1)")
    t1.add_argument("--datasets", nargs="+", default=["beauty", "sports", "yelp"],
                    help=f"datasets, mixed as you like: {DATASET_HELP}")
    fe = sub.add_parser("fetch", help="download + verify datasets into the cache")
    fe.add_argument("datasets", nargs="+")
    gr = sub.add_parser("grid", help="compute the missing runs of a profile's notebooks; archive / import a cache")
    gr.add_argument("--profile", choices=("smoke", "quick", "paper"), help="which grid (ufnlib.experiments.profiles)")
    gr.add_argument("--notebook", action="append", default=[], metavar="NN",
                    help="only this notebook's runs, e.g. 01 (repeatable; default: all notebooks)")
    gr.add_argument("--dataset", action="append", default=[], metavar="DATASET",
                    help=f"run the notebooks on this dataset instead of the profile's (repeatable): "
                         f"{DATASET_HELP}")
    gr.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    gr.add_argument("--threads", type=int, default=None,
                    help="torch threads per worker (default: cores // workers; with --dask: 1)")
    gr.add_argument("--dask", default=None, metavar="ADDRESS",
                    help="compute on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' "
                         "(a LocalCluster of --workers processes)")
    gr.add_argument("--bundle", type=int, default=1, metavar="K",
                    help="train up to K compatible runs per process with stacked weights (for a GPU; "
                         "ufnlib.training.bundle)")
    gr.add_argument("--chunks", type=int, default=4, help="with --bundle: length classes per step")
    gr.add_argument("--dry-run", action="store_true", help="list the runs and what is missing; compute nothing")
    gr.add_argument("--archive", default=None, metavar="OUT.tar.gz",
                    help="afterwards, write the grid's records + per-user ranks to this archive")
    gr.add_argument("--with-models", action="store_true",
                    help="with --archive: include the selected weights (results/models, needed by 06)")
    gr.add_argument("--with-checkpoints", action="store_true",
                    help="with --archive: include the checkpoints of unfinished runs (resumed after --import)")
    gr.add_argument("--import", dest="import_", default=None, metavar="IN.tar.gz",
                    help="import an archive written by --archive into the cache (then stop)")
    gr.add_argument("--overwrite", action="store_true", help="with --import: replace runs already cached")
    gr.add_argument("--results", default=None, help="results folder (default results/ or $UFN_RESULTS_DIR)")
    args = ap.parse_args(argv)

    if args.cmd == "train":
        return _train(args)
    elif args.cmd == "list":
        from .experiments.store import list_runs
        df = list_runs(args.results)
        print(df.to_string(index=False) if len(df) else "no cached runs")
    elif args.cmd == "table1":
        from .data.datasets import print_table1
        print_table1(args.datasets)
    elif args.cmd == "grid":
        return _grid(args)
    elif args.cmd == "fetch":
        from .data.datasets import resolve
        for name in args.datasets:
            print(name, resolve(name))
    return 0


def _train(args) -> int:
    """``train``: the preset line, the run, then its summary (or JSON); 3 if the run failed."""
    from .config import Config, ConfigError
    from .data.owndata import is_file_spec
    from .experiments import health, presets, store
    from .experiments.run import run
    byname = {f.name: f for f in fields(Config)}
    params, given = {}, set()
    for k in ("dataset", "backbone", "strategy", "seed"):
        params[k] = _parse_value(byname[k], getattr(args, k))
    name = args.preset or presets.default_preset(params["dataset"])
    chosen = ("given" if args.preset else
              f"the default for a {'file' if is_file_spec(params['dataset']) else 'registry or generated'} dataset")
    for kv in args.set:
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"error: --set expects KEY=VALUE, got '{kv}'")
        if k not in byname:
            try:
                Config.from_dict({k: v})
            except ConfigError as e:
                raise SystemExit(f"error: {e}") from None
        params[k] = _parse_value(byname[k], v)
        given.add(k)
    try:
        params, set_by = presets.apply_preset(name, params, given)
        cfg = Config.from_dict(params)
    except (ConfigError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    print(presets.announce(name, set_by, chosen), file=sys.stderr if args.json else sys.stdout, flush=True)
    cached = not args.force and store.lookup(cfg, args.results) is not None
    rec = run(cfg, root=args.results, force=args.force, progress=not args.quiet, threads=args.threads,
              device=args.device, preset={"name": name, "fields": set_by, "chosen": chosen})
    text, failed = health.summary(rec, cached=cached)
    if args.json:
        t = rec["metrics"]["test"]
        print(json.dumps({"key": rec.key, "best_epoch": rec.best_epoch,
                          "test_sampled": t["sampled"], "test_full": t["full"], "failed": failed,
                          "marks": [{"code": m.code, "words": m.words, "fix": m.fix} for m in health.marks(rec)],
                          "preset": rec.get("preset")}, indent=1))
    else:
        print(text)
    return 3 if failed else 0


def _grid(args) -> int:
    from .experiments import grid, profiles
    if args.import_:
        out = grid.import_archive(args.import_, root=args.results, overwrite=args.overwrite)
        print(json.dumps({**{k: v for k, v in out.items() if k != "keys"}, "checkpoints": len(out["checkpoints"])},
                         indent=1))
        return 0
    if not args.profile:
        raise SystemExit("error: grid needs --profile (or --import ARCHIVE)")
    try:
        configs = profiles.profile_runs(args.profile, [n[:2] for n in args.notebook] or None,
                                        datasets=args.dataset or None)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    todo = grid.missing(configs, args.results)
    print(f"profile {args.profile}, notebooks {', '.join(args.notebook) or 'all'}"
          + (f", datasets {', '.join(args.dataset)}" if args.dataset else "")
          + f": {len(configs)} runs, {len(todo)} not cached")
    if args.dry_run:
        from .analysis import generations
        res = grid.run_grid(configs, root=args.results, compute=False)
        print(res.summary())
        print("\n".join(generations.census(res.records)))
        return 0
    executor, cluster, client = None, None, None
    threads = args.threads
    if args.dask:
        from dask.distributed import Client, LocalCluster
        if args.dask == "local":
            cluster = LocalCluster(n_workers=args.workers or grid.default_workers(len(todo)),
                                   threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(args.dask)
        executor = client.get_executor()
        threads = threads or 1
        print(f"dask: {client}")
    try:
        res = grid.run_grid(configs, executor=executor, root=args.results, workers=args.workers,
                            threads=threads, bundle=args.bundle, chunks=args.chunks)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    print(res.summary())
    if args.archive:
        out = grid.archive(args.archive, configs, root=args.results, models=args.with_models,
                           checkpoints=args.with_checkpoints)
        print(f"archive {out['archive']}: {out['runs']} runs, {out['checkpoints']} checkpoints, {out['files']} files"
              + (f"; {len(out['not_cached'])} not cached, left out" if out["not_cached"] else ""))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
