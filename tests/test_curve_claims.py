"""Figure 4's code check (until warm-up ends UFNRec's validation curve is SASRec's) counts only
seed pairs of one code generation: other code gives other floating-point results, which is not
a failure of this code's check."""
from __future__ import annotations

import pandas as pd

from ufnlib.analysis.plots import curve_claims


def _frame(gen_ufn: dict, drift: dict | None = None) -> pd.DataFrame:
    rows = []
    for seed in (1, 2, 3):
        for epoch in range(1, 31):
            base = 0.1 + 0.01 * epoch + 0.001 * seed
            for st, gen in (("uniform", 3), ("ufn", gen_ufn.get(seed, 3))):
                v = base + ((drift or {}).get(seed, 0.0) if st == "ufn" else 0.0)
                rows.append(dict(strategy=st, seed=seed, epoch=epoch, model="reported", warmup_end=20,
                                 best_epoch=30, generation=gen, **{"ndcg@10": v, "hr@10": 2 * v}))
    return pd.DataFrame(rows)


def _check(frame):
    return next(c for c in curve_claims(frame) if c.source.startswith("Figure 4 (ours"))


def test_equal_curves_hold_and_a_differing_seed_contradicts():
    assert _check(_frame({})).ours == "holds"
    c = _check(_frame({}, drift={2: 1e-4}))
    assert c.ours == "contradicted" and c.detail.startswith("2 of 3")


def test_a_seed_pair_of_two_code_generations_is_left_out_not_counted_against():
    c = _check(_frame({3: 0}, drift={3: 1e-4}))
    assert c.ours == "holds" and c.detail.startswith("2 of 2") and "seed(s) 3 left out" in c.detail
