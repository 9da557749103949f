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
# # 06 · Case study (Figure 5)
#
# What does UFNRec mine, and does it change what is recommended? The paper shows one user's history,
# the false negatives UFNRec mined for them at the last epoch, their next clicks, and the top-5 of
# SASRec and UFNRec, by item category. We do the same on real data with the S3-Rec item attributes
# as categories (names from `UFN_DATA_DIR/names/`), then ask the question across all users: how
# often a mined false negative is of the user's main interest (carries the dominant category of the
# user's history), or is an item the user interacts with later (the valid or test item), compared
# with random negatives. The trainer does
# not keep per-user mined lists, so the mining rule is replayed with the UFN run's selected weights
# held fixed (see `ufnlib.analysis.casestudy`): a proxy of the last epoch's false negatives, stated as such.
# The trainer's own counters of the last mining epoch are shown beside it. One user is an anecdote;
# the aggregate is the evidence.
#
# Writes `results/<profile>/figures/figure5_case_study.{png,pdf}`, `results/<profile>/tables/figure5_*.{csv,md}` and
# `results/<profile>/tables/06_case_study.json`.

# %%
from ufnlib.analysis import casestudy, plots, report
from ufnlib.experiments import grid, profiles

# %% tags=["parameters"]
profile = "paper"     # smoke | quick | paper (ufnlib.experiments.profiles says what each one runs)
dataset = None        # None: the profile's (smoke: synthetic; quick, paper: beauty); or a file path
seed = None           # which runs' seed (None: the profile's first)
user = None           # 0-based user index to show (None: drawn with user_seed among eligible users)
user_seed = 0         # seed of that draw
compute = False       # True: train the missing runs (False: report what the cache holds)
workers = None        # processes for missing runs (None: smoke in-process, else one per core)

# %%
report.use_profile(profile)
dataset = profiles.defaults(profile, dataset=dataset)

# %% [markdown]
# ## 1. The runs
#
# The runs `profiles.case_study` lists for this profile come from the cache; missing ones are listed, and trained
# only with `compute = True` (each run once, whichever notebook asks first). Tables and figures
# are built from the runs that are there, and say so.

# %%
runs = grid.notebook_runs(profiles.case_study(profile, seed, dataset), profile, compute, workers)

# %%
study = casestudy.CaseStudy(runs, dataset)
print(study.status)

# %% [markdown]
# ## 2. Mined false negatives, replayed
#
# FMR (paper Eq. 5): a negative that outscores the positive is recorded and fed again at the next
# visit; one re-fed more than $m$ times is a false negative. Replayed here for $m + 2$ passes with
# the selected UFN weights fixed. The replayed set and both models' top-10 lists are computed once
# from the weights and kept in `results/casestudy/<SASRec key>-<UFN key>.npz` (committed, about 2 MB
# on Beauty; `ufnlib.analysis.case_artefacts`), so that a clone without the weights
# (`results/models/` is not in git) shows the same numbers. A file computed from another run of
# the same configs is not used.

# %%
mined = study.mine()
print("categories:", study.category_source)
print(study.mined_summary())

# %% [markdown]
# ## 3. Figure 5: one user

# %%
case = study.case(user, user_seed)
if case is not None:
    report.save_table(study.case_table(case), "figure5_case", study.case_caption(case, profile), index=False)
    report.save_figure(plots.plot_case(case), "figure5_case_study")
    print(f"user {case['user']}; dominant history category: {case['dominant']}")
    display(study.case_table(case))

# %% [markdown]
# ## 4. Across all users: mined vs random negatives
#
# Share of (user, item) pairs whose item carries the user's dominant history category
# (`dominant_category`: the category most frequent over the user's training items; the user's main
# interest, as in Figure 5), and share that is the user's later (valid or test) item; on synthetic
# data also the share that is a true false negative of the generator. `any_history_attribute` is a
# looser, secondary column: the item shares any attribute (brand included) with any history item,
# which random negatives mostly do too; it does not decide the claim. Then, per model, the share of
# the top-5 in the user's dominant history category and the hit rate of the next two items.
#
# "Mainly of the user's main interest" is decided on the dominant-category share of the mined false
# negatives: above one half (mainly), and above the share among random negatives (more than chance).
#
# The claims are decided with a margin (`ufnlib.analysis.case_claims`): a 95% interval of each
# difference over users (for mined against random negatives clustered by user, since a user's
# pairs are not independent; for UFNRec against SASRec paired per user). A claim holds when the
# interval lies on the claimed side of zero, is contradicted when it lies on the other, and is
# not shown otherwise. There is one SASRec and one UFN run (one training seed), as in the paper's
# case study: the intervals cover the sampling of users, not training randomness.

# %%
agg = study.aggregate()
if agg is not None:
    cap = study.aggregate_caption(profile)
    report.save_table(agg, "figure5_aggregate", "Shares over (user, item) pairs. dominant_category: the item "
                      "carries the user's dominant history category (the most frequent over the training items; "
                      "users without one left out), the measure the main-interest claim is decided on; "
                      "any_history_attribute (secondary, looser): the item shares any attribute, brand included, "
                      "with any history item; later: the user's valid or test item. " + cap)
    report.save_table(study.topk(), "figure5_topk", study.topk_caption(profile))
    print("training-time counters of the last mining epoch:", study.training_diagnostics())
    display(agg)
claims = study.claims()
report.save_claims(claims, "figure5_claims",
                   "Claims of the paper's case study, tested across users. " + study.aggregate_caption(profile))

# %% [markdown]
# ## 5. Key numbers

# %%
numbers = {"profile": profile, "dataset": dataset, "runs": runs.to_dict(), **study.numbers(),
           "claims": {f"{c.source}: {c.text}": c.ours for c in claims}}
report.save_numbers("06_case_study", numbers)
