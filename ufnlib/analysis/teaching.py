"""Helpers for the teaching notebook on false negatives (notebook 07): exact false-negative
shares of uniform sampling on the synthetic generator, per-epoch mining diagnostics of cached
runs as tables, and their plots, and the runs the exercises' solutions read. Nothing here
trains unless asked (``compute``): runs come from ``experiments.run``.
"""
from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from ..data.datasets import leave_one_out
from ..data.synthetic import SyntheticSpec, _parse_spec, generate, spec_string, uniform_false_negative_rate

SUMMARY_FORMATS = {"best_epoch": "{:.0f}", "epochs": "{:.0f}", "train_seconds": "{:.0f}", "mined": "{:,.0f}",
                   "mined_per_position": "{:.2f}",
                   **{k: "{:.3f}" for k in ("test_hr10", "test_ndcg10", "test_full_hr10", "mined_precision",
                                            "random_precision", "nfalse_precision", "nfalse_recall")}}
SUMMARY_MINING = ("mined", "mined_precision", "random_precision", "nfalse_precision", "nfalse_recall")
MINING_COLUMNS = ("mined", "mined_precision", "random_precision", "nfalse_pairs", "nfalse_precision",
                  "nfalse_recall", "nrec_mean")


# ------------------------------------------------------------------ how often uniform misses
def false_negative_share_grid(exposures, catalogue_sizes, **spec) -> pd.DataFrame:
    """For each exposure rate and catalogue size: the synthetic data of ``SyntheticSpec(exposure,
    items, **spec)`` and, exactly from its ground truth, how often the training sampler draws a
    false negative (``synthetic.uniform_false_negative_rate``). One row per (exposure, items)."""
    rows = []
    for e in exposures:
        for n in catalogue_sizes:
            kw = {**spec, "exposure": float(e), "items": int(n)}
            seqs = generate(SyntheticSpec(**kw), name=spec_string(**kw))
            r = uniform_false_negative_rate(leave_one_out(seqs))
            rows.append(dict(exposure=float(e), items=int(n), mean_length=float(seqs.lengths.mean()),
                             false_negatives_per_user=r["fn_per_user"], share_per_draw=r["per_draw"],
                             expected_in_100=100 * r["per_draw"],
                             at_least_one_in_100=r["at_least_one_of_100"]))
    return pd.DataFrame(rows)


def plot_false_negative_share(grid: pd.DataFrame):
    """Two panels: share of uniform draws that are false negatives, and the chance that 100
    negatives hold at least one, against catalogue size, one line per exposure rate."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for i, (e, g) in enumerate(grid.groupby("exposure")):
        g = g.sort_values("items")
        axes[0].plot(g["items"], 100 * g["share_per_draw"], "o-", color=f"C{i}", label=f"exposure {e:g}")
        axes[1].plot(g["items"], 100 * g["at_least_one_in_100"], "o-", color=f"C{i}")
    axes[0].set(xscale="log", xlabel="catalogue size (items)", ylabel="% of uniform negatives",
                title="False negatives per draw")
    axes[1].set(xscale="log", xlabel="catalogue size (items)", ylabel="% of positions", ylim=(0, 102),
                title="At least one among 100 negatives")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ the notebook's runs
class MissingRun(RuntimeError):
    """A run the notebook needs is not in the cache and ``compute`` is False (report only)."""


def cached_run(cfg, compute: bool, threads: int | None = None, root=None):
    """The record of ``cfg``: from the cache (``store.lookup``) or, only when ``compute``, trained
    now (``experiments.run``). Report only (``compute=False``) with the run missing raises
    ``MissingRun``, naming the command that computes it."""
    from ..experiments.run import run
    from ..experiments.store import lookup, results_dir
    rec = lookup(cfg, root)
    if rec is not None:
        return rec
    if not compute:
        raise MissingRun(f"run {cfg.strategy}/{cfg.dataset}/seed {cfg.seed} is not in {results_dir(root)}/runs "
                         f"and this notebook is in report-only mode (compute = False). Compute it with "
                         f"`bash run_all.sh --only 07 --compute` (or set compute = True in the parameters cell).")
    return run(cfg, root=root, progress=False, threads=threads)


# ------------------------------------------------------------------ mining diagnostics of runs
def mining_history(rec: dict) -> pd.DataFrame:
    """Per epoch of a run record: loss, validation HR@10 / NDCG@10 and the mining diagnostics
    (``diagnostics.MiningDiagnostics``; empty before the warm-up ends and for non-mining
    strategies), with the epoch's training positions. ``phase`` says warm-up or mining."""
    w = rec.warmup_end
    rows = []
    for h in rec.history:
        row = dict(epoch=h["epoch"], phase="mining" if (w is not None and h["epoch"] > w) else "warm-up",
                   loss=h["loss_mean"], valid_hr10=h.get("valid", {}).get("hr@10"),
                   valid_ndcg10=h.get("valid", {}).get("ndcg@10"))
        row.update({k: h.get(k) for k in MINING_COLUMNS})
        row["positions"] = h.get("positions")
        rows.append(row)
    return pd.DataFrame(rows).set_index("epoch")


def check_warmup(rec: dict, warmup_epochs: int, min_hr10: float = 0.5) -> bool:
    """Warn (and return False) if a run's validation HR@10 at epoch ``warmup_epochs`` is below
    ``min_hr10``: mining would start before the backbone has learnt the sequences."""
    h = mining_history(rec)
    hr = h["valid_hr10"].get(warmup_epochs)
    if hr is None or hr < min_hr10:
        import warnings
        warnings.warn(f"validation HR@10 at the end of the warm-up (epoch {warmup_epochs}) is {hr}: "
                      f"the backbone has not learnt the sequences yet; raise warmup_epochs")
        return False
    return True


def plot_mining(histories: dict, title: str = ""):
    """Three panels over epochs, one line per run (``histories``: label -> ``mining_history``):
    precision of the mined (reversed/removed) entries with the random negatives' precision as a
    dashed baseline; precision of the N_false set; its recall of all ground-truth false
    negatives."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for i, (label, h) in enumerate(histories.items()):
        c = f"C{i}"
        axes[0].plot(h.index, h["mined_precision"], "o-", ms=3, color=c, label=label)
        axes[0].plot(h.index, h["random_precision"], "--", color=c, alpha=0.6)
        axes[1].plot(h.index, h["nfalse_precision"], "o-", ms=3, color=c, label=label)
        axes[2].plot(h.index, h["nfalse_recall"], "o-", ms=3, color=c, label=label)
    axes[0].set(xlabel="epoch", ylabel="precision", title="Mined entries (dashed: random negatives)")
    axes[1].set(xlabel="epoch", ylabel="precision", title="N_false set: precision")
    axes[2].set(xlabel="epoch", ylabel="recall", title="N_false set: recall of all false negatives")
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def summary_row(rec: dict, last: int = 3, per_position: bool = False) -> dict:
    """Test metrics at the validation-selected epoch and mining diagnostics averaged over the
    last ``last`` epochs of a run; with ``per_position`` also ``mined_per_position``, the mined
    entries per training position (mined / positions, averaged over the same epochs)."""
    h = mining_history(rec)
    tail = h[h["phase"] == "mining"].tail(last)
    t = rec["metrics"]["test"]
    row = dict(strategy=rec.strategy, m=rec.config["m"],
               best_epoch=rec.best_epoch, epochs=rec.epochs_run,
               reported=rec.get("reported_model", "student"),
               test_hr10=t["sampled"]["hr@10"], test_ndcg10=t["sampled"]["ndcg@10"],
               test_full_hr10=t["full"]["hr@10"], train_seconds=rec["train_seconds"])
    for k in SUMMARY_MINING:
        vals = tail[k].dropna() if len(tail) else tail.get(k, pd.Series(dtype=float))
        row[k] = float(vals.mean()) if len(vals) else None
    if per_position:
        rate = (tail["mined"] / tail["positions"]).dropna() if len(tail) else pd.Series(dtype=float)
        row["mined_per_position"] = float(rate.mean()) if len(rate) else None
    return row


def summary_frame(records, last: int = 3, per_position: bool = False) -> pd.DataFrame:
    """``summary_row`` of each record, one row each; the mining columns stay numeric (NaN) even
    where no run has a value (a strategy that does not mine, or a run too short to mine)."""
    df = pd.DataFrame([summary_row(r, last, per_position) for r in records])
    for k in SUMMARY_MINING + ("mined_per_position",):
        if k in df:
            df[k] = pd.to_numeric(df[k]).astype(float)
    return df


def learnt_at(rec, lift: float | None = None) -> int | None:
    """The first epoch whose validation score (the run's selection metric, sampled) exceeds
    ``lift`` x its chance level (default: ``WARMUP_MIN_LIFT``, the level the validation warm-up
    asks for): where the backbone leaves the flat start of its learning curve. None if never."""
    from ..experiments.health import valid_chance
    from ..experiments.store import as_record
    from ..training.train import WARMUP_MIN_LIFT
    r = as_record(rec)
    level = (WARMUP_MIN_LIFT if lift is None else lift) * valid_chance(r)
    metric = r.field("select_metric")
    return next((h["epoch"] for h in r.history if h.get("valid", {}).get(metric, 0.0) > level), None)


# ------------------------------------------------------------- when mining starts too early
def plot_runaway(records: dict):
    """Two panels over epochs, one line per run (``records``: label -> run record): validation
    NDCG@10 with its chance level (grey, dashed: a random ranking), and the entries mined per
    training position; a dotted line at each run's warm-up end and a cross where
    ``diagnostics.runaway`` flagged it."""
    import matplotlib.pyplot as plt

    from ..negatives.diagnostics import chance_level
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    chance = {chance_level("ndcg@10", r.field("eval_neg")) for r in records.values()}
    for i, c in enumerate(sorted(chance)):
        axes[0].axhline(c, color="0.5", ls="--", lw=1, label="chance (random ranking)" if i == 0 else None)
    for i, (label, r) in enumerate(records.items()):
        c, h = f"C{i}", [e for e in r.history if "valid" in e]
        ep = [e["epoch"] for e in h]
        axes[0].plot(ep, [e["valid"]["ndcg@10"] for e in h], color=c, lw=1.2, label=label)
        axes[1].plot(ep, [e.get("mined", 0) / e["positions"] if e.get("positions") else 0 for e in h], color=c, lw=1.2)
        if r.warmup_end:
            for ax in axes:
                ax.axvline(r["warmup_end_epoch"], color=c, ls=":", lw=1)
        flag = next((e for e in h if e.get("runaway")), None)
        if flag is not None:
            axes[0].plot(flag["epoch"], flag["valid"]["ndcg@10"], "x", color=c, ms=9, mew=2)
    axes[0].set(xlabel="epoch", ylabel="validation NDCG@10 (sampled)", title="Does the model learn?")
    axes[1].set(xlabel="epoch", ylabel="mined entries per position", title="How much is reversed")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def runaway_table(records: dict) -> pd.DataFrame:
    """One row per run: warm-up end, the epoch runaway mining was flagged, selected epoch, whether
    that epoch comes after mining started (``best_after_mining``: yes / no; empty for a run that
    never mines, i.e. has no warm-up end: a "no" means the reported checkpoint is the plain
    backbone), best validation and test NDCG@10 (sampled), and the run's warning marks
    (``experiments.health``)."""
    from ..experiments.health import marks_text

    def after(r):
        return "" if r.warmup_end is None else ("yes" if r.best_epoch > r.warmup_end else "no")
    return pd.DataFrame([dict(run=label, warmup_end=r.warmup_end, runaway_at=r.runaway,
                              best_epoch=r.best_epoch, best_after_mining=after(r), best_valid=r.best_score,
                              test_ndcg10=r.value("ndcg@10", "sampled", "test"), marks=marks_text(r))
                         for label, r in records.items()]).set_index("run")


# ------------------------------------------------------------------ readings in words
def signed(x) -> str:
    """A difference with its sign, three decimals; one that rounds to zero reads 0.000."""
    t = f"{x:+.3f}"
    return "0.000" if t in ("+0.000", "-0.000") else t


def moves(a, b, tol: float = 0.01) -> str:
    """How a value changes from a to b, in words; changes under ``tol`` count as level."""
    return "rises" if b - a > tol else "falls" if a - b > tol else "stays level"


# ------------------------------------------------------------------ the exercises' solutions
def synthetic_spec(dataset: str) -> SyntheticSpec:
    """The generator settings of a synthetic dataset name (``synthetic[:k=v,...]``), parsed as the
    data loader parses it (``data.synthetic._parse_spec``)."""
    if dataset.partition(":")[0] != "synthetic":
        raise ValueError(f"{dataset!r} is not a synthetic dataset name")
    return _parse_spec(dataset)


def variant(dataset: str, **changes) -> str:
    """The synthetic dataset ``dataset`` with the generator settings ``changes`` changed, as a
    dataset name: ``variant("synthetic:users=300", exposure=0.8)`` ->
    ``"synthetic:users=300,exposure=0.8"``."""
    from dataclasses import asdict
    return spec_string(**{**asdict(synthetic_spec(dataset)), **changes})


def config_changes(cfg, base) -> dict:
    """The fields of ``cfg`` that differ from ``base`` (seed included), as ``{field: value}``."""
    a, b = cfg.to_dict(), base.to_dict()
    return {k: v for k, v in a.items() if b.get(k) != v}


class Solution(NamedTuple):
    """The runs one exercise's solution reads. ``records``: (label, seed) -> run record;
    ``seeds``: the seeds with every label's run; ``missing``: (label, seed, config) of the runs
    not in the cache; ``table``: per label, ``summary_row`` averaged over ``seeds`` (None when no
    seed is complete)."""
    records: dict
    seeds: list
    missing: list
    table: pd.DataFrame | None


def solution(configs: dict, seeds, compute: bool, threads: int | None = None, root=None,
             names=None) -> Solution:
    """Collect an exercise's runs: ``configs`` maps a label (a tuple for a MultiIndex named
    ``names``) to a config whose seed is replaced by each of ``seeds``. Runs come from the cache,
    or are trained when ``compute``; a run missing in report-only mode is listed, not trained. The
    table averages over the seeds whose runs are all there."""
    records, missing = {}, []
    for label, cfg in configs.items():
        for seed in seeds:
            c = cfg.replace(seed=seed)
            try:
                records[(label, seed)] = cached_run(c, compute, threads, root)
            except MissingRun:
                missing.append((label, seed, c))
    done = [s for s in seeds if all((label, s) in records for label in configs)]
    table = None
    if done:
        keys = [(label, s) for label in configs for s in done]
        df = summary_frame([records[k] for k in keys], per_position=True)
        df.insert(0, "_label", [label for label, _ in keys])
        table = df.groupby("_label", sort=False).mean(numeric_only=True)
        if names is not None:
            table.index = pd.MultiIndex.from_tuples(table.index, names=names) if len(names) > 1 else \
                table.index.rename(names[0])
    return Solution(records, done, missing, table)


def missing_text(exercise: str, sol: Solution, base) -> str:
    """What an exercise's solution lacks: 'not computed' (or the seeds it reads, when some are
    complete), the missing runs with their settings against ``base``, and how to compute them."""
    head = (f"{exercise}: not computed" if not sol.seeds else
            f"{exercise}: read from seeds {sol.seeds} only")
    by_label = {}
    for label, seed, cfg in sol.missing:
        by_label.setdefault(label, ([], cfg))[0].append(seed)
    runs = "; ".join(", ".join(f"{k}={v!r}" for k, v in {"strategy": cfg.strategy, **config_changes(cfg, base)}.items()
                               if k != "seed") + f" (seeds {seeds})" for seeds, cfg in by_label.values())
    n = len(sol.missing)
    return (f"{head}: {n} {'run is' if n == 1 else 'runs are'} not in the cache ({runs}). Compute "
            f"{'it' if n == 1 else 'them'}: set compute = True in the parameters cell and rerun, or "
            "`bash run_all.sh --only 07 --compute`.")


def settles_at(values: pd.Series, tol: float = 0.01):
    """The first index from which every later value of ``values`` (NaN dropped) is within ``tol``
    of the last one: where a curve stops moving. None for an empty series."""
    v = values.dropna()
    if not len(v):
        return None
    far = (v - v.iloc[-1]).abs() > tol
    later = far[::-1].cummax()[::-1]          # True where this or a later value is still far
    return v.index[~later.to_numpy()][0]
