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
# # 05 · Training curves (Figure 4)
#
# How do SASRec and UFNRec evolve over training? The paper's Figure 4 plots HR@10 and NDCG@10 per
# epoch on Beauty. These are **validation** curves (the sampled-100 protocol on the validation
# split, the numbers the trainer uses to choose the epoch), not test curves: test is looked at only
# once, at the chosen epoch. After warm-up, UFNRec's curve is its EMA teacher's (the model it
# reports); its student is dashed. A dotted line marks the warm-up end, where mining and the teacher
# start. Runs stop 20 validations after their best epoch, so curves end earlier than the paper's.
# Our Beauty is the S3-Rec version, not the paper's.
#
# Writes `results/<profile>/figures/figure4_training_curves.{png,pdf}`,
# `results/<profile>/tables/figure4_data.{csv,md}`, `figure4_claims` and
# `results/<profile>/tables/05_training_curves.json`.

# %%
from ufnlib.analysis import heldout, plots, report, tables
from ufnlib.experiments import grid, profiles

# %% tags=["parameters"]
profile = "paper"     # smoke | quick | paper (ufnlib.experiments.profiles says what each one runs)
dataset = None        # None: the profile's (smoke: synthetic; quick, paper: beauty); or a file path
seeds = None          # None: the profile's (smoke: 1, 2; quick: 1; paper: 1, 2, 3)
compute = False       # True: train the missing runs (False: report what the cache holds)
workers = None        # processes for missing runs (None: smoke in-process, else one per core)

# %%
report.use_profile(profile)
dataset, seeds = profiles.defaults(profile, dataset=dataset, seeds=seeds)

# %% [markdown]
# ## 1. The runs
#
# The runs `profiles.training_curves` lists for this profile come from the cache; missing ones are listed, and trained
# only with `compute = True` (each run once, whichever notebook asks first). Tables and figures
# are built from the runs that are there, and say so.

# %%
runs = grid.notebook_runs(profiles.training_curves(profile, seeds, dataset), profile, compute, workers)

# %% [markdown]
# ## 2. Figure 4: validation curves

# %%
frame = plots.curves_frame(runs.records)
caption = ("Figure 4 data: validation HR@10 / NDCG@10 (sampled-100 protocol on the validation split, not test) "
           "per epoch; model = reported (UFNRec: the EMA teacher after warm-up) or student. "
           + tables.protocol(runs.records, "sampled", profile, split="valid",
                             numbers="one value per run and validated epoch, no aggregation over seeds"))
report.save_table(frame, "figure4_data", caption, index=False)
fig = plots.plot_curves(frame)
report.save_figure(fig, "figure4_training_curves")
print(caption)

# %% [markdown]
# ## 3. The paper's claims about Figure 4
#
# Each sentence is decided by the comparison model on per-seed summaries of the curves (or, for
# "surpasses", on the runs' validation at their selected epochs, users included): holds,
# contradicted, or not shown when the seeds cannot tell.
#
# These curves are read on runs whose training negatives may be the user's own validation item
# (the reference's sampler excludes only training items), so UFN can mine it, reverse it into a
# positive and lift its own validation curve. Each claim's detail says so; notebook 09 (section 6)
# decides the same claims on runs with the held-out items out of reach.

# %%
claims = plots.curve_claims(frame, res=runs, note=heldout.CURVE_NOTE[False])
report.save_claims(claims, "figure4_claims",
                   "Claims of the paper about Figure 4, tested on our validation curves by the comparison model "
                   "(verdict of a comparison, " + tables.comparison.RULE + "). " + caption)

# %% [markdown]
# ## 4. Key numbers

# %%
numbers = {"profile": profile, "dataset": dataset, "seeds": seeds, "runs": runs.to_dict(),
           "warmup_end_epochs": {f"{r.strategy}/s{r.seed}": r.warmup_end
                                 for r in runs.records},
           "best_epochs": {f"{r.strategy}/s{r.seed}": r.best_epoch
                           for r in runs.records},
           "claims": {f"{c.source}: {c.text}": c.ours for c in claims}}
report.save_numbers("05_training_curves", numbers)
