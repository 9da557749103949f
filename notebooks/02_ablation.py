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
# # 02 · Ablation: FMR and FCR (Table 3)
#
# Which part of UFNRec helps? On Beauty with SASRec, the paper compares the backbone with +FMR
# (false negatives mined from the memory of negatives that outscored the positive, then trained as
# positives), +FCR (the same mining, labels kept at 0, plus the consistency loss against an EMA
# teacher) and +UFN (both). UFN and FCR report their EMA teacher's weights, so we add a control the
# paper does not have: SASRec trained exactly as published but evaluated with an EMA of its weights
# from the same warm-up end (`ema_eval`). If most of +UFN's gain over SASRec is the EMA's, it shows
# here. A column with UFN's student weights completes the picture. Our Beauty is the S3-Rec version,
# not the paper's.
#
# Writes `results/<profile>/tables/table3*.{csv,md}` (`table3`, `table3_data`, `table3_claims`,
# `table3_full`, `table3_full_data`, and the run-by-run table `table3_runs`) and
# `results/<profile>/tables/02_ablation.json`.

# %%
from ufnlib.analysis import report, run_tables, stats, tables
from ufnlib.experiments import grid, profiles

# %% tags=["parameters"]
profile = "paper"     # smoke | quick | paper (ufnlib.experiments.profiles says what each one runs)
dataset = None        # None: the profile's (smoke: synthetic; quick, paper: beauty); or a file path
seeds = None          # None: the profile's (smoke: 1, 2; quick: 1; paper: 1, 2, 3)
test = "wilcoxon"     # per-user significance test: wilcoxon | ttest
compute = False       # True: train the missing runs (False: report what the cache holds)
workers = None        # processes for missing runs (None: smoke in-process, else one per core)

# %%
report.use_profile(profile)
dataset, seeds = profiles.defaults(profile, dataset=dataset, seeds=seeds)

# %% [markdown]
# ## 1. The runs
#
# The runs `profiles.ablation` lists for this profile come from the cache; missing ones are listed, and trained
# only with `compute = True` (each run once, whichever notebook asks first). Tables and figures
# are built from the runs that are there, and say so.

# %%
runs = grid.notebook_runs(profiles.ablation(profile, seeds, dataset), profile, compute, workers)

# %% [markdown]
# ## 2. Table 3, sampled-100 protocol
#
# The final loss of +UFN is $\mathcal{L}_{final} = \mathcal{L}_{basic} + \alpha\,\mathcal{L}_{con}$
# (paper Eq. 9): the basic BCE with mined false negatives relabelled 1, plus the BCE of the
# student's logits against the teacher's probabilities on those entries. +FMR keeps only the
# relabelling, +FCR only $\mathcal{L}_{con}$.

# %%
ufn_student = stats.as_student(runs.select(strategy="ufn"))
t3 = tables.table3(runs, "sampled", test=test, profile=profile, student=ufn_student)
report.save_result(t3, "table3")
print(t3.caption)
t3.display

# %% [markdown]
# ## 3. The paper's claims about Table 3, and the control

# %%
report.save_claims(t3.claims, "table3_claims",
                   "Claims of the paper about Table 3 (and our EMA control), tested on our runs. " + t3.caption)

# %% [markdown]
# ## 4. The same under full ranking

# %%
t3f = tables.table3(runs, "full", test=test, profile=profile, student=ufn_student)
report.save_result(t3f, "table3_full")
t3f.display

# %% [markdown]
# ## 5. Every run
#
# Table 3's variants, the EMA control and SASRec^R from the cached runs of the paper's defaults, with
# their run keys (docs/results.md shows this table).

# %%
report.save_table(run_tables.ablation(run_tables.cached_records()), "table3_runs", run_tables.caption(
    "Table 3's variants, the EMA control and SASRec^R (the paper's values of Table 4) on Beauty."), index=False)

# %% [markdown]
# ## 6. Key numbers

# %%
numbers = {"profile": profile, "dataset": dataset, "seeds": seeds, "runs": runs.to_dict(),
           "test_sampled_means": {f"{r.arm}/{r.metric}": r.mean for r in t3.long.itertuples()},
           "claims": {f"{c.source}: {c.text}": c.ours for c in t3.claims}}
report.save_numbers("02_ablation", numbers)
