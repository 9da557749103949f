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
# **Names.** *SASRec* (Self-Attentive Sequential Recommendation): the Transformer backbone that
# scores the next item. *UFN* (UFNRec, "Utilizing False Negative samples for sequential
# Recommendation"): the paper's method, FMR plus FCR. *FMR* (False negative Mining and Reversing,
# paper Section 3.2): negatives that keep outscoring the positive are mined and their label is
# reversed to 1. *FCR* (False negative Consistency Regularization, paper Section 3.3): a
# consistency loss pulls the student's score of each mined entry towards a teacher's. *EMA*
# (Exponential Moving Average): the teacher's weights are an EMA of the student's. *N_rec*: a
# position's recorded negatives, those that scored above the positive at its last visit, re-fed
# at its next one. *N_false*: the mined false negatives, entries re-fed from N_rec more than m
# times. *HR@10* (hit ratio): the share of users whose held-out next item ranks among the top ten
# candidates; *NDCG@10* (normalised discounted cumulative gain): the same with a credit that falls
# with the rank. "Sampled" metrics rank the item among `eval_neg` random negatives, "full" among
# all items.
#
# **Order.** Do notebook 08 (the walkthrough) first: on a two-user toy that trains nothing it
# shows how an entry enters N_rec, is counted, reversed and given a soft label. This notebook then
# measures on data whether that mechanism finds real false negatives.
#
# Writes `results/<profile>/tables/07_*.{csv,md}`, `results/<profile>/figures/07_*.{png,pdf}` and
# `results/<profile>/tables/07_teaching_false_negatives.json` (under `$UFN_RESULTS_DIR` when set). Runs are
# cached in `results/runs/`: a second execution only redraws.

# %%
import pandas as pd

import ufnlib
from ufnlib.analysis import report, teaching
from ufnlib.analysis.teaching import moves, signed
from ufnlib.data.synthetic import SyntheticSpec, uniform_false_negative_rate
from ufnlib.experiments.health import valid_chance
from ufnlib.negatives.diagnostics import chance_level
from ufnlib.training.algorithm1 import WARMUP_MIN_LIFT

# %% tags=["parameters"]
profile = "paper"                          # smoke | quick | paper
compute = False                            # True: train the runs the cache lacks (the exercises need it);
                                           # False: a missing run stops the notebook with the command
seeds = [1]                                # training seeds (tables average over them)
dataset = "synthetic"                      # the generator's defaults (see ufnlib/data/synthetic.py)
exposures = [0.2, 0.35, 0.5, 0.8]          # grid: chance that a liked item is shown
catalogue_sizes = [100, 300, 1000, 3000]   # grid: number of items
grid_users = 1000                          # users per generated grid dataset
strategies = ["uniform", "removal", "fmr", "ufn"]
m = 2                                      # re-fed more than m times -> N_false (paper: m)
m_values = [1, 2, 4]                       # the m sweep (strategy fmr)
warmup_epochs = 15                         # fixed warm-up: mining starts after this many epochs
                                           # (after SASRec leaves its flat start: section 3 prints when)
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
# generator's ground truth (a test checks it against the sampler itself). A user likes about the
# same number of items whatever the catalogue (the generator's `liked_per_user`), so $p_u$ falls
# with the catalogue size, and with the exposure rate (more exposure, fewer liked items left
# unseen). In the smallest catalogue a user's clusters hold fewer items than that, so liked sets,
# and false negatives, shrink there.

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
# The generator's defaults (`ufnlib.data.synthetic.SyntheticSpec`; users and items in the table
# below): items fall into clusters, each a storyline cycle, and a user walks the shown items of
# their clusters in cycle order, so the next item is predictable. Each liked item is shown with
# probability `exposure`; the liked items never shown are the user's false negatives
# (`fn_per_user` below).

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
# falling rapidly" rule (`warmup_ended`): on this data SASRec first sits for several epochs at
# the loss of a constant prediction (the line printed under the table gives the epoch it leaves
# that flat start), and the plateau rule would fire there, before the backbone has learnt
# anything (see exercise 4). `teaching.check_warmup` warns if validation HR@10 is still low when
# mining starts.

# %%
runs = {s: [teaching.cached_run(base.replace(strategy=s, seed=seed), compute, threads) for seed in seeds]
        for s in strategies}
summary = teaching.summary_frame([r for rs in runs.values() for r in rs], per_position=True)
table = summary.groupby("strategy", sort=False).mean(numeric_only=True).drop(columns=["m"])
caption = (f"Table 07b. Strategies on synthetic data (m = {m}). {protocol}. Mining columns: averages "
           "over the last 3 epochs of the mining phase; mined_per_position = mined entries / training "
           "positions of the epoch; precision against the generator's ground truth.")
report.save_table(table, "07_strategies", caption, formats=teaching.SUMMARY_FORMATS)
chance = valid_chance(runs["uniform"][0])
learnt = teaching.learnt_at(runs["uniform"][0])
print(f"uniform, seed {seeds[0]}: validation NDCG@10 first exceeds {WARMUP_MIN_LIFT:g} x chance "
      f"({WARMUP_MIN_LIFT * chance:.3f}) at " + (f"epoch {learnt}" if learnt else f"none of its {epochs} epochs")
      + f"; mining starts after epoch {warmup_epochs}")
table.round(3)

# %% [markdown]
# ## 4. Does the memory find false negatives?
#
# For each mining epoch the diagnostics compare three sets with the ground truth: *mined
# precision*, the share of the entries counted more than m times (the ones reversed or removed)
# that are real false negatives; *random precision*, the same share among that epoch's random
# negatives, which is the baseline $p$ of Section 1; and the *N_false set* (distinct (user, item)
# pairs whose counter exceeds m), with its precision and its recall of all the users' false
# negatives.
#
# The two uses of what is mined ask different things of it. *Removal* drops a mined entry from
# the loss: it can help as soon as mined entries are false negatives more often than random draws
# are (mined precision above random precision), since each false negative it drops is a wrong
# label fewer and each true negative it drops is only one negative out of n. *Reversal* (`fmr`,
# `ufn`) turns each mined entry into a positive, so every mined true negative becomes a wrong
# positive label: it helps only if most mined entries are real, mined precision well above one
# half. The line under the figure reads both conditions, and each strategy's change against
# `uniform`, off Table 07b.
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

# %%
u = table.loc["uniform"]
for s in [s for s in strategies if s != "uniform"]:
    r = table.loc[s]
    print(f"{s}: mined precision {r.mined_precision:.3f} = {r.mined_precision / r.random_precision:.1f} x random "
          f"({r.random_precision:.3f}), {r.mined_per_position:.2f} mined entries per position; against uniform: "
          f"test NDCG@10 {signed(r.test_ndcg10 - u.test_ndcg10)}, HR@10 {signed(r.test_hr10 - u.test_hr10)}, "
          f"full HR@10 {signed(r.test_full_hr10 - u.test_full_hr10)}")
miners = table.drop(index="uniform")
above_random = bool((miners["mined_precision"] > miners["random_precision"]).all())
above_half = bool((miners["mined_precision"] > 0.5).all())
print(f"Mined precision is {'above' if above_random else 'not always above'} random precision for every "
      f"mining strategy (removal's condition {'holds' if above_random else 'fails'}) and "
      f"{'above' if above_half else 'below'} one half (at most {miners['mined_precision'].max():.3f}: reversal's "
      f"condition {'holds' if above_half else 'fails'}: "
      + ("most reversed entries are real false negatives)." if above_half else
         "most reversed entries are true negatives relabelled as positives).")
      + f" Means over seeds {seeds}, no interval.")

# %% [markdown]
# ## 5. How m changes what is mined
#
# A larger m asks a negative to beat the positive at more visits before it counts as a false
# negative: fewer entries are mined, later, and (if the premise holds) more of them are real. The
# line under the table answers that from the table.

# %%
sweep_runs = {mv: [teaching.cached_run(base.replace(strategy="fmr", m=mv, seed=seed), compute, threads)
                   for seed in seeds] for mv in m_values}
sweep = teaching.summary_frame([r for rs in sweep_runs.values() for r in rs], per_position=True)
sweep = sweep.groupby("m").mean(numeric_only=True)
caption = (f"Table 07c. FMR with different m (strategy fmr). {protocol}. Mining columns: averages over "
           "the last 3 epochs.")
report.save_table(sweep, "07_m_sweep", caption, formats=teaching.SUMMARY_FORMATS)
fig = teaching.plot_mining({f"m = {mv}": teaching.mining_history(rs[0]) for mv, rs in sweep_runs.items()},
                           title=f"strategy fmr, seed {seeds[0]}")
report.save_figure(fig, "07_m_sweep")

if len(sweep) < 2:
    print(f"one value of m ({', '.join(str(x) for x in sweep.index)}): nothing to compare")
else:
    lo, hi = sweep.loc[sweep.index.min()], sweep.loc[sweep.index.max()]
    per_m = ", ".join(f"{p:.3f}" for p in sweep["mined_precision"])
    print(f"From m = {sweep.index.min()} to m = {sweep.index.max()}: mined entries per epoch {lo.mined:,.0f} -> "
          f"{hi.mined:,.0f}; mined precision {moves(lo.mined_precision, hi.mined_precision)} ({per_m} for m = "
          f"{', '.join(str(x) for x in sweep.index)}); N_false precision "
          f"{moves(lo.nfalse_precision, hi.nfalse_precision)} ({lo.nfalse_precision:.3f} -> "
          f"{hi.nfalse_precision:.3f}) and its recall {moves(lo.nfalse_recall, hi.nfalse_recall)} "
          f"({lo.nfalse_recall:.3f} -> {hi.nfalse_recall:.3f}). "
          + ("So with a larger m the entries reversed in an epoch are more often real"
             if hi.mined_precision - lo.mined_precision > 0.01 else
             "So a larger m reverses fewer entries per epoch without making them more often real")
          + (", while the cumulative N_false set gets more precise" if hi.nfalse_precision - lo.nfalse_precision > 0.01
             else "")
          + (" and misses more of the false negatives. " if lo.nfalse_recall - hi.nfalse_recall > 0.01 else ". ")
          + f"Mined precision stays {'below' if sweep['mined_precision'].max() < 0.5 else 'above'} one half "
            "for every m.")
sweep.round(3)

# %% [markdown]
# ## 6. Another detector: SRNS
#
# The paper's Table 4 compares FMR's detector with the variance-based one of SRNS (Ding et al.,
# 2020), used to remove the detected false negatives (`+SRNS`). The library's strategy
# `srns_removal` does that: it runs here with the same backbone and schedule, for every seed in
# `seeds`, beside `removal` (FMR's detector, same use of what it detects). The table and the line
# under it are means over the seeds; the line also counts the seeds in which each detector is the
# more precise. The plot shows the first seed's epochs (its title names the seed).

# %%
srns_runs = [teaching.cached_run(base.replace(strategy="srns_removal", seed=seed), compute, threads) for seed in seeds]
compare = {"removal (FMR detector)": mining["removal"], "srns_removal": teaching.mining_history(srns_runs[0])}
fig = teaching.plot_mining(compare, title=f"FMR vs SRNS detector, seed {seeds[0]} (of seeds {seeds})")
report.save_figure(fig, "07_srns_vs_fmr")
per_seed = teaching.summary_frame(runs["removal"] + srns_runs)
detectors = per_seed.groupby("strategy", sort=False).mean(numeric_only=True).drop(columns=["m"])
display(detectors.round(3))
fm, sr = detectors.loc["removal"], detectors.loc["srns_removal"]
keys = ["mined", "mined_precision", "random_precision", "nfalse_precision", "nfalse_recall", "test_ndcg10"]
if detectors[keys].isna().any().any():
    print(f"no detector comparison: a run has no mining diagnostics (seeds {seeds}, {epochs} epochs)")
else:
    prec = {s: per_seed.loc[per_seed["strategy"] == s, "mined_precision"].to_numpy()
            for s in ("removal", "srns_removal")}
    more = int((prec["srns_removal"] > prec["removal"]).sum())          # seeds in the same order
    print(f"Means over seeds {seeds} (one run per seed and detector, no interval): SRNS's detector flags "
          f"{sr['mined']:,.0f} entries per epoch against FMR's {fm['mined']:,.0f}, with precision "
          f"{sr['mined_precision']:.3f} against {fm['mined_precision']:.3f} (random: {sr['random_precision']:.3f}); "
          f"its N_false set has precision {sr['nfalse_precision']:.3f} against {fm['nfalse_precision']:.3f} and "
          f"recall {sr['nfalse_recall']:.3f} against {fm['nfalse_recall']:.3f}. SRNS is "
          f"{'more' if sr['mined_precision'] > fm['mined_precision'] else 'less'} precise on average (more precise "
          f"in {more} of {len(seeds)} seeds) and finds "
          f"{'fewer' if sr['nfalse_recall'] < fm['nfalse_recall'] else 'more'} of the false negatives; removing what "
          f"it flags moves test NDCG@10 by {sr['test_ndcg10'] - fm['test_ndcg10']:+.3f} against removal with FMR's "
          "detector.")
srns_row = {"strategy": "srns_removal", **sr.to_dict()}

# %% [markdown]
# ## 7. When mining starts too early
#
# Everything above mines after a fixed warm-up of `warmup_epochs`, chosen once we had seen when
# SASRec learns here. The paper's rule is "while $\mathcal{L}_{basic}$ is descending rapidly";
# the reference code ends warm-up when the per-epoch loss decrease falls below 1/200 of the first
# five epochs' decrease. On this data with the paper's settings (the defaults of `ufnlib.Config`,
# printed under the table) SASRec's loss flattens *before* it learns the storylines: its
# validation sits near chance (the grey dashed line; its value is printed under the table) for
# many epochs, then rises (the printed line gives the epoch). The plateau rule fires in that flat
# start. On an untrained model almost every negative outscores the positive, so
# N_rec fills, entries pass m re-feeds and are reversed into positives, more every epoch: mining
# runs away and the model never learns. `ufnlib` flags this (`diagnostics.runaway`: mined entries
# per position growing while validation stays near chance or falls), warns, and names such runs
# in every table. The validation-based warm-up (`warmup="validation"`) waits until the backbone has
# learnt (best validation above twice chance) and then stopped improving.
#
# The three runs: SASRec, UFN with the reference's plateau rule, UFN with the validation rule;
# the paper's settings, the default protocol, at most `early_epochs` epochs (a cross: the epoch
# the run was flagged; dotted: warm-up end).
#
# The `marks` column holds the run's warnings (`ufnlib.experiments.health`):
#
# - `failed`: validation never rose above `WARMUP_MIN_LIFT` x chance; the model ranks about as
#   well as a random ranking.
# - `flat_start`: early stopping ended the run after few optimizer steps
#   (`training.train.stopped_after_few_steps`), possibly inside the flat start of its learning curve.
# - `runaway`: `diagnostics.runaway` flagged runaway mining, mined entries per position growing
#   while validation stays near chance or falls.
# - `cap`: the epoch cap (`max_epochs`) ended a run that was still improving (best epoch within the
#   last `patience` epochs).
#
# `best_after_mining` says whether the epoch chosen on validation comes after mining started: a
# "no" means the reported checkpoint was saved during the warm-up, so it is plain SASRec.

# %%
early_base = ufnlib.Config(dataset=dataset, max_epochs=early_epochs)
early_kw = {"SASRec": dict(strategy="uniform"), "UFN, plateau warm-up (reference)": dict(strategy="ufn"),
            "UFN, validation warm-up": dict(strategy="ufn", warmup="validation")}
early = {k: teaching.cached_run(early_base.replace(**kw, seed=seeds[0]), compute, threads)
         for k, kw in early_kw.items()}
fig = teaching.plot_runaway(early)
report.save_figure(fig, "07_runaway")
runaway = teaching.runaway_table(early)
report.save_table(runaway, "07_runaway", "Table 07d. Mining started too early: SASRec and UFN with the paper's "
                  f"settings on `{dataset}` (seed {seeds[0]}, at most {early_epochs} epochs, epoch chosen on "
                  "validation); runaway_at = the epoch diagnostics.runaway flagged, if any; best_after_mining = "
                  "the chosen epoch comes after the warm-up end (no: the checkpoint is plain SASRec); marks = the "
                  "run's warnings (ufnlib.experiments.health: failed, flat_start, runaway, cap).",
                  formats={"best_valid": "{:.3f}", "test_ndcg10": "{:.3f}"})
e_chance = chance_level("ndcg@10", early_base.eval_neg)
print(f"paper settings: hidden {early_base.hidden}, dropout {early_base.dropout}, lr {early_base.lr}, batch "
      f"{early_base.batch_size}; chance level of validation NDCG@10 with {early_base.eval_neg} negatives: "
      f"{e_chance:.4f}; SASRec's validation first exceeds {WARMUP_MIN_LIFT:g} x chance at "
      + (f"epoch {e_learnt}" if (e_learnt := teaching.learnt_at(early["SASRec"])) else
         f"none of its {early['SASRec'].epochs_run} epochs"))
for label, r in runaway.iterrows():
    if r["best_after_mining"] == "no":
        print(f"{label}: best epoch {r['best_epoch']:.0f}, warm-up end {r['warmup_end']:.0f}: the checkpoint chosen "
              f"on validation was saved before mining started, so its test NDCG@10 ({r['test_ndcg10']:.3f}) is plain "
              f"SASRec's, not UFN's.")
    elif r["best_after_mining"] == "yes":
        print(f"{label}: best epoch {r['best_epoch']:.0f}, after the warm-up end {r['warmup_end']:.0f}: the reported "
              f"checkpoint has been trained with mining.")
runaway

# %% [markdown]
# ## 8. Exercises
#
# Set `compute = True` in the `parameters` cell, change it as below and rerun (cached runs come back at
# once; new settings train, a few minutes each on a laptop's CPU):
#
# 1. **Exposure.** Set `dataset = "synthetic:exposure=0.8"` (fewer false negatives) and
#    `"synthetic:exposure=0.2"` (many). Does mined precision follow random precision, or does the
#    gap between them stay? Which strategy's test HR@10 moves most?
# 2. **Catalogue size.** With `"synthetic:items=1000"` a random negative is a false negative
#    several times less often than with the default catalogue (Table 07a; the ratio is printed
#    below). Is mining still worth it?
# 3. **m.** Extend `m_values` to `[1, 2, 4, 8]` and `epochs` to 40. When does N_false recall stop
#    growing, and what does a large m cost in mined entries?
# 4. **Warm-up.** Set `warmup_epochs = 3`, before SASRec has learnt the sequences (validation HR@10
#    still near chance; both are printed below). What does the memory record then, and how precise
#    is it?
# 5. **Stickiness.** `"synthetic:stickiness=0.3"` weakens the sequential signal. Does mining depend
#    on how well the backbone models the sequences?

# %%
share = grid.set_index(["exposure", "items"])["share_per_draw"]
spec = SyntheticSpec()
if (spec.exposure, spec.items) in share.index and (spec.exposure, 1000) in share.index:
    print(f"exercise 2: at exposure {spec.exposure:g}, a uniform draw is a false negative "
          f"{share[(spec.exposure, spec.items)] / share[(spec.exposure, 1000)]:.1f} times less often with 1000 items "
          f"than with {spec.items}")
hr3 = teaching.mining_history(runs["uniform"][0])["valid_hr10"].get(3)
print(f"exercise 4: chance level of validation HR@10 with {base.eval_neg} negatives: "
      f"{chance_level('hr@10', base.eval_neg):.3f}; uniform's validation HR@10 at epoch 3: "
      + (f"{hr3:.3f}" if hr3 is not None else "not run"))

# %% [markdown] tags=["solution"]
# ### Solutions (teacher's copy)
#
# The cells tagged `solution` from here to section 9 answer the exercises. `python
# scripts/student_copy.py` writes a copy of this notebook without them for the students (every
# exercise stays). Each solution trains nothing itself unless `compute = True`: it reads the runs
# of the exercise's settings from the cache, for every seed in `seeds`, and averages over the
# seeds whose runs are all there (it names them; no interval). Where no seed is complete it says
# "not computed" and prints the settings and the command that compute the missing runs. The line
# under each table reads the table; a difference under 0.01 counts as level.

# %% tags=["solution"]
from ufnlib.analysis import exercises

default_spec = teaching.synthetic_spec(dataset)

# %% tags=["solution"]
# Exercise 1: exposure. The four strategies at a low, the default and a high exposure rate.
ex1_levels = sorted({0.2, default_spec.exposure, 0.8})
ex1 = teaching.solution({(e, s): base.replace(dataset=teaching.variant(dataset, exposure=e), strategy=s)
                         for e in ex1_levels for s in strategies}, seeds, compute, threads,
                        names=["exposure", "strategy"])
if ex1.missing:
    print(teaching.missing_text("exercise 1", ex1, base))
if ex1.table is not None:
    t, reading = exercises.exercise1(ex1)
    display(t.round(3))
    print("\n".join(reading))

# %% tags=["solution"]
# Exercise 2: catalogue size. The four strategies with the default catalogue and with 1000 items.
ex2_sizes = sorted({default_spec.items, 1000})
ex2 = teaching.solution({(n, s): base.replace(dataset=teaching.variant(dataset, items=n), strategy=s)
                         for n in ex2_sizes for s in strategies}, seeds, compute, threads,
                        names=["items", "strategy"])
if ex2.missing:
    print(teaching.missing_text("exercise 2", ex2, base))
if ex2.table is not None:
    t, reading = exercises.exercise2(ex2)
    display(t.round(3))
    print("\n".join(reading))

# %% tags=["solution"]
# Exercise 3: m. Strategy fmr with m extended to 8, trained ten epochs longer.
ex3_m, ex3_epochs = sorted(set(m_values) | {8}), epochs + 10
ex3 = teaching.solution({mv: base.replace(strategy="fmr", m=mv, max_epochs=ex3_epochs, patience=ex3_epochs)
                         for mv in ex3_m}, seeds, compute, threads, names=["m"])
if ex3.missing:
    print(teaching.missing_text("exercise 3", ex3, base))
if ex3.table is not None:
    t, reading = exercises.exercise3(ex3, ex3_epochs, warmup_epochs)
    display(t.round(3))
    print("\n".join(reading))

# %% tags=["solution"]
# Exercise 4: warm-up. Strategy fmr mining from epoch 4, against the same with this notebook's warm-up.
ex4_warmups = sorted({3, warmup_epochs})
ex4 = teaching.solution({w: base.replace(strategy="fmr", warmup_epochs=w) for w in ex4_warmups}, seeds, compute,
                        threads, names=["warmup_epochs"])
if ex4.missing:
    print(teaching.missing_text("exercise 4", ex4, base))
if ex4.table is not None:
    t, reading = exercises.exercise4(ex4, base.eval_neg)
    display(t.round(3))
    print("\n".join(reading))

# %% tags=["solution"]
# Exercise 5: stickiness. uniform and fmr with a weak and the default sequential signal.
ex5_levels = sorted({0.3, default_spec.stickiness})
ex5 = teaching.solution({(k, s): base.replace(dataset=teaching.variant(dataset, stickiness=k), strategy=s)
                         for k in ex5_levels for s in ("uniform", "fmr")}, seeds, compute, threads,
                        names=["stickiness", "strategy"])
if ex5.missing:
    print(teaching.missing_text("exercise 5", ex5, base))
if ex5.table is not None:
    t, reading = exercises.exercise5(ex5)
    display(t.round(3))
    print("\n".join(reading))

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
    "srns_seeds": seeds,
    "runaway": runaway.reset_index().to_dict(orient="records"),
}
report.save_numbers("07_teaching_false_negatives", numbers)
