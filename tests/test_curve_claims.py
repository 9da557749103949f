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


# ------------------------------------------------- "SASRec declines ... while UFNRec stays high"
def _decline_frame(sas_best: int, sas_last: int, ufn_best: int, ufn_last: int, ufn_slope: float,
                   sas_slope: float = 0.001) -> pd.DataFrame:
    """Curves rising 0.002 per epoch to their best, then falling by ``*_slope`` per epoch (seed s
    adds a small s-dependent offset to the slopes, so the seeds differ)."""
    rows = []
    for seed in (1, 2, 3):
        for st, best, last, slope in (("uniform", sas_best, sas_last, sas_slope),
                                      ("ufn", ufn_best, ufn_last, ufn_slope)):
            for epoch in range(1, last + 1):
                up = 0.1 + 0.002 * min(epoch, best)
                v = up - (slope * (1 + 0.1 * seed)) * max(0, epoch - best)
                rows.append(dict(strategy=st, seed=seed, epoch=epoch, model="reported", best_epoch=best,
                                 warmup_end=5 if st == "ufn" else None, generation=3,
                                 **{"ndcg@10": v, "hr@10": 2 * v}))
    return pd.DataFrame(rows)


def _decline(frame):
    return next(c for c in curve_claims(frame) if c.text.startswith("SASRec declines"))


def test_a_drop_over_a_shorter_window_is_not_read_as_staying_high():
    # Both arms decline at the same rate after their best; SASRec stops 20 epochs after it, UFNRec
    # hits the cap 2 epochs after it. Measured best-to-last (the old horizon) SASRec's drop is ten
    # times UFNRec's and the claim "held"; over the same k = 2 epochs the drops are equal.
    c = _decline(_decline_frame(50, 70, 198, 200, ufn_slope=0.001))
    assert c.ours == "not shown"
    assert "s1 2, s2 2, s3 2" in c.detail and "no clear difference" in c.detail
    assert "helps" not in c.detail and "validation NDCG@10" in c.detail and "absolute" in c.detail


def test_ufnrec_flat_after_its_best_over_the_same_window_holds():
    # the fixed budget of notebook 09: both arms run to the cap; UFNRec stays flat after its best
    c = _decline(_decline_frame(50, 200, 150, 200, ufn_slope=0.0))
    assert c.ours == "holds" and "s1 50, s2 50, s3 50" in c.detail and "larger" in c.detail


def test_no_epoch_after_ufnrecs_best_is_said_and_read_in_the_same_epochs():
    c = _decline(_decline_frame(50, 70, 200, 200, ufn_slope=0.0))
    assert "has no epoch after its best" in c.detail and "does not decline within the observed epochs" in c.detail
    assert c.ours == "holds"          # SASRec's post-peak epochs: SASRec falls, UFNRec still rises
