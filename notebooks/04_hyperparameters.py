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
# # 04 · Hyper-parameters (Figure 3)
#
# How sensitive is UFNRec to its four knobs? Following the paper's Figure 3, each panel changes one
# of them with the others at their defaults: the consistency-loss weight $\alpha$, the number of
# re-feeds $m$ after which a recorded negative counts as a false negative, the EMA decay $d$ of the
# teacher ($\omega' \leftarrow d\,\omega' + (1-d)\,\omega$, paper Eq. 6), and the batch size.
# UFNRec's test HR@10 and NDCG@10 (sampled-100) are shown with their spread over seeds and the seed
# count n of each point (an open marker: at least one of its runs was still improving when the
# epoch cap ended it); SASRec is a band in the panels that do not affect it (with a dashed line at
# its value on the swept points' seeds, when those are fewer) and a line over batch sizes. The
# paper's sentences about the figure are tested below. The `quick` profile sweeps nothing (each panel shows the default
# only); `paper` runs the paper's grids. Our Beauty is the S3-Rec version, not the paper's.
#
# Writes `results/<profile>/figures/figure3_hyperparameters.{png,pdf}`,
# `results/<profile>/tables/figure3_data.{csv,md}`, `figure3_versus{,_data}`, `figure3_trends`,
# `figure3_mining`, `figure3_claims` and `results/<profile>/tables/04_hyperparameters.json`.

# %%
from ufnlib.analysis import figure3_claims, hyperparams, report, tables
from ufnlib.experiments import grid, profiles

# %% tags=["parameters"]
profile = "paper"     # smoke | quick | paper (ufnlib.experiments.profiles says what each one runs)
dataset = None        # None: the profile's (smoke: synthetic; quick, paper: beauty); or a file path
seeds = None          # None: the profile's (smoke: 1; quick: 1; paper: 1, 2, 3)
compute = False       # True: train the missing runs (False: report what the cache holds)
workers = None        # processes for missing runs (None: smoke in-process, else one per core)

# %%
report.use_profile(profile)
dataset = profiles.defaults(profile, dataset=dataset)
print("swept values (the base value is added to each panel):", profiles.sweeps(profile))

# %% [markdown]
# ## 1. The runs
#
# The runs `profiles.hyperparameters` lists for this profile come from the cache; missing ones are listed, and trained
# only with `compute = True` (each run once, whichever notebook asks first). Tables and figures
# are built from the runs that are there, and say so.

# %%
runs = grid.notebook_runs(profiles.hyperparameters(profile, seeds, dataset), profile, compute, workers)

# %% [markdown]
# ## 2. Figure 3: the data (the figure is drawn in section 3, beside each point's comparison with SASRec)

# %%
frame = hyperparams.hyper_frame(runs.records, profile)
caption = ("Figure 3 data: test HR@10 / NDCG@10 by swept hyper-parameter (one changed at a time, the others "
           "at the profile's base), mean / std / count over seeds. "
           + tables.protocol(runs.records, "sampled", profile))
report.save_table(hyperparams.hyper_summary(frame), "figure3_data", caption, index=False)
print(caption)

# %% [markdown]
# ## 3. Does any value make UFNRec beat SASRec?
#
# Each UFNRec point against SASRec at the same batch size, on the seeds both have (so a point with
# one seed is compared with SASRec's run of that seed, not with its 3-seed mean), by the comparison
# model of Table 2 (notebook 01): the change, its 95% interval over training seeds and test users,
# and the verdict (*helps* / *hurts*: the interval excludes 0 and every seed moved that way; *no
# clear difference* otherwise; *one seed, not decided* with one seed). Twenty swept values are
# twenty chances for one to look good, so the verdict is also given after Holm's correction over
# the figure's swept values, per metric (`p (Holm)`, `verdict (Holm)`; a value with one seed counts
# in the family). Each point also shows its change on each seed, the per-user and per-seed tests,
# and the code generations of its runs: a point whose two arms were trained by code of different
# generations (docs/speed.md) is flagged in `mixed generations` (the cell below prints which, if
# any). `UFNRec runs cut by the cap` counts the
# point's UFNRec runs that the epoch cap ended while they were still improving (best epoch within
# the last `patience` epochs): their value may be an underestimate of the setting.

# %%
versus = hyperparams.hyper_versus(runs.records, profile)
report.save_result(tables.TableResult(
    versus, hyperparams.hyper_versus_display(versus),
    "UFNRec at each Figure 3 point against SASRec at the same batch size, on their common seeds: test means, "
    "relative change, its 95% interval over training seeds and test users, the verdict, the verdict after "
    + hyperparams.CORRECTION + ", the per-user Wilcoxon p, the change on each seed and the paired t-test over "
    "seeds, the code generations of the two arms, and how many of the point's UFNRec runs the epoch cap ended "
    "while still improving; 'default' is UFNRec at the profile's base (Table 2's cell, outside the correction's "
    "family). Verdict, " + tables.comparison.RULE + "." + tables.generation_note(sorted(
        {f"{r.panel} = {r.value:g}" for r in versus.itertuples() if tables.is_true(r.mixed) and r.panel != "default"}))
    + " " + tables.protocol(runs.records, "sampled", profile)), "figure3_versus")
nd = versus[(versus["metric"] == "ndcg@10") & (versus["panel"] != "default")]
print(f"{len(nd)} swept point(s) computed; NDCG@10, raw:",
      {k: [f"{r.panel}={r.value:g}" for r in g.itertuples()] for k, g in nd.groupby("effect")} or "none")
print("after Holm's correction over the swept values:",
      {k: [f"{r.panel}={r.value:g}" for r in g.itertuples()] for k, g in nd.groupby("effect_holm")} or "none")
print("still improving at the epoch cap:", [f"{r.panel}={r.value:g}" for r in nd.itertuples() if r.cut] or "none")
print("arms of different code generations:",
      [f"{r.panel}={r.value:g}" for r in nd.itertuples() if tables.is_true(r.mixed)] or "none")

# %% [markdown]
# The figure, drawn now that each point has its comparison: the top rows show the test values
# (UFNRec's mean over its n seeds, n under each value, bars ±1 sd over seeds; SASRec's band ±1 sd
# over its seeds); the bottom rows show each point's relative change against SASRec at the same
# batch size with its 95% interval (the table above), on a range kept near zero so that the
# points close to SASRec stay readable (a point beyond it sits at the edge with its value).

# %%
fig = hyperparams.plot_hyperparameters(frame, profile, versus=versus)
report.save_figure(fig, "figure3_hyperparameters")
print(hyperparams.BARS_NOTE + hyperparams.CHANGE_NOTE)

# %% [markdown]
# Along each swept field: does UFNRec's change against SASRec rise or fall with the value? The base
# point (3 seeds) is included beside the swept ones; Spearman's rho over the points, a trend only
# when |rho| >= 0.8 and there are at least 3 points. A trend says which way to move the knob, not
# whether any value beats SASRec (that is the table above).

# %%
trends = hyperparams.hyper_trends(versus, profile)
trend_lines = hyperparams.trends_text(trends)
report.save_table(trends, "figure3_trends", "UFNRec's change in test NDCG@10 against SASRec along each swept field "
                  "(the base point included, on its own seeds): Spearman rho, the trend, the best point. "
                  + tables.protocol(runs.records, "sampled", profile), index=False)
print("\n".join(trend_lines))

# %% [markdown]
# ## 4. What FMR reverses at each setting
#
# Why a setting helps or hurts shows in what its mining did. For each point, over all the mining
# epochs of its runs (to the last epoch, not only to the one chosen on validation, so that a run
# that collapsed and went on mining until patience stopped it counts whole): the entries FMR
# reversed per epoch, the share of them that are the user's validation or test item (a false
# negative the user did come back to, the only ground truth real data has), that share's lift over
# the random negatives of the same steps, $N_{false}$ at the chosen epoch, and the mining epochs
# (mean over seeds; notebook 03's detector table counts the same, up to the chosen epoch). m is
# FMR's threshold, so a smaller m reverses more entries; the lift says whether the extra ones are
# false negatives or true negatives turned into positives.

# %%
mining = hyperparams.hyper_mining(runs.records, profile)
report.save_table(mining, "figure3_mining",
                  "What FMR reversed at each Figure 3 point (SASRec + UFN): per mining epoch, over all the mining "
                  "epochs of each run, entries reversed (flagged_per_epoch), the share that is the user's validation "
                  "or test item (later_share), its lift over the random negatives of the same steps, N_false at the "
                  "chosen epoch and the mining epochs; mean over the n seeds; base = the profile's default. "
                  + tables.protocol(runs.records, "sampled", profile), hyperparams.MINING_FORMATS, index=False)
mining_lines = hyperparams.mining_text(mining)
print("\n".join(mining_lines) or "no swept point with mining runs yet")

# %% [markdown]
# ## 5. The paper's claims about Figure 3

# %%
claims = figure3_claims.hyper_claims(runs.records, profile, runs)
report.save_claims(claims, "figure3_claims",
                   "Claims of the paper about Figure 3, decided by the comparison model on the points each names "
                   "(verdict of a comparison, " + tables.comparison.RULE + "). " + caption)

# %% [markdown]
# ## 6. Key numbers

# %%
numbers = {"profile": profile, "dataset": dataset, "runs": runs.to_dict(),
           "points": hyperparams.hyper_summary(frame).to_dict(orient="records"),
           "versus_sasrec": versus.to_dict(orient="records"),
           "claims": {f"{c.source}: {c.text}": c.ours for c in claims}}
report.save_numbers("04_hyperparameters", numbers)
