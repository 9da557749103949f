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
# # 11 · The findings at one glance
#
# One picture for "does UFNRec reproduce?": UFN's relative change in test NDCG@10 (sampled-100,
# the paper's protocol) with its 95% interval, for every Table 2 cell, every Table 3 and Table 4
# variant against SASRec, and every reading of the protocol study (notebook 09; with the held-out
# items out of reach of the training negatives too, once those runs exist). The dot's colour is
# the verdict word of the comparison model; the black diamond is the change the paper reports.
#
# It is a report over the report: it reads the tables notebooks 01, 02, 03 and 09 saved under
# `results/<profile>/tables/`, opens no run record and trains nothing. Run it after them.
#
# Writes `results/<profile>/figures/findings_forest.{png,pdf}`, `results/<profile>/tables/findings_forest.{csv,md}`
# and `results/<profile>/tables/11_findings.json` (the counts of each verdict word).

# %%
from ufnlib.analysis import comparison, findings, report

# %% tags=["parameters"]
profile = "paper"     # smoke | quick | paper (the profile whose saved tables are read)
compute = False       # unused: this notebook trains nothing (run_all.sh passes it to every notebook)

# %%
report.use_profile(profile)
rows = findings.forest_rows(report.results_path("tables"))
print(len(rows), "comparisons read from", sorted(set(rows["source"])))

# %% [markdown]
# ## The comparisons
#
# Changes are relative to the baseline's mean (SASRec, or the backbone without UFN in Table 2);
# an empty interval is a comparison with one seed.

# %%
report.save_table(rows, "findings_forest", "UFN's (and each variant's) relative change in test NDCG@10 (sampled-100) "
                  "against the baseline, its 95% interval, verdict and the paper's claimed change, read from the "
                  "tables of notebooks 01, 02, 03 and 09; verdict: " + comparison.RULE + ". Profile: " + profile + ".",
                  formats={c: "{:+.2%}" for c in ("change", "low", "high", "paper")}, index=False)
rows

# %% [markdown]
# ## The forest plot

# %%
fig = findings.forest(rows)
report.save_figure(fig, "findings_forest")

# %% [markdown]
# ## The counts

# %%
counts = findings.counts(rows)
claimed = int(rows["paper"].notna().sum())
above = int(((rows["paper"].notna()) & (rows["high"] < rows["paper"])).sum())
report.save_numbers("11_findings", {"profile": profile, "rows": len(rows), "counts": counts,
                                    "groups": findings.group_counts(rows),
                                    "with_paper_claim": claimed, "interval_below_claim": above,
                                    "sources": sorted(set(rows["source"]))})
counts
