"""Numerics freeze check (not a timing): retrace cached runs with this checkout, bit for bit.

    python benchmarks/check_freeze.py KEY [KEY ...] [--epochs N] [--full]

For each record key, trains the first ``N`` epochs (default: the record's warm-up end + 2) of
its config and compares the history with the record's exactly (``ufnlib.experiments.freeze``);
``--full`` trains the whole run and compares the final metrics and per-user ranks too. Exits
non-zero when anything differs. Pick records of the current numerics generation (docs/speed.md),
computed on the CPU with one thread, as the grid computes them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from ufnlib.experiments.freeze import retrace
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("keys", nargs="+")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--results", default=None)
    args = ap.parse_args(argv)
    bad = 0
    for key in args.keys:
        out = retrace(key, args.epochs, root=args.results, full=args.full)
        same = not out["differences"]
        bad += not same
        print(f"{key}: {out['epochs']} epochs against the record of {out['record_commit'][:7]} "
              f"({out['record_threads']} thread(s)): {'bitwise identical' if same else 'DIFFERS'}")
        for d in out["differences"][:20]:
            print(f"   {d}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
