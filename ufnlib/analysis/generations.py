"""Which generation of the numerics a run record was trained with (docs/speed.md, "Generations of
numbers"): the code changed floating-point results three times, so a rerun of a config at a later
commit gives other numbers, as another seed would.

  generation 0: before d939653
  generation 1: d939653 up to before 9e8b60e
  generation 2: 9e8b60e up to before 64656c9
  generation 3: 64656c9 and later

A record's generation is read from its commit (``record["git"]["commit"]``) by asking git whether
each boundary commit is an ancestor of it, once per commit (cached). Where git or the commit is not
available (a copy of the tree without ``.git``, a record made elsewhere) the generation is
``UNKNOWN``; it never raises.
"""
from __future__ import annotations

import functools
import subprocess

from ..data.datasets import PROJECT_ROOT

BOUNDARIES = ("d939653", "9e8b60e", "64656c9")    # the first commit of generations 1, 2 and 3
UNKNOWN = "unknown"


def _is_ancestor(ancestor: str, commit: str) -> bool | None:
    try:
        r = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, commit], cwd=PROJECT_ROOT,
                           capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(r.returncode)         # other codes: git cannot tell (unknown commit)


@functools.lru_cache(maxsize=None)
def of_commit(commit: str | None) -> int | str:
    """The generation (0-3) of code at ``commit``, or ``UNKNOWN``."""
    if not commit or commit == UNKNOWN:
        return UNKNOWN
    gen = 0
    for k, boundary in enumerate(BOUNDARIES, 1):
        inside = _is_ancestor(boundary, commit)
        if inside is None:
            return UNKNOWN
        if inside:
            gen = k
    return gen


def of_record(rec) -> int | str:
    """The generation of the code a record was trained with (``UNKNOWN`` without a commit)."""
    return of_commit((rec.get("git") or {}).get("commit"))


def label(gen) -> str:
    """'generation 3' / 'generation unknown'."""
    return f"generation {gen}"


def _order(gen) -> tuple:
    return (isinstance(gen, str), str(gen) if isinstance(gen, str) else gen)


def census(records, listed: int = 40) -> list[str]:
    """Lines for a grid listing: how many of ``records`` each code generation holds, and the
    runs older than the newest generation grouped by config with their seeds (those to recompute
    so that every comparison has both arms from one generation). Up to ``listed`` groups are
    named; the rest are counted."""
    from ..experiments.grid import seed_lines
    from ..experiments.profiles import run_label
    newest = len(BOUNDARIES)
    by: dict = {}
    for r in records:
        by.setdefault(of_record(r), []).append(r)
    if not by:
        return []
    lines = ["code generations of the cached runs (docs/speed.md): "
             + ", ".join(f"{label(g)} {len(by[g])}" for g in sorted(by, key=_order))]
    old = [r for g in sorted(by, key=_order) if g != newest for r in by[g]]
    if old:
        lines.append(f"older than generation {newest} (recompute at this code to compare within one "
                     f"generation): {len(old)}")
        groups = seed_lines((f"{run_label(r['config'], seed=False)} ({label(of_record(r))})", r["config"]["seed"])
                            for r in old)
        lines += groups[:listed]
        if len(groups) > listed:
            lines.append(f"  - ... and {len(groups) - listed} more configs")
    return lines
