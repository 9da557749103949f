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
# # 00 · Data preparation
#
# This notebook obtains the three benchmarks the paper evaluates on (Amazon Beauty, Amazon Sports
# and Outdoors, Yelp), checks every file against its published checksum, and describes the data:
# our Table 1 beside the paper's, the distribution of sequence lengths, and item popularity. It
# trains nothing. The files are the S3-Rec preprocessing, which matches the paper for Sports and
# Yelp but **not for Beauty** (the paper used the larger SASRec version of Beauty); the table marks
# this, and every later table that uses Beauty repeats it. Under the `smoke` profile the notebook
# uses the seeded synthetic dataset instead, so it runs in seconds without any data.
#
# Writes `results/<profile>/tables/table1.{csv,md}`, `results/<profile>/figures/00_*.{png,pdf}` and
# `results/<profile>/tables/00_data_prep.json` (under `$UFN_RESULTS_DIR` when set).

# %%
import pandas as pd

import ufnlib
from ufnlib.analysis import dataprep, report

# %% tags=["parameters"]
profile = "paper"                        # smoke | quick | paper (smoke: synthetic data only)
datasets = ["beauty", "sports", "yelp"]  # registry names (ufnlib.REGISTRY) or your files (PATH[#s3rec|#pairs])
optional_datasets = ["beauty_sasrec"]    # the paper's Beauty version: described when available
download = True                          # False: look only in UFN_DATA_DIR and the project cache

# %%
report.use_profile(profile)
if profile == "smoke":  # no real data needed: the seeded synthetic dataset only
    datasets, optional_datasets = ["synthetic"], []

# %% [markdown]
# ## 1. Obtain and verify the files
#
# `ufnlib.resolve` looks for each file in `$UFN_DATA_DIR`, then in the project cache
# (`data_cache/`), and otherwise downloads it from its public source; a file is used only if its
# git blob SHA-1 equals the registered one. The `origin` column says where each file came from.

# %%
data, sources = dataprep.load_datasets(datasets, optional_datasets, download=download)
pd.DataFrame(sources).set_index("dataset").reindex(columns=["available", "origin", "git_sha1", "note", "reason"])

# %% [markdown]
# ## 2. Table 1: ours beside the paper's
#
# Users, items, actions (interactions), average sequence length and density
# $= \frac{\text{actions}}{\text{users} \times \text{items}}$, as in the paper's Table 1. A row
# marked † is another version of the dataset than the paper's; `differs` names the columns that
# disagree with the printed values.

# %%
table1, caption = dataprep.table1_comparison(data, sources)
report.save_table(table1, "table1", caption,
                  formats={"avg_len": "{:.2f}", "density": "{:.3%}", "median_len": "{:.0f}"})
print(caption)
table1

# %% [markdown]
# ## 3. Sequence lengths
#
# Every user has at least 5 interactions (the 5-core filter of the source). Leave-one-out keeps
# the last item for test and the second last for validation, so a model trains on `length - 2`
# items per user; SASRec's window is the last 50 (`maxlen`).

# %%
fig = dataprep.plot_length_histograms(data)
report.save_figure(fig, "00_sequence_lengths")

# %% [markdown]
# ## 4. Item popularity
#
# Rank-frequency plot (log-log). Uniform negative sampling draws every item alike, so on a
# long-tailed catalogue most sampled negatives are rare items; the few popular ones are the
# likeliest false negatives.

# %%
fig = dataprep.plot_popularity(data)
report.save_figure(fig, "00_item_popularity")

# %% [markdown]
# ## 5. Key numbers

# %%
numbers = {
    "profile": profile,
    "datasets": {name: {**ufnlib.statistics(seqs), "top20_share": dataprep.top_share(seqs)}
                 for name, seqs in data.items()},
    "sources": sources,
    "table1_differs": table1["differs"].to_dict(),
    "table1_caption": caption,
}
report.save_numbers("00_data_prep", numbers)
