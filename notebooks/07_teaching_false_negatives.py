# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (ufnrec)
#     language: python
#     name: ufnrec
# ---

# %% [markdown]
# # 07 · Teaching: false negatives, and how FMR finds them
#
# Uniform negative sampling treats every item a user has not interacted with as a negative, but
# some of those items are ones the user would have liked had they been shown them: *false
# negatives*. On real data nobody knows which; on `ufnlib.data.synthetic` we do, because the generator
# keeps, per user, the liked items that were never shown. This notebook first measures, exactly,
# how often uniform sampling draws a false negative as the exposure rate and the catalogue size
# change; then it trains SASRec with four negative strategies (`uniform`; `removal`, `fmr` and
# `ufn`, which mine false negatives with the paper's FMR memory) and checks the mined sets against
# the ground truth, epoch by epoch and for several values of m. It ends with exercises.
#
# Writes `results/<profile>/tables/07_*.{csv,md}`, `results/<profile>/figures/07_*.{png,pdf}` and
# `results/<profile>/tables/07_teaching_false_negatives.json` (under `$UFN_RESULTS_DIR` when set). Runs are
# cached in `results/runs/`: a second execution only redraws.

# %%
import pandas as pd

import ufnlib
from ufnlib.analysis import report, teaching
from ufnlib.data.synthetic import uniform_false_negative_rate

# %% tags=["parameters"]
profile = "paper"                          # smoke | quick | paper
seeds = [1]                                # training seeds (tables average over them)
dataset = "synthetic"                      # the generator's defaults (see ufnlib/data/synthetic.py)
exposures = [0.2, 0.35, 0.5, 0.8]          # grid: chance that a liked item is shown
catalogue_sizes = [100, 300, 1000, 3000]   # grid: number of items
grid_users = 1000                          # users per generated grid dataset
strategies = ["uniform", "removal", "fmr", "ufn"]
m = 2                                      # re-fed more than m times -> N_false (paper: m)
m_values = [1, 2, 4]                       # the m sweep (strategy fmr)
warmup_epochs = 15                         # fixed warm-up: mining starts after this many epochs
                                           # (SASRec leaves its early plateau after ~13 here)
epochs = 30                                # every run trains exactly this many epochs
sasrec = dict(hidden=32, dropout=0.2, lr=0.003, batch_size=64, n_neg=100)  # a light SASRec for a CPU
threads = 1                                # torch threads per run
early_epochs = 120                         # section 7: budget of the runs with the paper's settings

# %%
report.use_profile(profile)
if profile == "smoke":    # seconds: a small dataset, a few epochs, one m
    dataset, grid_users = "synthetic:users=300", 200
    exposures, catalogue_sizes = [0.35, 0.8], [100, 300]
    warmup_epochs, epochs, m, m_values = 2, 6, 1, [1]
    early_epochs = 8
elif profile == "paper":  # three seeds, the same schedule (the runs notebook 03 section 5 uses too)
    seeds = [1, 2, 3]
base = ufnlib.Config(dataset=dataset, warmup="fixed", warmup_epochs=warmup_epochs, max_epochs=epochs,
                     patience=epochs, m=m, **sasrec)
protocol = (f"SASRec ({', '.join(f'{k}={v}' for k, v in sasrec.items())}) on `{dataset}`, "
            f"seeds {seeds}, {epochs} epochs, mining after a fixed warm-up of {warmup_epochs} epochs; "
            "test metrics (sampled: 100 negatives; full: all items) at the epoch chosen on sampled "
            "validation NDCG@10")

# %% [markdown]
# ## 1. How often does a uniform negative miss?
#
# The training sampler draws each negative uniformly from the items outside the user's training
# sequence $T_u$. If $F_u$ is the set of the user's false negatives, one draw is a false negative
# with probability
#
# $$p_u = \frac{|F_u|}{|\mathcal{V}| - |T_u|},$$
#
# and a position with $n = 100$ negatives holds at least one with probability $1 - (1 - p_u)^{n}$.
# `uniform_false_negative_rate` averages both over training positions, exactly, from the
# generator's ground truth (a test checks it against the sampler itself). A user likes about 30
# items whatever the catalogue, so $p_u$ falls with the catalogue size, and with the exposure rate
# (more exposure, fewer liked items left unseen). With 100 items a user's clusters hold fewer items
# than that, so liked sets, and false negatives, shrink there.

# %%
grid = teaching.false_negative_share_grid(exposures, catalogue_sizes, users=grid_users)
caption = (f"Table 07a. Share of uniform training negatives that are ground-truth false negatives, "
           f"computed exactly from the synthetic generator ({grid_users} users per dataset, other "
           f"settings at their defaults). expected_in_100: false negatives among 100 negatives.")
report.save_table(grid.set_index(["exposure", "items"]), "07_false_negative_share", caption,
                  formats={"share_per_draw": "{:.2%}", "at_least_one_in_100": "{:.1%}",
                           "expected_in_100": "{:.2f}", "mean_length": "{:.1f}",
                           "false_negatives_per_user": "{:.1f}"})
(100 * grid.pivot(index="exposure", columns="items", values="share_per_draw")).round(2)  # % of draws

# %%
fig = teaching.plot_false_negative_share(grid)
report.save_figure(fig, "07_false_negative_share")

# %% [markdown]
# ## 2. The data we train on
#
# The generator's defaults: 2,000 users, 300 items in 15 clusters. Each cluster is a storyline
# cycle and a user walks the shown items of their clusters in cycle order, so the next item is
# predictable; about half of each user's liked items are never shown.

# %%
split = ufnlib.load_split(dataset)
rate = uniform_false_negative_rate(split)
pd.Series({**ufnlib.statistics(split.seqs), **rate}).to_frame(dataset)

# %% [markdown]
# ## 3. Four strategies, one backbone
#
# `uniform` is SASRec as published. After the warm-up the three others keep the FMR memory (paper
# Eq. 5): negatives scoring above the positive are recorded and re-fed at the next visit, and an
# entry re-fed more than m times is a mined false negative. `removal` drops it from the loss,
# `fmr` reverses its label, `ufn` reverses it and adds the consistency loss against an EMA
# teacher (and reports the teacher). Every run is cached: `ufnlib.run` returns the stored record
# when the same config ran before.
#
# The warm-up is a fixed number of epochs here, not the paper's "until the basic loss stops
# falling rapidly" rule (`warmup_ended`): on this data SASRec first sits for about ten epochs at
# the loss of a constant prediction, and the plateau rule would fire there, before the backbone
# has learnt anything (see exercise 4). `teaching.check_warmup` warns if validation HR@10 is still
# low when mining starts.

# %%
runs = {s: [ufnlib.run(base.replace(strategy=s, seed=seed), progress=False, threads=threads) for seed in seeds]
        for s in strategies}
summary = pd.DataFrame([teaching.summary_row(r) for rs in runs.values() for r in rs])
table = summary.groupby("strategy", sort=False).mean(numeric_only=True).drop(columns=["m"])
caption = (f"Table 07b. Strategies on synthetic data (m = {m}). {protocol}. Mining columns: averages "
           "over the last 3 epochs of the mining phase; precision against the generator's ground truth.")
report.save_table(table, "07_strategies", caption, formats=teaching.SUMMARY_FORMATS)
table.round(3)

# %% [markdown]
# ## 4. Does the memory find false negatives?
#
# For each mining epoch the diagnostics compare three sets with the ground truth: *mined
# precision*, the share of the entries counted more than m times (the ones reversed or removed)
# that are real false negatives; *random precision*, the same share among that epoch's random
# negatives, which is the baseline $p$ of Section 1; and the *N_false set* (distinct (user, item)
# pairs whose counter exceeds m), with its precision and its recall of all the users' false
# negatives. Mining helps only where mined precision is well above random precision.
#
# Two things to look for. Mined precision is a per-epoch share of the entries that were reversed
# or removed in that epoch; N_false is cumulative (counters are never reset, as in the reference),
# so its recall can only grow, while its precision falls as more true negatives pass the
# threshold once. And the three mining strategies see the same first mined epoch (same seed, same
# warm-up); they part ways once reversed or removed entries change the model.

# %%
mining = {s: teaching.mining_history(runs[s][0]) for s in strategies if s != "uniform"}
teaching.check_warmup(runs["uniform"][0], warmup_epochs)
fig = teaching.plot_mining(mining, title=f"seed {seeds[0]}, m = {m}, mining from epoch {warmup_epochs + 1}")
report.save_figure(fig, "07_mining_precision")
mining["fmr"].loc[warmup_epochs:, ["mined", "mined_precision", "random_precision", "nfalse_pairs",
                                   "nfalse_precision", "nfalse_recall", "valid_hr10"]].round(3)

# %% [markdown]
# ## 5. How m changes what is mined
#
# A larger m asks a negative to beat the positive at more visits before it counts as a false
# negative: fewer entries are mined, later, and (if the premise holds) more of them are real.

# %%
sweep_runs = {mv: [ufnlib.run(base.replace(strategy="fmr", m=mv, seed=seed), progress=False, threads=threads)
                   for seed in seeds] for mv in m_values}
sweep = pd.DataFrame([teaching.summary_row(r) for rs in sweep_runs.values() for r in rs])
sweep = sweep.groupby("m").mean(numeric_only=True)
caption = (f"Table 07c. FMR with different m (strategy fmr). {protocol}. Mining columns: averages over "
           "the last 3 epochs.")
report.save_table(sweep, "07_m_sweep", caption, formats=teaching.SUMMARY_FORMATS)
fig = teaching.plot_mining({f"m = {mv}": teaching.mining_history(rs[0]) for mv, rs in sweep_runs.items()},
                           title=f"strategy fmr, seed {seeds[0]}")
report.save_figure(fig, "07_m_sweep")
sweep.round(3)

# %% [markdown]
# ## 6. Another detector: SRNS
#
# The paper's Table 4 compares FMR's detector with the variance-based one of SRNS (Ding et al.,
# 2020), used to remove the detected false negatives (`+SRNS`). If the library registers a
# strategy `srns_removal`, it runs here with the same backbone and schedule, and its mining
# diagnostics are plotted beside those of `removal` (FMR's detector, same use of what it detects).

# %%
srns = ufnlib.run(base.replace(strategy="srns_removal", seed=seeds[0]), progress=False, threads=threads)
compare = {"removal (FMR detector)": mining["removal"], "srns_removal": teaching.mining_history(srns)}
fig = teaching.plot_mining(compare, title=f"FMR vs SRNS detector, seed {seeds[0]}")
report.save_figure(fig, "07_srns_vs_fmr")
srns_row = teaching.summary_row(srns)
display(pd.DataFrame([teaching.summary_row(runs["removal"][0]), srns_row]).set_index("strategy").round(3))

# %% [markdown]
# ## 7. When mining starts too early
#
# Everything above mines after a fixed warm-up of `warmup_epochs`, chosen once we had seen when
# SASRec learns here. The paper's rule is "while $\mathcal{L}_{basic}$ is descending rapidly";
# the reference code ends warm-up when the per-epoch loss decrease falls below 1/200 of the first
# five epochs' decrease. On this data with the paper's settings (d = 50, dropout 0.5, lr 0.001,
# batch 128) SASRec's loss flattens *before* it learns the storylines: its validation sits near
# chance (NDCG@10 about 0.046 with 100 negatives) for some 30 epochs, then rises. The plateau rule
# fires in that flat start. On an untrained model almost every negative outscores the positive, so
# N_rec fills, entries pass m re-feeds and are reversed into positives, more every epoch: mining
# runs away and the model never learns. `ufnlib` flags this (`diagnostics.runaway`: mined entries
# per position growing while validation stays near chance or falls), warns, and names such runs
# in every table. The validation-based warm-up (`warmup="validation"`) waits until the backbone has
# learnt (best validation above twice chance) and then stopped improving.
#
# The three runs: SASRec, UFN with the reference's plateau rule, UFN with the validation rule;
# the paper's settings, the default protocol, at most `early_epochs` epochs (a cross: the epoch
# the run was flagged; dotted: warm-up end).

# %%
early_base = ufnlib.Config(dataset=dataset, max_epochs=early_epochs)
early_kw = {"SASRec": dict(strategy="uniform"), "UFN, plateau warm-up (reference)": dict(strategy="ufn"),
            "UFN, validation warm-up": dict(strategy="ufn", warmup="validation")}
early = {k: ufnlib.run(early_base.replace(**kw, seed=seeds[0]), progress=False, threads=threads)
         for k, kw in early_kw.items()}
fig = teaching.plot_runaway(early)
report.save_figure(fig, "07_runaway")
runaway = teaching.runaway_table(early)
report.save_table(runaway, "07_runaway", "Table 07d. Mining started too early: SASRec and UFN with the paper's "
                  f"settings on `{dataset}` (seed {seeds[0]}, at most {early_epochs} epochs, epoch chosen on "
                  "validation); runaway_at = the epoch diagnostics.runaway flagged, if any; marks = the "
                  "run's warnings (ufnlib.experiments.health: failed, flat_start, runaway, cap).",
                  formats={"best_valid": "{:.3f}", "test_ndcg10": "{:.3f}"})
runaway

# %% [markdown]
# ## 8. Exercises
#
# Change the `parameters` cell and rerun (cached runs come back at once; new settings train):
#
# 1. **Exposure.** Set `dataset = "synthetic:exposure=0.8"` (fewer false negatives) and
#    `"synthetic:exposure=0.2"` (many). Does mined precision follow random precision, or does the
#    gap between them stay? Which strategy's test HR@10 moves most?
# 2. **Catalogue size.** With `"synthetic:items=1000"` a random negative is a false negative about
#    three times less often (Section 1). Is mining still worth it?
# 3. **m.** Extend `m_values` to `[1, 2, 4, 8]` and `epochs` to 40. When does N_false recall stop
#    growing, and what does a large m cost in mined entries?
# 4. **Warm-up.** Set `warmup_epochs = 3`, before SASRec has learnt the sequences (validation HR@10
#    still near 0.1). What does the memory record then, and how precise is it?
# 5. **Stickiness.** `"synthetic:stickiness=0.3"` weakens the sequential signal. Does mining depend
#    on how well the backbone models the sequences?

# %% [markdown]
# ## 9. Key numbers

# %%
fmr_tail = teaching.summary_row(runs["fmr"][0])
numbers = {
    "profile": profile, "dataset": dataset, "seeds": seeds, "m": m, "m_values": m_values,
    "warmup_epochs": warmup_epochs, "epochs": epochs, "sasrec": sasrec,
    "uniform_false_negative_rate": rate,
    "grid": grid.to_dict(orient="records"),
    "strategies": table.reset_index().to_dict(orient="records"),
    "m_sweep": sweep.reset_index().to_dict(orient="records"),
    "fmr_mined_precision": fmr_tail["mined_precision"],
    "fmr_random_precision": fmr_tail["random_precision"],
    "fmr_nfalse_precision": fmr_tail["nfalse_precision"],
    "fmr_nfalse_recall": fmr_tail["nfalse_recall"],
    "srns": srns_row,
    "runaway": runaway.reset_index().to_dict(orient="records"),
}
report.save_numbers("07_teaching_false_negatives", numbers)
