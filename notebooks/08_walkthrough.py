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
# # 08 · Walkthrough: the paper beside the code
#
# Sections 3.1 to 3.5 of the paper, read in order. For each of Eqs. 2 to 9: the equation, one
# sentence, and the `ufnlib` code that implements it (printed from the library with
# `inspect.getsource`, so it is the code that runs). A two-user toy then takes the equations
# through a few training steps: a negative gets recorded, re-fed, counted and reversed, the
# teacher's soft label appears, and the losses change. The toy's model is a table of logits (its
# parameters *are* the scores), so every number can be checked by hand, and the plain-Python
# oracle `PlainFMR` runs beside the vectorised `FMRMemory` on the same inputs.
#
# Do this notebook before notebook 07: it shows the mechanism on a toy, 07 then measures on data
# whether the mechanism finds real false negatives. Notebook 07's opening spells out the acronyms
# (FMR, FCR, UFN, EMA, SASRec, N_rec, N_false, HR@10, NDCG@10).
#
# Writes `results/<profile>/tables/08_*.{csv,md}`, `results/<profile>/figures/08_toy_logits.{png,pdf}` and
# `results/<profile>/tables/08_walkthrough.json` (under `$UFN_RESULTS_DIR` when set). Trains nothing real;
# runs in seconds under every profile.

# %%
import pandas as pd
import torch

import ufnlib
from ufnlib.analysis import report, walkthrough
from ufnlib.negatives.detectors import FMRDetector
from ufnlib.negatives.fmr import FMRMemory
from ufnlib.negatives.oracle import PlainFMR
from ufnlib.negatives.strategies import Targets
from ufnlib.training import algorithm1
from ufnlib.training.algorithm1 import basic_loss, consistency_loss, ema_decay, make_teacher, warmup_ended

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 20)

# %% tags=["parameters"]
profile = "paper"   # smoke | quick | paper (the toy is the same under every profile)
m = 1               # an entry re-fed more than m times is a false negative (paper: m)
alpha = 0.3         # weight of the consistency loss (paper: alpha)
d = 0.9             # EMA smoothing rate of the teacher (paper: d)
lr = 1.0            # SGD learning rate on the toy's logit table (paper: gamma)
n_neg = 3           # negatives per positive (paper: n)

# %%
report.use_profile(profile)   # where this notebook's tables and figures go: results/<profile>/

# %% [markdown]
# ## The toy
#
# Two users, eight items, one training position each. User A's next item is 1; A would also like
# item 3, but was never shown it, so item 3 is a false negative of A. User B's next item is 5;
# item 2 scores a little above it at the start but B would not like it (a hard true negative).
# `random_negatives[t]` holds the uniform draws of step t (one row per user); at each visit the
# recorded negatives N_rec take the first slots and the draws fill the rest.

# %%
n_items = 8
positives = [1, 5]                                # A -> 1, B -> 5
start = walkthrough.logit_rows(2, n_items, {0: {1: 1.0, 3: 2.0, 6: 0.2},   # A: item 3 above the positive
                                            1: {5: 1.5, 2: 1.7, 4: -0.5}})  # B: item 2 just above
true_false_negatives = {0: {3}}                   # ground truth, for the tables only
random_negatives = [[[3, 6, 7], [2, 4, 8]],       # step 1: [A's draws], [B's draws]
                    [[6, 8, 2], [7, 3, 6]],       # step 2
                    [[8, 4, 6], [1, 4, 7]],       # step 3
                    [[3, 2, 7], [8, 6, 2]],       # step 4: item 3 drawn for A again
                    [[6, 4, 8], [3, 7, 1]]]       # step 5
toy = walkthrough.ToyUFN(start, positives, m=m, n_neg=n_neg, alpha=alpha, d=d, lr=lr,
                         truth=true_false_negatives)
toy.logits_table().loc["student"]

# %% [markdown]
# ## 3.1 Backbone: the basic loss (Eqs. 2-4)
#
# $$l_{u,t}(v_{t+1}) = -y \log \sigma(\mathbf{s}_{u,t} \mathbf{v}_{t+1}) - (1 - y)
# \log\bigl(1 - \sigma(\mathbf{s}_{u,t} \mathbf{v}_{t+1})\bigr), \qquad
# \sigma(x) = \frac{1}{1 + e^{-x}} \qquad (2, 3)$$
#
# Each scored (position, item) entry is a binary cross-entropy between its label and the sigmoid
# of its logit; `entry_losses` is Eq. 2 for every entry at once.

# %%
print(walkthrough.source(walkthrough.entry_losses))

# %% [markdown]
# $$\mathcal{L}_{basic}(\mathbf{s}_{u,t}; \omega) = l_{u,t}(v^+_{t+1}; \omega) +
# \sum_{v^-_{t+1} \in \mathcal{N}} l_{u,t}(v^-_{t+1}; \omega) \qquad (4)$$
#
# Eq. 4 sums the positive's and the n negatives' losses; the reference code (and `basic_loss`)
# averages them over all entries of the batch and multiplies by 2, which rescales Eq. 4 by
# $2 / (P (1 + n))$ for P positions.

# %%
print(walkthrough.source(basic_loss))

# %%
users = torch.arange(2)
cands = torch.cat([torch.tensor(positives)[:, None], torch.tensor(random_negatives[0])], 1)  # step 1
logits = toy.model.score(users, cands).detach()
labels = (cands == torch.tensor(positives)[:, None]).float()
per_entry = walkthrough.entry_losses(logits, labels)
eq4 = per_entry.sum(1)                                    # Eq. 4, one value per position
code_loss = basic_loss(logits, Targets(labels, None, None))
display(pd.DataFrame({"item": cands.flatten(), "label y": labels.flatten(), "logit": logits.flatten(),
                      "sigma(logit)": torch.sigmoid(logits).flatten(), "l (Eq. 2)": per_entry.flatten()},
                     index=pd.MultiIndex.from_product(
                         [["A", "B"], ["v+"] + [f"neg {i}" for i in range(1, n_neg + 1)]])).round(4))
print(f"Eq. 4 per position: A {eq4[0]:.4f}, B {eq4[1]:.4f}; basic_loss = 2 x mean = "
      f"{code_loss:.4f} = 2 x ({eq4.sum():.4f} / {per_entry.numel()})")

# %% [markdown]
# ## 3.2 False negative mining and reversing (Eq. 5)
#
# $$\mathcal{L}_{basic}(\mathbf{s}_{u,t}; \omega) = l_{u,t}(v^+_{t+1}; \omega) +
# \sum_{v^-_{t+1} \in \mathcal{N}_{ran} \cup \mathcal{N}_{rec}} l_{u,t}(v^-_{t+1}; \omega) \qquad (5)$$
#
# Negatives that scored above the positive at a position's last visit (N_rec) are fed again in
# its first negative slots, random ones (N_ran) fill the rest, and every re-feed increments the
# entry's counter; an entry re-fed more than m times is a false negative (N_false) and gets label
# 1 (Eq. 4 with $v^+ \in \mathcal{N}_{false}$). Reversal happens only in the slot where the entry
# is re-fed from N_rec with a counter above m: the same item drawn at random (N_ran) is an
# ordinary negative with label 0, even when its counter already puts it in N_false (step 4 below
# shows one). `FMRDetector.flag` is that rule, as in the reference code:

# %%
print(walkthrough.source(FMRDetector.flag))

# %% [markdown]
# The plain oracle says the whole of it in a few loops:

# %%
print(walkthrough.source(PlainFMR.inject))
print(walkthrough.source(PlainFMR.is_false_negative))
print(walkthrough.source(PlainFMR.record))

# %% [markdown]
# `FMRMemory` does the same on tensors allocated once (N_rec and the counters of every training
# interaction), batch-wise; a test compares it with the oracle on random batches. Its re-feed:

# %%
print(walkthrough.source(FMRMemory.inject))

# %% [markdown]
# and its record step (after the forward pass; an entry labelled 1 in this step is not recorded):

# %%
print(walkthrough.source(FMRMemory.record))

# %% [markdown]
# `ToyUFN.step` is one visit of Algorithm 1 (lines 10-18): it calls the trainer's own step,
# `algorithm1.train_step` (printed in Section 3.4), with the real `ufn` strategy; only the logits
# come from the toy's table. The plain oracle runs beside it on the same negatives and logits:

# %%
print(walkthrough.source(walkthrough.ToyUFN.step))

# %% [markdown]
# **Step 1.** The memory is empty: all three negatives are random. For A, item 3 scores above the
# positive and is recorded; for B, item 2 is. (`count` is the counter after this visit's re-feed,
# `count_oracle` the oracle's; `recorded` means "in N_rec for the next visit".)

# %%
s1 = toy.step(random_negatives[0])
display(s1["candidates"].round(3))
display(s1["memory"])

# %% [markdown]
# **Step 2.** Each user's N_rec takes the first slot (`N_rec (re-fed)`), its counter becomes 1,
# which is not more than m = 1, so its label stays 0. A's item 3 is still above the positive and
# is recorded again; B's item 2 fell below B's positive after step 1's update, so B's N_rec is
# now empty, while its counter stays at 1 (counters are cumulative, as in the reference).

# %%
s2 = toy.step(random_negatives[1])
display(s2["candidates"].round(3))
display(s2["memory"])

# %% [markdown]
# ## 3.3 Consistency regularisation: the teacher (Eq. 6)
#
# $$\omega'_t = d\, \omega'_{t-1} + (1 - d)\, \omega_t \qquad (6)$$
#
# The teacher is an exponential moving average of the student's weights, created at the end of
# the warm-up as a copy of the student and updated after every optimiser step; as in the
# reference (the `torch-ema` package), the smoothing rate starts low and grows to d: the rate of
# update k is min(d, (1 + k) / (10 + k)). It reaches d only after many updates (the count is
# printed below), far more than the toy's few steps, so in the toy the teacher follows the
# warm-start rate and changing d has no effect, unless d is set below the largest rate the toy
# reaches (also printed).

# %%
print(walkthrough.source(ema_decay))
print(walkthrough.source(make_teacher))
toy_updates = len(random_negatives)       # one teacher update per toy step, after the initial copy
print(f"the rate reaches d = {d} at update {walkthrough.ema_reaches(d)}; the toy makes {toy_updates} updates, "
      f"whose largest rate is {ema_decay(1.0, toy_updates):.3f}: any d at or above it gives the same toy")
walkthrough.ema_schedule(d, 6).T.round(3)

# %% [markdown]
# $$\hat{l}_{u,t}(v_{t+1}; \omega) = -\hat{y} \log \sigma(\mathbf{s}_{u,t}\mathbf{v}_{t+1}) - (1 - \hat{y})
# \log\bigl(1 - \sigma(\mathbf{s}_{u,t}\mathbf{v}_{t+1})\bigr), \qquad
# \mathcal{L}_{con}(\mathbf{s}_{u,t}; \omega) = \sum_{v^+_{t+1} \in \mathcal{N}_{false}}
# \hat{l}_{u,t}(v_{t+1}; \omega) \qquad (7, 8)$$
#
# For a mined false negative, the teacher's probability $\hat{y} = \sigma(\text{teacher logit})$
# is a soft label for the student's logit; the consistency loss is the BCE against it, averaged
# over the mined entries (the reference averages where Eq. 8 sums).

# %%
print(walkthrough.source(consistency_loss))

# %% [markdown]
# **Step 3.** A's item 3 is re-fed a second time: its counter is 2 > m, so it is in N_false. It
# gets label 1 (reversal) and a soft label from the teacher (`soft_label`), and it is not
# recorded (its label is 1), so A's N_rec is empty after this step.

# %%
s3 = toy.step(random_negatives[2])
display(s3["candidates"].round(3))
display(s3["memory"])

# %%
row = s3["candidates"].loc[("A", "neg 1")]
y_hat = torch.sigmoid(torch.tensor(row["teacher_logit"]))
by_hand = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(row["logit"]), y_hat)
print(f"soft label y^ = sigma({row['teacher_logit']:.3f}) = {y_hat:.3f}; "
      f"L_con by hand (Eq. 7, one mined entry) = {by_hand:.4f}; from the step: {s3['losses']['L_con'].iloc[0]:.4f}")

# %% [markdown]
# ## 3.4 Final objective (Eqs. 9, 10)
#
# $$\mathcal{L}_{final} = \mathcal{L}_{basic} + \alpha\, \mathcal{L}_{con} \qquad (9) \qquad\qquad
# \omega \leftarrow \omega - \gamma \frac{\partial \mathcal{L}_{final}}{\partial \omega} \qquad (10)$$
#
# The student minimises the basic loss (with the reversed labels) plus alpha times the consistency
# loss (`final_loss`); `train_step` takes the optimiser step (Adam in training, plain SGD in the
# toy), then updates the teacher and records N_rec. It is the one step of every trainer: a single
# run calls it for K = 1 run, a bundle for K runs with stacked weights, the case-study replay
# without an optimiser, and the toy above.

# %%
print(walkthrough.source(algorithm1.final_loss))
print(walkthrough.source(algorithm1.train_step))

# %% [markdown]
# **Steps 4 and 5.** Item 3 is not in A's N_rec any more, but it is drawn at random for A in step
# 4. It is in N_false (its counter is above m), yet it keeps label 0 there: only a re-feed from
# N_rec is reversed. It still scores above the positive, so it is recorded again. (The `count`
# column is 0 for a random draw: it shows the counter after this visit's re-feed, and a random
# draw is no re-feed; the memory table holds the counter.)

# %%
s4 = toy.step(random_negatives[3])
display(s4["candidates"].loc["A"].round(3))
r4 = s4["candidates"].loc["A"].query("item == 3").iloc[0]
c4 = s4["memory"].loc["A", "counters"].get(3)
print(f"step 4, user A, item 3: source {r4['source']}, counter {c4} > m = {m} "
      f"(in N_false: {3 in s4['memory'].loc['A', 'N_false']}), label {r4['label']:g}: drawn at random, it is an "
      f"ordinary negative; recorded for the next visit: {r4['recorded']}")

# %% [markdown]
# Its counter kept its value, so at step 5 its first re-feed takes it above m again and it is
# reversed at once.

# %%
s5 = toy.step(random_negatives[4])
display(s5["candidates"].loc["A"].round(3))
display(s5["memory"])

# %% [markdown]
# The losses of the five steps: `L_basic_without_reversal` is the basic loss the same logits would
# have had with every negative labelled 0, so the gap to `L_basic` at steps 3 and 5 is the
# reversal's doing; `L_con` is non-zero exactly where an entry was mined.

# %%
losses = toy.losses_table()
report.save_table(losses, "08_toy_losses",
                  "Table 08a. The walkthrough toy (two users, eight items, hand-made negatives; "
                  f"m = {m}, alpha = {alpha}, d = {d}, SGD lr = {lr}): losses of each training step.",
                  formats={c: "{:.4f}" for c in losses.columns if c != "mined"})
losses

# %%
fig = walkthrough.plot_trajectories(toy, [("A", 1), ("A", 3), ("B", 5), ("B", 2)])
report.save_figure(fig, "08_toy_logits")

# %% [markdown]
# ## 3.5 Training algorithm: when does mining start?
#
# Algorithm 1 trains with random negatives "while $\mathcal{L}_{basic}$ descending rapidly"
# (lines 3-8). The reference decides it once per epoch on the summed epoch losses: after more than
# 7 epochs, once the last decrease is below 1/200 of the decrease over the first five epochs.

# %%
print(walkthrough.source(warmup_ended))
walkthrough.warmup_table([100, 60, 40, 30, 25, 20, 19, 18.9], ufnlib.Config())

# %% [markdown]
# ## Algorithm 1 in one module
#
# Everything above except the mining memory lives in one module, `ufnlib/training/algorithm1.py`:
# the warm-up rule (lines 3-8), the teacher (lines 9 and 15), the losses (lines 14, 16, 17) and
# `train_step` (lines 10-18), which calls the strategy for lines 11-13 (`Strategy.negatives`,
# `labels`, `after_step`: `FMRMemory.inject`, `FMRDetector.flag`, `FMRMemory.record`). Its
# docstring maps each line of Algorithm 1 to its code (the code itself is in
# `ufnlib/training/algorithm1.py`; `walkthrough.source(algorithm1)` prints all of it):

# %%
print(algorithm1.__doc__)

# %% [markdown]
# ## Key numbers

# %%
steps = [s1, s2, s3, s4, s5]
a3 = pd.DataFrame([s["candidates"].reset_index().query("user == 'A' and item == 3").iloc[0] for s in steps],
                  index=pd.Index(range(1, len(steps) + 1), name="step"))
numbers = {
    "profile": profile, "m": m, "alpha": alpha, "d": d, "lr": lr, "n_neg": n_neg,
    "memory_agrees_with_oracle": bool(all(s["memory"]["agree"].all() for s in steps)
                                      and all((s["candidates"]["count"].fillna(-1)
                                               == s["candidates"]["count_oracle"].fillna(-1)).all() for s in steps)),
    "item3_of_A": a3[["source", "count", "in_N_false", "label", "logit", "teacher_logit", "soft_label",
                      "recorded"]].to_dict(orient="index"),
    "reversed_at_steps": [int(t) for t in a3.index[a3["in_N_false"]]],
    "losses": losses.to_dict(orient="index"),
}
report.save_numbers("08_walkthrough", numbers)
numbers["memory_agrees_with_oracle"], numbers["reversed_at_steps"]
