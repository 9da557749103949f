"""Command line: ``python -m ufnlib {train,list,table1,fetch}``.

  python -m ufnlib train --dataset sports --backbone sasrec --strategy uniform --seed 1
  python -m ufnlib train --dataset beauty --strategy ufn --set m=3 --set alpha=0.1
  python -m ufnlib list
  python -m ufnlib table1 --datasets beauty sports yelp
  python -m ufnlib fetch beauty sports yelp
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields


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
    from .data import DataError
    try:
        return _main(argv)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None


def _main(argv=None) -> int:
    from .config import Config, ConfigError
    ap = argparse.ArgumentParser(prog="python -m ufnlib", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train + evaluate one config (cached)")
    for f in fields(Config):
        if f.name in ("dataset", "backbone", "strategy", "seed"):
            tr.add_argument(f"--{f.name}", default=str(f.default))
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="any other config field, e.g. --set max_epochs=50")
    tr.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    tr.add_argument("--force", action="store_true", help="recompute even if cached")
    tr.add_argument("--results", default=None, help="results folder (default results/)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    ls = sub.add_parser("list", help="list cached runs")
    ls.add_argument("--results", default=None)
    t1 = sub.add_parser("table1", help="dataset statistics (paper Table 1)")
    t1.add_argument("--datasets", nargs="+", default=["beauty", "sports", "yelp"])
    fe = sub.add_parser("fetch", help="download + verify datasets into the cache")
    fe.add_argument("datasets", nargs="+")
    args = ap.parse_args(argv)

    if args.cmd == "train":
        from .experiments import run
        byname = {f.name: f for f in fields(Config)}
        params = {}
        for k in ("dataset", "backbone", "strategy", "seed"):
            params[k] = _parse_value(byname[k], getattr(args, k))
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
        try:
            cfg = Config.from_dict(params)
        except ConfigError as e:
            raise SystemExit(f"error: {e}") from None
        rec = run(cfg, root=args.results, force=args.force, progress=not args.quiet, threads=args.threads)
        t = rec["metrics"]["test"]
        print(json.dumps({"key": rec["key"], "best_epoch": rec["selection"]["best_epoch"],
                          "test_sampled": t["sampled"], "test_full": t["full"]}, indent=1))
    elif args.cmd == "list":
        from .experiments import list_runs
        df = list_runs(args.results)
        print(df.to_string(index=False) if len(df) else "no cached runs")
    elif args.cmd == "table1":
        from .data import print_table1
        print_table1(args.datasets)
    elif args.cmd == "fetch":
        from .data import resolve
        for name in args.datasets:
            print(name, resolve(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
