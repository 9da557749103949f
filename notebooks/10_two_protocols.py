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
# # 10 · The two protocols disagree: where UFN's full-ranking gain comes from
#
# The paper evaluates under the sampled-100 protocol: the test item is ranked against 100 items
# drawn at random. Most of the field now ranks it against every item (full ranking), and sampled
# metrics are known to reorder models (Krichene & Rendle, KDD 2020; Cañamares & Castells, RecSys
# 2020). Our runs show both protocols beside each other, and they do not always give UFN the same
# word against SASRec. This notebook asks which gain is real and for whom. It splits UFN's
# per-user change over SASRec, under both protocols, by the test item's popularity, by SASRec's
# own full-ranking rank of the test item, and by whether UFN had mined the user's held-out item.
# Then it looks at how popular the items in both models' top-10 lists are. The paper's claims
# stay decided under sampled-100, as the paper reports them (notebooks 01-04). The full-ranking
# picture is stated beside them with the same verdict rule. It trains nothing of its own: every
# run it reads is a run notebooks 01, 04, 06 and 09 ask for.
#
# Writes `results/<profile>/tables/10_*.{csv,md}`, `results/<profile>/figures/10_two_protocols.{png,pdf}`
# and `results/<profile>/tables/10_two_protocols.json` (with the README's line).

# %%
import numpy as np

from ufnlib.analysis import case_artefacts, report
from ufnlib.analysis import two_protocols as tp
from ufnlib.analysis import two_protocols_report as tpr
from ufnlib.config import Config, config_key
from ufnlib.experiments import grid, profiles
from ufnlib.experiments.splits import load_split
from ufnlib.experiments.store import model_path

# %% tags=["parameters"]
profile = "paper"     # smoke | quick | paper (ufnlib.experiments.profiles says what each one runs)
dataset = None        # None: the profile's datasets (Table 2) and its first one (the rest); or one dataset
seeds = None          # None: the profile's (smoke: 1, 2; paper: 1, 2, 3)
split_on = None       # None: every SASRec + UFN comparison with all the profile's seeds; or a list of names
focus = None          # None: Table 2's SASRec + UFN on the first dataset (the figure and the answer)
compute = False       # True: train the missing runs (False: report what the cache holds)
workers = None        # processes for missing runs (None: smoke in-process, else one per core)

# %%
report.use_profile(profile)
seeds = profiles.defaults(profile, seeds=seeds)
first = dataset or profiles.default_datasets(profile)[0]
if focus is None:
    focus = tp.describe(profiles.make(**profiles.base(profile), dataset=first, strategy="ufn"), profile)[1]
print("focus:", focus)

# %% [markdown]
# ## 1. The runs
#
# The runs `profiles.two_protocols` lists for this profile come from the cache: Table 2's, Figure 3's, the
# protocol study's and the case study's. Missing ones are listed. They are trained only with
# `compute = True`, each run once, whichever notebook asks first. Each UFN configuration is
# compared with the SASRec run of the same seeds, batch size, budget and held-out setting
# (`two_protocols.baseline_of`).

# %%
plan = profiles.two_protocols(profile, seeds, dataset)
runs = grid.notebook_runs(plan, profile, compute, workers)
comps = tp.comparisons(plan, runs, profile)
pairs = {c.name: p for c in comps if (p := tp.load_pair(c)) is not None}
records = [r for c in comps for r in c.base + c.treat]
print(f"{len(comps)} comparisons, {len(pairs)} with at least one seed of both arms")

# %% [markdown]
# ## 2. Both protocols, every comparison
#
# Test NDCG@10 of SASRec and the relative change UFN brings, under each protocol, with its
# interval and its word, from the suite's one comparison model (`analysis.comparison`, the rule
# printed in every caption): helps or hurts when the 95% interval of the change, which counts
# both the spread over training seeds and the sampling of test users, excludes 0 and every seed
# moves the same way; a comparison on one seed is not decided (its change is still shown).

# %%
overall = tp.overall_frame(comps, pairs)
cap = tpr.caption("UFN against SASRec under both protocols: SASRec's mean test NDCG@10 and the relative change "
                  "of the mean, [interval], word; 'same word': whether the two protocols agree.", records, profile)
shown = tpr.overall_display(overall)
report.save_table(shown, "10_overall", cap, formats={c: "{:.4f}" for c in shown.columns if c.endswith("SASRec")})
report.save_table(overall, "10_overall_data", cap, index=False)
shown

# %% [markdown]
# ## 3. Where the change comes from
#
# Each comparison is split three ways. Each table gives, for every group and protocol, the mean
# per-user change in NDCG@10 with its interval and word. It also gives the group's
# *contribution*: the group's share of the users times its change, over SASRec's overall mean.
# A split's contributions add up to the comparison's relative change in section 2, so they show
# which users the change comes from.
#
# * **Popularity**: deciles of the test item's frequency among all users' training interactions,
#   cut over the evaluated users, so each decile holds about a tenth of them. Equal frequencies
#   stay together, so some deciles hold more.
# * **SASRec's rank**: the test item's full-ranking rank under SASRec (median over seeds): top 10,
#   11-100, 101-1000, beyond. Under full ranking NDCG@10 counts only the top 10, so UFN can gain
#   only below SASRec's top 10 and lose only inside it. This split is defined by the baseline's
#   own noisy rank, so it would show part of this pattern even for two equal models (regression
#   to the mean). It tells where the change is made, not that UFN is better for such users.
# * **Mined**: whether the test item was in UFN's N_false, i.e. reversed into a positive, at the
#   selected epoch. Only the protocol study's fixed-budget runs (`log_test_every > 0`) record
#   this flag (notebook 09, section 5), and only with the held-out items in reach of the
#   training negatives. The default-protocol runs of Table 2 and Figure 3 do not carry it, so
#   this split is read on the fixed-budget comparison alone. A user is counted by in how many of
#   UFN's seeds the item was mined.
#
# Splits are computed for `split_on`: by default every SASRec + UFN comparison that has all the
# profile's seeds. Comparisons with fewer seeds are left out because their intervals would miss
# the seed spread.

# %%
want = len(seeds)
split_names = split_on or [c.name for c in comps if c.backbone == "sasrec" and c.name in pairs
                           and len(c.seeds) == want]
freq, frames = {}, {}
for name in split_names:
    c, pair = next(x for x in comps if x.name == name), pairs[name]
    if c.dataset not in freq:
        sp = load_split(c.dataset)
        freq[c.dataset] = (np.bincount(sp.train_items, minlength=sp.n_items + 1), sp)
    f, sp = freq[c.dataset]
    frames[name] = tp.splits(pair, f, sp.test[pair.users])
print("split:", split_names or "none (no comparison with all the profile's seeds yet)")

# %%
import pandas as pd

tables = {}
for kind, title in tpr.SPLIT_TITLES.items():
    parts = [fr[kind] for fr in frames.values() if kind in fr]
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    tables[kind] = data
    what = (f"UFN's change against SASRec by {title}: per group, SASRec's mean test NDCG@10, the mean per-user "
            "change, [interval], word, and the group's contribution to the overall relative change (group share x "
            "change / SASRec's overall mean; a comparison's contributions add up to its change in 10_overall).")
    report.save_table(tpr.split_display(data), f"10_by_{kind}", tpr.caption(what, records, profile),
                      formats={f"{p}: SASRec": "{:.4f}" for p in (tpr.SAMPLED, tpr.FULL)})
    report.save_table(data, f"10_by_{kind}_data", tpr.caption(what, records, profile), index=False)

# %% [markdown]
# ### By the test item's popularity

# %%
tpr.split_display(tables["popularity"])

# %% [markdown]
# ### By SASRec's full-ranking rank of the test item

# %%
tpr.split_display(tables["sasrec_rank"])

# %% [markdown]
# ### By whether UFN had mined the user's test item (fixed-budget runs)

# %%
mined = tables["mined"]
mined_note = tpr.mined_missing(comps, want)
if not len(mined):
    print(mined_note)
tpr.split_display(mined)

# %% [markdown]
# ## 4. What the top-10 lists hold
#
# The case study (notebook 06, Figure 5) keeps each model's top-10 for every evaluated user. The
# lists are computed after the user's training history, before the validation item, with the
# history excluded. They are stored in `results/casestudy/<SASRec key>-<UFN key>.npz`. How popular
# their items are shows whether UFN's lists lean to popular items or to the long tail. The
# popularity groups are the test items' deciles of section 3, so a list that recommended like
# the test items would put about a tenth of its slots in each. The table also shows the items
# only one of the two lists holds. With `compute = False` the notebook reads the file and never
# writes it. With `compute = True` it builds the file from the runs' weights when they are on this
# machine (as notebook 06 does).

# %%
cs_recs = {}
for c in profiles.case_study(profile, seeds[0], dataset):
    r = next((x for x in runs.records if x.key == config_key(c)), None)
    if r is not None:
        cs_recs[c.strategy] = r
top10, top10_note = None, ""
if set(cs_recs) != {"uniform", "ufn"}:
    top10_note = "not computed: the case study's SASRec or UFN run is not in the cache"
else:
    art = case_artefacts.load(cs_recs)
    weights = all(model_path(r.key).is_file() for r in cs_recs.values())
    if art is None and compute and weights:
        art = case_artefacts.build({s: Config.from_dict(r.config) for s, r in cs_recs.items()}, cs_recs, first)
    if art is None:
        top10_note = (f"not computed: {case_artefacts.path(cs_recs).name} (the case study's top-10 lists) is not in "
                      "results/casestudy/ for these runs" + ("" if weights else ", and their weights are not on this "
                                                              "machine to build it"))
    else:
        sp = load_split(first)
        f = np.bincount(sp.train_items, minlength=sp.n_items + 1)
        _, labels, edges = tp.popularity_groups(f[sp.test[art.users]])
        top10 = tp.top10_popularity(art.top, f, sp.test[art.users], edges, labels)
        top10.attrs["seed"] = seeds[0]
if top10 is None:
    print(top10_note)
else:
    report.save_table(top10, "10_top10_popularity", tpr.caption(
        f"Training frequency of the items in SASRec's and UFN's top-10 lists (seed {seeds[0]}, {first}; after the "
        "training history, history excluded, over all items), of the items only one of them holds, and of the test "
        "items: slots, distinct items, mean and median frequency, share of slots in each of the test items' "
        "popularity deciles.", list(cs_recs.values()), profile))
top10

# %% [markdown]
# ## 5. The figure
#
# Contributions to the change under both protocols for the focus comparison: by popularity and by
# SASRec's rank (top). Then the same by the mined flag for the fixed-budget comparison, and what
# the top-10 lists hold (bottom). The bars add up to the relative change of section 2. Error bars
# are the intervals.

# %%
mined_comp = next((n for n in split_names if "mined" in frames[n]), None)
fig = tpr.plot(frames.get(focus, {}), frames[mined_comp]["mined"] if mined_comp else None, top10, top10_note,
               mined_note)
report.save_figure(fig, "10_two_protocols")

# %% [markdown]
# ## 6. The answer
#
# In words, from the tables above. What the cached per-user ranks cannot answer: they hold the
# test item's rank only, not which items outrank it. So the top-10 lists come from the case study's
# artefacts (one seed, computed from the weights). The mined flag exists for the fixed-budget
# runs alone. The new-user trial on an unseen public dataset is not a run of any notebook
# here, so it is not read.

# %%
eval_neg = int(records[0].config["eval_neg"]) if records else 100
n_items = load_split(first).n_items if records else 0
answer = tpr.answer_numbers(overall, focus, frames.get(focus, {}),
                            frames[mined_comp]["mined"] if mined_comp else None, top10, top10_note, n_items,
                            eval_neg, tables["popularity"], mined_note)
print("\n\n".join(tpr.answer_lines(report.plain(answer))))

# %% [markdown]
# The README's line:

# %%
readme = tpr.readme_numbers(overall, focus, frames.get(focus, {}), top10, tables["popularity"],
                            frames[mined_comp]["mined"] if mined_comp else None)
print(tpr.readme_line_of(report.plain(readme)))

# %% [markdown]
# ## 7. Key numbers

# %%
numbers = {"profile": profile, "seeds": seeds, "focus": focus, "runs": runs.to_dict(),
           "overall": overall.to_dict(orient="records"), "split_on": split_names,
           "splits": {k: v.to_dict(orient="records") for k, v in tables.items()},
           "top10": None if top10 is None else top10.reset_index().to_dict(orient="records"),
           "top10_note": top10_note, "answer": answer, "readme": readme}
report.save_numbers("10_two_protocols", numbers)
