"""``exclude_heldout``: a user's validation and test items kept out of that user's training
negatives (the held-out-item intervention of notebook 09), and today's draws when it is unset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ufnlib import Config, load_split
from ufnlib.config import STRATEGIES, config_key
from ufnlib.data.batches import NegativeSampler, membership_keys, training_keys
from ufnlib.training.train import Trainer

DATA = "synthetic:users=80,items=40"


def heldout_hits(cfg) -> tuple[int, int]:
    """Train ``cfg`` and count (negatives drawn or re-fed that are the user's validation or test
    item, negatives in all), over every batch of every epoch, mining included."""
    split = load_split(cfg.dataset)
    tr = Trainer(cfg, split, progress=False)
    held = np.stack([split.valid, split.test], 1)            # [n_users, 2], 0 = none
    seen = [0, 0]
    draw = tr.strategy.negatives

    def spy(batch):
        negs = draw(batch)
        h = torch.from_numpy(held)[batch.pos_users.cpu()]      # [P, 2]
        seen[0] += int(((negs[:, :, None] == h[:, None, :]) & (h[:, None, :] > 0)).any(2).sum())
        seen[1] += negs.numel()
        return negs
    tr.strategy.negatives = spy
    tr.fit()
    assert tr.warmup_epoch is not None or not tr.strategy.needs_warmup
    return seen[0], seen[1]


def small(strategy, backbone="sasrec", **kw):
    extra = {"srns_t": 2} if "srns" in strategy else {}
    return Config(dataset=DATA, backbone=backbone, strategy=strategy, warmup="fixed", warmup_epochs=1, m=1,
                  hidden=16, user_hidden=16, n_neg=10, maxlen=10, max_epochs=4, patience=10, **extra, **kw)


@pytest.mark.parametrize("attend_padding", [False, True], ids=["packed", "padded"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_training_negative_is_a_heldout_item(strategy, attend_padding):
    hits, n = heldout_hits(small(strategy, attend_padding=attend_padding, exclude_heldout=True))
    assert n > 0 and hits == 0


@pytest.mark.parametrize("backbone", ["bert4rec", "ssept"])
def test_no_training_negative_is_a_heldout_item_other_backbones(backbone):
    hits, n = heldout_hits(small("ufn", backbone, exclude_heldout=True))
    assert n > 0 and hits == 0


def test_without_the_field_heldout_items_are_drawn_and_mined():
    """The reference behaviour the field switches off: on this catalogue held-out items are drawn
    (so the test above could fail), and the default keeps every existing cache key."""
    hits, n = heldout_hits(small("ufn"))
    assert hits > 0
    assert config_key(small("ufn")) == config_key(small("ufn", exclude_heldout=False))
    assert config_key(small("ufn")) != config_key(small("ufn", exclude_heldout=True))


def test_unset_field_draws_bitwise_today():
    """Unset, the sampler's keys are the training items' (``membership_keys(split, 'train')``),
    so its draws are today's; set, they add exactly each user's validation and test item."""
    split = load_split(DATA)
    base = membership_keys(split, "train")
    assert torch.equal(training_keys(split, Config(dataset=DATA)), base)
    users = torch.arange(split.n_users).repeat_interleave(3)
    a = NegativeSampler(base, split.n_items, torch.Generator().manual_seed(5)).sample(users, 20)
    b = NegativeSampler(training_keys(split, Config(dataset=DATA)), split.n_items,
                        torch.Generator().manual_seed(5)).sample(users, 20)
    assert torch.equal(a, b)
    held = training_keys(split, Config(dataset=DATA, exclude_heldout=True))
    n1 = split.n_items + 1
    extra = set(held.tolist()) - set(base.tolist())
    want = {u * n1 + int(i) for u in range(split.n_users) for i in (split.valid[u], split.test[u])
            if i > 0 and i not in split.train_seq(u)}
    assert extra == want and len(want) > 0


def test_side_by_side_counts_the_seeds_compared_and_names_those_left_out():
    """A strategy's seeds are those compared with SASRec (same code generation), not its runs."""
    import pandas as pd

    from ufnlib.analysis import heldout, protocol_report
    reading = next(iter(protocol_report.READINGS))
    gen = {"uniform": {1: 3, 2: 3, 3: 0}, "ufn": {1: 3, 2: 0, 3: 0}}
    rows = [dict(reading=reading, strategy=s, seed=k, metric="ndcg@10", value=0.35 + 0.01 * (s == "ufn") + 0.001 * k,
                 epoch=100, generation=g, exclude_heldout=False) for s, d in gen.items() for k, g in d.items()]
    table = protocol_report.readings_table(pd.DataFrame(rows))
    sbs = heldout.side_by_side({False: table}).set_index("strategy")
    assert sbs.loc["uniform", "seeds, in reach"] == 3                  # SASRec's own runs
    assert sbs.loc["ufn", "seeds, in reach"] == 2                      # seed 2 pairs generations 3 and 0
    assert "seed 2 (generations 3 vs 0)" in sbs.loc["ufn", "pairing, in reach"]


def test_the_answer_follows_the_out_of_reach_verdicts():
    """The README's answer to 'is the gain made of the held-out items?' reads the words, not the means."""
    from ufnlib.analysis import comparison, heldout
    last, ours = heldout.ANSWER_READINGS

    def nums(word_last, word_valid):
        sides = [{"reading": last, "strategy": "ufn", "vs SASRec, out of reach": 0.03, "interval, out of reach":
                  "[+1.00%, +5.00%]", "verdict, out of reach": word_last, "seeds, out of reach": 3},
                 {"reading": ours, "strategy": "ufn", "vs SASRec, out of reach": -0.01, "interval, out of reach": "",
                  "verdict, out of reach": comparison.UNCLEAR, "seeds, out of reach": 3},
                 {"reading": ours, "strategy": "uniform", "vs SASRec, out of reach": None}]
        valid = {"out of reach": dict(change="+0.30%", interval="[-0.70%, +1.20%]", word=word_valid, n=3, mixed=False)}
        return {"sides": sides, "valid": valid}
    said = " ".join(heldout.answer_lines(nums(comparison.HELPS, comparison.UNCLEAR)))
    assert f"{last} +3.00% [+1.00%, +5.00%] helps (3 seeds)" in said
    assert f"where it helps ({last}) is not made of reversed held-out items" in said
    assert "validation advantage at the selected epoch (what early stopping and Figure 4 read) is not shown" in said
    said = " ".join(heldout.answer_lines(nums(comparison.UNCLEAR, comparison.HELPS)))
    assert "No reading shows a gain" in said and "validation advantage" in said and " survives " in said
    assert heldout.answer_lines({"sides": [], "valid": {}})[0].startswith("Not computed yet")
