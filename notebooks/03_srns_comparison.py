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
# # 03 · Removing vs utilising false negatives (Table 4)
#
# Is it better to drop suspected false negatives from the loss, or to use them as UFNRec does? The
# paper's Table 4 compares, on Beauty with SASRec: the backbone; three removal methods (SASRec^R:
# FMR's mining, mined entries removed; +SRNS^R and +SRNS: SRNS's variance rule as the detector, on
# the memory N_rec or on all negatives, removed); and three ways to use them (+UFN^R_srns and
# +UFN_srns: the SRNS detector followed by UFN's reversal and consistency loss; +UFN). The paper
# draws four observations from the table; each is stated below as holding, contradicted, not
# shown (the comparisons cannot tell), or not computed (a column whose runs are missing), on our
# numbers by the comparison model and on the paper's own printed means.
# Our Beauty is the S3-Rec version, not the paper's.
#
# Writes `results/<profile>/tables/table4*.{csv,md}` (`table4`, `table4_data`, `table4_claims`,
# `table4_vs_ufn`, `table4_full`, the detector tables `table4_detectors*`, and the run-by-run table
# `table4_runs`), `results/<profile>/figures/table4_detectors*.{png,pdf}` and
# `results/<profile>/tables/03_srns_comparison.json`.

# %%
from ufnlib.analysis import detector_tables, plots, report, run_tables, tables, teaching
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
# The runs `profiles.srns_comparison` lists for this profile come from the cache; missing ones are listed, and trained
# only with `compute = True` (each run once, whichever notebook asks first). Tables and figures
# are built from the runs that are there, and say so.

# %%
runs = grid.notebook_runs(profiles.srns_comparison(profile, seeds, dataset), profile, compute, workers)

# %% [markdown]
# ## 2. Table 4, sampled-100 protocol

# %%
t4 = tables.table4(runs, "sampled", test=test, profile=profile)
report.save_result(t4, "table4")
print(t4.caption)
t4.display

# %% [markdown]
# ## 3. The paper's four observations

# %%
report.save_claims(t4.claims, "table4_claims",
                   "Claims of the paper (its four observations about Table 4), tested on our runs and on its "
                   "own printed numbers. " + t4.caption)

# %% [markdown]
# Observations 3 and 4 compare +UFN with the other columns; the same runs with +UFN as the baseline
# say how large, and how certain, each of those differences is.

# %%
vs_ufn = tables.table4_versus_ufn(runs, "sampled", test=test)
report.save_result(vs_ufn, "table4_vs_ufn")
print(vs_ufn.caption)
vs_ufn.display.xs("ndcg@10")

# %% [markdown]
# ## 4. The same under full ranking

# %%
t4f = tables.table4(runs, "full", test=test, profile=profile)
report.save_result(t4f, "table4_full")
t4f.display

# %% [markdown]
# ## 5. Which detector finds real false negatives?
#
# Table 4 ranks the columns by their test scores; it does not say whether a detector finds false
# negatives. Two views of that. On Beauty the only ground truth is what each user did next: a
# flagged item that is the user's validation or test item is a false negative the user did
# interact with later, and the same share among the uniformly drawn negatives is the baseline
# (`ufnlib/negatives/diagnostics.py`). On synthetic data the generator knows every item each user likes but
# never saw, so the precision of what is flagged, and the recall of N_false, are exact.

# %%
det = detector_tables.detectors(runs)
report.save_result(det, "table4_detectors")
print(det.caption)
det.display

# %%
labels = {s: tables.ARM_LABELS[s] for s in detector_tables.DETECTOR_COLUMNS}
fig = plots.plot_detectors(runs.records, labels, seed=seeds[0])
report.save_figure(fig, "table4_detectors")

# %% [markdown]
# The same six strategies on the synthetic generator, with notebook 07's light SASRec (the two
# notebooks share these runs); they are computed or not as `compute` says.

# %%
syn = grid.run_grid(profiles.detectors_synthetic(profile, seeds), compute=compute,
                    **profiles.grid_options(profile, workers))
print(syn.summary())
det_syn = detector_tables.detectors_synthetic(syn)
report.save_result(det_syn, "table4_detectors_synthetic")
print(det_syn.caption)
det_syn.display

# %%
first = {}
for r in sorted(syn.records, key=lambda r: r.seed):
    first.setdefault(r.strategy, r)
if first:
    fig = teaching.plot_mining({labels[s]: teaching.mining_history(r) for s, r in first.items()},
                               title=f"synthetic data, seed {min(r['config']['seed'] for r in first.values())}")
    report.save_figure(fig, "table4_detectors_synthetic")
findings = detector_tables.detector_findings(det, det_syn)
print("\n".join(findings) or "Not enough runs for the comparison yet.")

# %% [markdown]
# ## 6. Every run
#
# Table 4's seven columns from the cached runs of the paper's defaults, with their run keys
# (docs/results.md shows this table).

# %%
report.save_table(run_tables.table4(run_tables.cached_records()), "table4_runs", run_tables.caption(
    "Table 4's seven columns on Beauty beside the paper's values."), index=False)

# %% [markdown]
# ## 7. Key numbers

# %%
numbers = {"profile": profile, "dataset": dataset, "seeds": seeds, "runs": runs.to_dict(),
           "test_sampled_means": {f"{r.arm}/{r.metric}": r.mean for r in t4.long.itertuples()},
           "observations": {f"{c.source}: {c.text}": c.ours for c in t4.claims},
           "observations_on_paper_numbers": {f"{c.source}: {c.text}": c.paper for c in t4.claims},
           "synthetic_runs": syn.to_dict(),
           "detectors_beauty": det.long.to_dict(orient="records"),
           "detectors_synthetic": det_syn.long.to_dict(orient="records")}
report.save_numbers("03_srns_comparison", numbers)
