"""The solutions of notebook 07's exercises: from an exercise's runs (``teaching.solution``), the
table the notebook shows and the lines that read it. One function per exercise; each returns a
``Reading``. Nothing here trains.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import pandas as pd

from ..negatives.diagnostics import chance_level
from .teaching import Solution, mining_history, moves, settles_at, signed


class Reading(NamedTuple):
    """An exercise's table (full precision) and the lines that read it."""
    table: pd.DataFrame
    lines: list


# ------------------------------------------------------------------ shared pieces
def seeds_note(sol: Solution) -> str:
    """How many runs a solution's table averages."""
    return f"means over seeds {sol.seeds}, one run per seed and setting, no interval"


def ran_away(sol: Solution, name: Callable = str) -> str:
    """The settings whose runs ``diagnostics.runaway`` flagged, in words (``name``: label -> words)."""
    hits = [(label, sum(sol.records[(label, sd)].runaway is not None for sd in sol.seeds)) for label in sol.table.index]
    hits = [f"{name(label)} ({k} of {len(sol.seeds)} seeds)" for label, k in hits if k]
    return "runaway mining flagged for " + (", ".join(hits) if hits else "no run")


def mined_over_random(t: pd.DataFrame) -> pd.Series:
    """Mined precision over random precision, per row."""
    return t["mined_precision"] / t["random_precision"]


def vs_uniform(t: pd.DataFrame, column: str, level: str) -> pd.Series:
    """``column`` minus uniform's at the same ``level`` (index levels: ``level``, ``strategy``)."""
    uniform = t.xs("uniform", level="strategy")[column]
    return t[column] - uniform.reindex(t.index.get_level_values(level)).to_numpy()


def seed_means(sol: Solution, row: Callable) -> pd.DataFrame:
    """``row(record, label)`` (a dict) of every run of ``sol``, averaged over its seeds per label."""
    name = sol.table.index.name
    rows = [{name: label, **row(sol.records[(label, sd)], label)} for label in sol.table.index for sd in sol.seeds]
    return pd.DataFrame(rows).groupby(name).mean(numeric_only=True)


# ------------------------------------------------------------------ the five exercises
def exercise1(sol: Solution) -> Reading:
    """Exposure: mined against random precision, and test HR@10 against uniform, per exposure."""
    t = sol.table[["mined_precision", "random_precision", "test_hr10", "test_ndcg10"]].copy()
    t["mined_over_random"] = mined_over_random(t)
    t["hr10_vs_uniform"] = vs_uniform(t, "test_hr10", "exposure")
    miners = t.drop(index="uniform", level="strategy")
    by_e = miners.groupby(level="exposure").mean()
    lo, hi = by_e.index.min(), by_e.index.max()
    gap = by_e["mined_precision"] - by_e["random_precision"]
    above = int((miners["mined_precision"] > miners["random_precision"]).sum())
    precision = f"From exposure {lo:g} to {hi:g} random precision " \
        f"{moves(by_e.random_precision[lo], by_e.random_precision[hi])} ({by_e.random_precision[lo]:.3f} -> " \
        f"{by_e.random_precision[hi]:.3f}) and mined precision " \
        f"{moves(by_e.mined_precision[lo], by_e.mined_precision[hi])} ({by_e.mined_precision[lo]:.3f} -> " \
        f"{by_e.mined_precision[hi]:.3f}; means of the mining strategies): "
    move = miners["hr10_vs_uniform"]
    s_big, e_big = move.abs().idxmax()[::-1]
    spread = t["test_hr10"].groupby(level="strategy", sort=False).agg(lambda x: x.max() - x.min())
    return Reading(t, [
        f"Exercise 1 ({seeds_note(sol)}): mined precision is above random precision in {above} of {len(miners)} "
        f"(exposure, mining strategy) cells. " + precision
        + f"the gap between them {moves(gap[lo], gap[hi])} ({', '.join(f'{g:.3f}' for g in gap)} at exposure "
        f"{', '.join(f'{e:g}' for e in gap.index)}), mined precision being "
        f"{', '.join(f'{r:.1f}' for r in by_e.mined_over_random)} x random.",
        f"Largest change of test HR@10 against uniform: {s_big} at exposure {e_big:g} "
        f"({signed(move[(e_big, s_big)])}). Across the exposures test HR@10 moves most for {spread.idxmax()} "
        f"(range {spread.max():.3f}; " + ", ".join(f"{s} {v:.3f}" for s, v in spread.items()) + "); "
        + ran_away(sol, lambda lab: f"{lab[1]} at exposure {lab[0]:g}") + "."])


def exercise2(sol: Solution) -> Reading:
    """Catalogue size: precisions and test NDCG@10 against uniform, smallest against largest catalogue."""
    t = sol.table[["mined_precision", "random_precision", "mined_per_position", "test_hr10", "test_ndcg10"]].copy()
    t["ndcg10_vs_uniform"] = vs_uniform(t, "test_ndcg10", "items")
    sizes = sorted(t.index.unique(level="items").tolist())
    small, big = sizes[0], sizes[-1]
    m_small, m_big = (t.xs(n, level="items").drop(index="uniform") for n in (small, big))
    best, gain = m_big["ndcg10_vs_uniform"].idxmax(), m_big["ndcg10_vs_uniform"].max()
    ratio = {n: ", ".join(f"{s} {r:.1f}" for s, r in mined_over_random(part).items())
             for n, part in ((small, m_small), (big, m_big))}
    diffs = {n: ", ".join(f"{s} {signed(v)}" for s, v in part["ndcg10_vs_uniform"].items())
             for n, part in ((small, m_small), (big, m_big))}
    verdict = (f"With {big} items no mining strategy gains 0.01 or more over uniform on test NDCG@10 in these runs "
               f"(best: {best}, {signed(gain)}): mining is not worth it here." if gain < 0.01 else
               f"With {big} items {best} gains most over uniform on test NDCG@10 ({signed(gain)}).")
    return Reading(t, [
        f"Exercise 2 ({seeds_note(sol)}): with {big} items random precision is {m_big.random_precision.mean():.3f} "
        f"(with {small}: {m_small.random_precision.mean():.3f}); mined precision over random precision: "
        f"{ratio[big]} (with {small}: {ratio[small]}). Test NDCG@10 against uniform with {big} items: "
        f"{diffs[big]} (with {small}: {diffs[small]}); "
        + ran_away(sol, lambda lab: f"{lab[1]} with {lab[0]} items") + ". " + verdict])


def recall_row(rec, label) -> dict:
    """A run's mining epochs: where N_false recall settles, its last value, entries mined in all."""
    h = mining_history(rec)
    h = h[h["phase"] == "mining"]
    recall = h["nfalse_recall"]
    return dict(recall_settles_at=settles_at(recall),
                last_recall=recall.dropna().iloc[-1] if recall.notna().any() else float("nan"),
                mined_in_all=h["mined"].sum())


def exercise3(sol: Solution, epochs: int, warmup_epochs: int) -> Reading:
    """m: when N_false recall settles per m, and what a large m costs in mined entries."""
    t = sol.table[["mined", "mined_precision", "nfalse_precision", "test_ndcg10"]].join(seed_means(sol, recall_row))
    lo, hi = t.loc[t.index.min()], t.loc[t.index.max()]
    ms = ", ".join(map(str, t.index))
    return Reading(t, [
        f"Exercise 3 ({seeds_note(sol)}; {epochs} epochs, mining from epoch {warmup_epochs + 1}): N_false "
        "recall stops growing (within 0.01 of its last value) at epoch "
        + ", ".join(f"{v:.0f}" for v in t["recall_settles_at"]) + f" for m = {ms}"
        + f" (the last epoch is {epochs}: an epoch at or next to it means recall still grows when the run "
        "ends), its last value " + ", ".join(f"{v:.3f}" for v in t["last_recall"])
        + f". With m = {t.index.max()} the memory mines {hi.mined_in_all:,.0f} entries over the mining epochs "
        f"against {lo.mined_in_all:,.0f} with m = {t.index.min()} ({hi.mined_in_all / lo.mined_in_all:.2f} x), "
        f"with mined precision {hi.mined_precision:.3f} against {lo.mined_precision:.3f} and N_false recall "
        f"{hi.last_recall:.3f} against {lo.last_recall:.3f}; test NDCG@10 {moves(lo.test_ndcg10, hi.test_ndcg10)} "
        f"from m = {t.index.min()} to m = {t.index.max()} (" + ", ".join(f"{v:.3f}" for v in t["test_ndcg10"])
        + ")."])


def first_mining_row(rec, warmup_epochs) -> dict:
    """A run's validation HR@10 when mining starts and its first three mining epochs' memory."""
    h = mining_history(rec)
    first = h[h["phase"] == "mining"].head(3)
    return dict(valid_hr10_at_start=h["valid_hr10"].get(warmup_epochs),
                first_nrec_per_position=first["nrec_mean"].mean(),
                first_mined_per_position=(first["mined"] / first["positions"]).mean(),
                first_mined_precision=first["mined_precision"].astype(float).mean(),
                first_random_precision=first["random_precision"].astype(float).mean())


def exercise4(sol: Solution, eval_neg: int) -> Reading:
    """Warm-up: what the memory records and mines when mining starts early against late."""
    t = seed_means(sol, first_mining_row).join(
        sol.table[["mined_per_position", "mined_precision", "random_precision", "test_ndcg10"]])
    w0, w1 = t.index.min(), t.index.max()
    early, late = t.loc[w0], t.loc[w1]
    return Reading(t, [
        f"Exercise 4 ({seeds_note(sol)}): mining after epoch {w0}, when validation HR@10 is "
        f"{early.valid_hr10_at_start:.3f} (chance {chance_level('hr@10', eval_neg):.3f}; after epoch {w1}: "
        f"{late.valid_hr10_at_start:.3f}), the memory records {early.first_nrec_per_position:.1f} negatives per "
        f"position in its first three mining epochs (warm-up {w1}: {late.first_nrec_per_position:.1f}) and mines "
        f"{early.first_mined_per_position:.2f} per position with precision {early.first_mined_precision:.3f} "
        f"against random {early.first_random_precision:.3f} (warm-up {w1}: {late.first_mined_per_position:.2f} "
        f"per position, precision {late.first_mined_precision:.3f}). Over the last three epochs it mines "
        f"{early.mined_per_position:.2f} per position with precision {early.mined_precision:.3f} (warm-up {w1}: "
        f"{late.mined_per_position:.2f}, {late.mined_precision:.3f}); "
        + ran_away(sol, lambda w: f"warm-up {w}") + f"; test NDCG@10 {early.test_ndcg10:.3f} against "
        f"{late.test_ndcg10:.3f}."])


def exercise5(sol: Solution) -> Reading:
    """Stickiness: uniform's test NDCG@10, fmr's precision ratio and its change against uniform, weak
    against strong sequential signal."""
    t = sol.table[["mined_precision", "random_precision", "test_hr10", "test_ndcg10"]].copy()
    t["mined_over_random"] = mined_over_random(t)
    weak, strong = t.index.get_level_values("stickiness").min(), t.index.get_level_values("stickiness").max()
    u_w, u_s, f_w, f_s = (t.loc[(k, s)] for s in ("uniform", "fmr") for k in (weak, strong))
    ratio_move = moves(f_s.mined_over_random, f_w.mined_over_random, tol=0.1)
    backbone = moves(u_s.test_ndcg10, u_w.test_ndcg10)
    d = vs_uniform(t, "test_ndcg10", "stickiness")
    d_w, d_s = d[(weak, "fmr")], d[(strong, "fmr")]
    worse = backbone == "falls" and ratio_move == "falls" and d_s - d_w > 0.01
    return Reading(t, [
        f"Exercise 5 ({seeds_note(sol)}): from stickiness {strong:g} to {weak:g} uniform's test NDCG@10 {backbone} "
        f"({u_s.test_ndcg10:.3f} -> {u_w.test_ndcg10:.3f}; HR@10 {u_s.test_hr10:.3f} -> {u_w.test_hr10:.3f}). "
        f"FMR's mined precision is {f_s.mined_precision:.3f} = {f_s.mined_over_random:.1f} x random with "
        f"{strong:g} and {f_w.mined_precision:.3f} = {f_w.mined_over_random:.1f} x with {weak:g}: the ratio "
        f"{ratio_move} (changes under 0.1 count as level); fmr's change of test NDCG@10 against uniform goes from "
        f"{signed(d_s)} to {signed(d_w)}; " + ran_away(sol, lambda lab: f"{lab[1]} at stickiness {lab[0]:g}") + ". "
        + ("So in these runs mining does worse where the backbone models the sequences less well: it finds false "
           "negatives less precisely and costs more against uniform." if worse else
           "These runs do not show all three moving together (backbone, precision ratio, change against "
           "uniform), so they do not settle the question.")])
