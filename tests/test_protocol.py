"""The protocol study: the test log never selects, the readings pick what they say, the
reference's estimate is seeded, the validation-based warm-up rule, resume with a log."""
from __future__ import annotations

import numpy as np
import pytest

import ufnlib
from ufnlib.config import Config
from ufnlib.data.datasets import leave_one_out
from ufnlib.experiments import profiles
from ufnlib.training import protocol
from ufnlib.training.train import Trainer, warmup_ended

SMALL = dict(dataset="synthetic:users=120,items=80", hidden=16, n_neg=5, maxlen=10, max_epochs=8,
             patience=8, warmup="fixed", warmup_epochs=3, m=1)


def _fit(cfg, patch_test=None):
    split = leave_one_out(ufnlib.load(cfg.dataset))
    tr = Trainer(cfg, split, progress=False)
    if patch_test is not None:
        real = tr.evaluator.ranks

        def ranks(model, which="valid", modes=("sampled", "full"), trim=True, **subset):
            out = real(model, which, modes, trim, **subset)
            return {m: patch_test(v, m) for m, v in out.items()} if which == "test" else out
        tr.evaluator.ranks = ranks
    return tr.fit(resume=False)


@pytest.mark.parametrize("strategy", ["uniform", "ufn"])
def test_selection_reads_validation_only(strategy):
    """The default path selects on validation only: logging test every 2 epochs changes nothing
    about training or selection, and neither does a test log that would choose another epoch
    (test ranks replaced by ones that favour the last epoch, or the first)."""
    cfg = Config(**SMALL, strategy=strategy)
    plain = _fit(cfg)
    logged = _fit(cfg.replace(log_test_every=2))
    rng = np.random.default_rng(0)
    noisy = _fit(cfg.replace(log_test_every=2), patch_test=lambda v, m: rng.integers(0, 100, len(v)))
    valid = [[h.get("valid") for h in t.history] for t in (plain, logged, noisy)]
    assert valid[0] == valid[1] == valid[2]
    assert plain.best["epoch"] == logged.best["epoch"] == noisy.best["epoch"]
    assert [e["epoch"] for e in logged.protocol.entries] == [2, 4, 6, 8]
    # the log did see the patched test ranks: the selection did not
    assert [e["test"] for e in logged.protocol.entries] != [e["test"] for e in noisy.protocol.entries]
    for k, v in plain.best["state"].items():
        assert np.array_equal(v.numpy(), noisy.best["state"][k].numpy()), k


def test_readings_pick_what_they_say():
    def entry(epoch, test, ref, vfull):
        return {"epoch": epoch, "test": {"sampled": {"ndcg@10": test, "hr@10": test}, "full": {"ndcg@10": test / 10}},
                "reference_test": {"ndcg@10": ref, "hr@10": ref}, "valid_full": {"ndcg@10": vfull}}
    rec = {"selection": {"best_epoch": 4},
           "metrics": {"test": {"sampled": {"ndcg@10": 0.30, "hr@10": 0.5}, "full": {"ndcg@10": 0.03}}},
           "protocol": {"log": [entry(4, 0.31, 0.36, 0.05), entry(8, 0.35, 0.33, 0.02), entry(12, 0.28, 0.30, 0.04)]}}
    r = protocol.readings(rec)
    assert r["validation"]["epoch"] == 4 and r["validation"]["sampled"]["ndcg@10"] == 0.30
    assert r["last"]["epoch"] == 12 and r["last"]["sampled"]["ndcg@10"] == 0.28
    assert r["test_best"]["epoch"] == 8
    assert r["full_validation"]["epoch"] == 4 and r["full_validation"]["sampled"]["ndcg@10"] == 0.31
    assert r["reference_last"]["sampled"]["ndcg@10"] == 0.30 and r["reference_best"]["epoch"] == 4
    assert protocol.readings({"selection": {}, "metrics": {}}) == {}
    assert set(protocol.OPTIMISTIC) <= set(protocol.READINGS)


def test_reference_estimate_is_seeded_and_subsamples():
    cfg = Config(**SMALL)
    split = leave_one_out(ufnlib.load(cfg.dataset))
    tr = _fit(cfg.replace(max_epochs=2))
    est = protocol.ReferenceEstimate(tr.evaluator, split, seed=1, n_users=50)
    a, b, c = (est.draw(tr.model, "test", d) for d in (0, 0, 1))
    assert a == b and a != c                          # seeded per draw; another draw differs
    assert est.n_users == 50
    full = protocol.ReferenceEstimate(tr.evaluator, split, seed=1)
    assert full.n_users == tr.evaluator.n             # capped at the evaluated users
    s = est.spread(tr.model, draws=5)
    assert s["draws"] == 5 and s["ndcg@10"]["std"] > 0
    assert s["ndcg@10"]["min"] <= s["ndcg@10"]["mean"] <= s["ndcg@10"]["max"]


def test_validation_warmup_rule():
    cfg = Config(warmup="validation", warmup_patience=3)
    assert not warmup_ended([1.0] * 4, cfg, [0.1, 0.2, 0.3, 0.4])            # still improving
    assert not warmup_ended([1.0] * 5, cfg, [0.1, 0.4, 0.3, 0.35])           # 2 without a best: not yet
    assert warmup_ended([1.0] * 5, cfg, [0.1, 0.4, 0.3, 0.35, 0.39])         # 3 validations without a best
    assert not warmup_ended([1.0] * 5, cfg, [0.1, 0.4, 0.3, 0.35, 0.41])     # a new best resets it
    assert not warmup_ended([1.0] * 3, cfg, [0.4, 0.3, 0.2])                 # needs more than 3 validations
    flat = [0.050, 0.056, 0.052, 0.055, 0.054, 0.053]                          # a flat start near chance (0.046)
    assert not warmup_ended([1.0] * 6, cfg, flat)                              # is not convergence
    with pytest.raises(ufnlib.ConfigError, match="warmup_patience"):
        Config(warmup="validation", warmup_patience=0)


def test_validation_warmup_starts_mining_after_the_backbone_stops_improving():
    """The trainer applies the rule to its own validation history: with a scripted validation
    curve (flat start, rise, peak at epoch 5), mining starts after the two validations without a
    new best (epochs 6 and 7), not in the flat start."""
    curve = [0.05, 0.052, 0.2, 0.4, 0.5, 0.49, 0.48, 0.47, 0.46, 0.45]
    cfg = Config(**{**SMALL, "max_epochs": 10, "patience": 10, "warmup": "validation"}, strategy="ufn",
                 warmup_patience=2)
    split = leave_one_out(ufnlib.load(cfg.dataset))
    tr = Trainer(cfg, split, progress=False)
    real = tr.evaluator.evaluate

    def scripted(model, which="valid", modes=("sampled", "full")):
        m, r = real(model, which, modes)
        if which == "valid" and "sampled" in m:
            m["sampled"] = {**m["sampled"], "ndcg@10": curve[len(tr.history)]}
        return m, r
    tr.evaluator.evaluate = scripted
    tr.fit(resume=False)
    assert tr.warmup_epoch == 7 and tr.strategy.active
    assert [h["valid"]["ndcg@10"] for h in tr.history] == curve
    assert not any(h.get("nfalse_entries") for h in tr.history[:7])      # nothing mined before


def test_logged_run_record_and_resume(tmp_path):
    """A fixed-budget run's record holds its log (every k epochs and the last), the reference
    estimate's spread, and per-user held-out flags; an interrupted run resumes to the same log."""
    cfg = Config(**SMALL, strategy="ufn", log_test_every=3)
    straight = ufnlib.run(cfg, root=tmp_path / "a", progress=False)
    assert ufnlib.run(cfg, root=tmp_path / "b", progress=False, stop_after_epochs=4) is None
    resumed = ufnlib.run(cfg, root=tmp_path / "b", progress=False)
    assert resumed["resumed_from_epoch"] == 4
    p = straight["protocol"]
    assert [e["epoch"] for e in p["log"]] == [3, 6, 8] and p["every"] == 3
    assert resumed["protocol"]["log"] == p["log"]
    assert {"reference_spread_last", "reference_spread_selected"} <= set(p)
    assert "heldout_in_nfalse" in p["log"][-1]
    ranks = ufnlib.load_ranks(cfg, tmp_path / "a")
    assert ranks["heldout_in_nfalse/valid"].shape == ranks["users"].shape
    assert int(ranks["heldout_in_nfalse/valid"].sum()) <= len(ranks["users"])
    assert set(protocol.readings(straight)) == set(protocol.READINGS)


def test_protocol_study_plan():
    smoke = profiles.protocol_study("smoke")
    fixed = [c for c in smoke if c.log_test_every]
    assert {c.strategy for c in fixed} == set(profiles.PROTOCOL_STRATEGIES)
    assert all(c.patience == c.max_epochs for c in fixed)
    warm = [c for c in smoke if not c.log_test_every and c.strategy == "ufn" and not c.exclude_heldout]
    # plateau rule (smoke: fixed 4) + 3
    assert {c.warmup for c in warm} == {"fixed", "validation"} and len(warm) == 2 * 4
    # the held-out intervention: the fixed-budget strategies and the default protocol's uniform and ufn again
    out = [c for c in smoke if c.exclude_heldout]
    assert {(c.strategy, bool(c.log_test_every)) for c in out} == (
        {(s, True) for s in profiles.PROTOCOL_STRATEGIES} | {("uniform", False), ("ufn", False)})
    # default protocol: uniform, ema_eval, ufn; 4 fixed-budget; 3 warm-up rules; held out: 4 fixed-budget + 2
    assert len(profiles.protocol_study("paper")) == 3 * (3 + 4 + 3 + 4 + 2)
    assert profiles.protocol_study("quick") == []
    # the default protocol never logs test
    assert Config().log_test_every == 0


# --------------------------------------------------------------------------- runaway mining
def _epoch(e, mined, valid, positions=1000):
    return {"epoch": e, "mined": mined, "positions": positions, "valid": {"ndcg@10": valid}}


def test_runaway_rule_on_histories():
    from ufnlib.negatives.diagnostics import chance_ndcg, runaway
    chance = chance_ndcg(10, 100)
    assert chance == pytest.approx(sum(1 / np.log2(r + 2) for r in range(10)) / 101)
    near = [_epoch(e, m, chance * 1.2) for e, m in zip(range(1, 5), (800, 1500, 2000, 3000))]
    assert runaway(near)                                      # rising mining at chance level
    assert not runaway(near[:3])                              # too few mining epochs to tell
    learning = [_epoch(e, m, v) for e, m, v in zip(range(1, 5), (800, 1500, 2000, 3000), (0.1, 0.2, 0.3, 0.35))]
    assert not runaway(learning)                              # mining rises, but the model learns
    falling = [_epoch(e, m, v) for e, m, v in zip(range(1, 5), (800, 1500, 2000, 3000), (0.30, 0.29, 0.27, 0.25))]
    assert runaway(falling)                                   # rising mining while validation falls
    settled = [_epoch(e, m, chance) for e, m in zip(range(1, 5), (3000, 2900, 3100, 3000))]
    assert not runaway(settled)                               # mining does not grow any more
    warmup = [{"epoch": e, "valid": {"ndcg@10": chance}} for e in range(1, 9)]
    assert not runaway(warmup)                                # no mining: nothing to flag


def test_runaway_fires_when_mining_starts_on_an_untrained_model():
    """Synthetic data with a long flat start (1,000 users: SASRec with the paper's settings sits at
    chance for many epochs): the reference's plateau rule starts mining on an untrained model, the
    mined entries grow and validation stays at chance; the run is flagged and a warning raised."""
    cfg = Config(dataset="synthetic:users=1000", strategy="ufn", max_epochs=30, patience=30)
    split = leave_one_out(ufnlib.load(cfg.dataset))
    with pytest.warns(RuntimeWarning, match="runaway mining"):
        tr = Trainer(cfg, split, progress=False).fit(resume=False)
    from ufnlib.negatives.diagnostics import runaway_epoch
    assert tr.warmup_epoch is not None and runaway_epoch(tr.history) is not None


def test_runaway_fires_only_where_it_should_on_the_cached_runs():
    """On the cached mining runs the rule fires on no real-data run (Beauty, Sports, Yelp) and on
    none of notebook 07's fixed-warm-up synthetic runs of its default data and warm-up; where it
    fires, the run recorded it (notebook 07's lesson: UFN with the plateau warm-up under the paper's
    settings; its exercises' variants: a harder dataset, a warm-up of a few epochs)."""
    import json
    from pathlib import Path

    from ufnlib.data.datasets import REGISTRY
    from ufnlib.negatives.diagnostics import runaway
    recs = [json.loads(p.read_text()) for p in (Path(__file__).parent.parent / "results" / "runs").glob("*.json")]
    mining = [r for r in recs if r["config"]["strategy"] != "uniform"]
    assert len(mining) >= 20
    fired = set()
    for r in mining:
        h, c = r["history"], r["config"]
        flagged = (h[i]["epoch"] for i in range(len(h)) if runaway(h[:i + 1], c["eval_neg"], c["select_metric"]))
        first = next(flagged, None)
        if first is not None:
            fired.add(r["key"])
            assert r.get("runaway_epoch") == first, r["key"]       # recorded when it ran
            assert c["dataset"] not in REGISTRY, r["key"]
            exercise = "=" in c["dataset"] or c["warmup_epochs"] < 5         # notebook 07's exercise variants
            assert c["warmup"] == "plateau" or exercise, r["key"]
    assert fired                                      # notebook 07's runaway lesson is among them


# ------------------------------------------------------------------ early stopping, few steps
def test_patience_counts_after_min_steps_and_the_teachers_lag():
    from ufnlib.training.train import counts_toward_patience
    assert counts_toward_patience(0, None, Config())                     # default: every validation counts
    cfg = Config(patience_min_steps=500, decay=0.99)
    assert not counts_toward_patience(499, None, cfg) and counts_toward_patience(500, None, cfg)
    assert not counts_toward_patience(800, 99, cfg)                      # teacher 99 steps old: lag 1/(1-d) = 100
    assert counts_toward_patience(800, 100, cfg)


def test_min_steps_keep_a_slow_start_from_stopping_a_run():
    """A small synthetic set with a long flat start and few steps per epoch (8): patience 3
    stops SASRec in the plateau (flagged), patience_min_steps lets it run past it."""
    base = dict(dataset="synthetic:users=1000", max_epochs=20, patience=3, hidden=16, n_neg=20)
    split = leave_one_out(ufnlib.load(base["dataset"]))
    short = Trainer(Config(**base), split, progress=False).fit(resume=False)
    longer = Trainer(Config(**base, patience_min_steps=15 * 8), split, progress=False).fit(resume=False)
    from ufnlib.training.train import stopped_after_few_steps
    assert short.epoch < 15 and stopped_after_few_steps(short.history, short.cfg, short.steps_per_epoch)
    assert longer.epoch >= 15
    assert [h["valid"] for h in longer.history[:short.epoch]] == [h["valid"] for h in short.history]


def test_readings_table_compares_strategies_on_the_seeds_both_have():
    """A strategy with fewer seeds than SASRec is compared with SASRec's runs of the same seeds,
    not with SASRec's mean over other seeds too."""
    import pandas as pd

    from ufnlib.analysis.protocol_report import readings_table
    rows = [dict(strategy="uniform", seed=1, value=0.30), dict(strategy="uniform", seed=2, value=0.40),
            dict(strategy="ufn", seed=1, value=0.33)]
    frame = pd.DataFrame([dict(r, reading="last", epoch=200, metric="ndcg@10", full=None) for r in rows])
    t = readings_table(frame).set_index("strategy")
    assert abs(t.loc["ufn", "_rel"] - 0.10) < 1e-12          # 0.33 vs seed 1's 0.30, not vs 0.35
    assert t.loc["uniform", "seeds"] == 2 and t.loc["ufn", "seeds"] == 1


def test_warmup_comparison_decides_only_with_every_seed():
    """Notebook 09's warm-up table: a rule with fewer seeds than asked decides nothing; with all
    of them its status is the comparison model's verdict on HR@10 and NDCG@10 against SASRec
    (paired by seed): above (helps on both), below (hurts on one), or no clear difference."""
    import pandas as pd

    from ufnlib.analysis.protocol_report import verdict_text, warmup_comparison
    rows = []
    for s, (base, plateau, late, mixed) in enumerate([(0.30, 0.29, 0.33, 0.31), (0.31, 0.30, 0.335, 0.30),
                                                      (0.30, 0.30, 0.332, 0.305)], 1):
        rows += [dict(rule="SASRec (no warm-up)", seed=s, **{"hr@10": 0.5, "ndcg@10": base}),
                 dict(rule="plateau (reference)", seed=s, **{"hr@10": 0.49, "ndcg@10": plateau}),
                 dict(rule="fixed 40", seed=s, **{"hr@10": 0.52, "ndcg@10": late}),
                 dict(rule="fixed 20", seed=s, **{"hr@10": 0.5 + s / 1000, "ndcg@10": mixed})]
    rows.append(dict(rule="validation", seed=1, **{"hr@10": 0.6, "ndcg@10": 0.4}))
    comp = warmup_comparison(pd.DataFrame(rows), 3).set_index("rule")
    assert comp.loc["fixed 40", "status"] == "above SASRec" and comp.loc["fixed 40", "p vs SASRec"] < 0.05
    assert comp.loc["fixed 40", "interval vs SASRec"].startswith("[+")
    assert comp.loc["plateau (reference)", "status"] == "below SASRec"          # HR@10 lower on every seed
    assert comp.loc["fixed 20", "status"] == "no clear difference from SASRec"
    assert comp.loc["validation", "status"] == "1 of 3 seeds: not decided"
    assert np.isnan(comp.loc["validation", "p vs SASRec"])
    assert comp.loc["fixed 40", "vs default rule"] == pytest.approx((0.997 / 3) / (0.89 / 3) - 1)
    assert list(comp.columns)[-1] == "status"
    text = verdict_text(None, pd.DataFrame(rows))
    assert text == ["Not computed: no fixed-budget run is in the cache yet."]
    assert warmup_comparison(pd.DataFrame(rows[1:2]), 3).empty       # no SASRec rows: nothing to compare


def test_verdict_says_size_and_whether_the_validation_warmup_changes_it():
    """The verdict compares each reading's gain with the paper's Table 3 gain (+UFN +5.6%), and,
    once the validation warm-up rule has every seed, says whether it changes the verdict."""
    import pandas as pd

    from ufnlib.analysis.protocol_report import readings_table, verdict_text
    vals = {"uniform": (0.30, 0.30), "ufn": (0.31, 0.32)}            # last epoch: +5.0%, full validation: +6.7%
    frame = pd.DataFrame([dict(strategy=s, seed=k, value=v[i], reading=r, epoch=200, metric="ndcg@10", full=None)
                          for s, v in vals.items() for k in (1, 2) for i, r in enumerate(("last", "full_validation"))])
    table = readings_table(frame)
    size = [x for x in verdict_text(table) if x.startswith("Size: the paper's +UFN")]
    assert len(size) == 1 and "reaches it under epoch chosen on full-ranking validation (+6.7%" in size[0]
    assert "helps (2 seeds)" in size[0]          # the verdict and the seeds compared, not the mean alone
    assert "last epoch" not in size[0].split("(largest")[0]
    warm = pd.DataFrame([dict(rule=r, seed=k, **{"hr@10": h, "ndcg@10": n})
                         for k in (1, 2) for r, h, n in (("SASRec (no warm-up)", 0.5, 0.30),
                                                         ("plateau (reference)", 0.49, 0.29 + k / 1000),
                                                         ("validation", 0.52, 0.32 + k / 1000))])
    said = verdict_text(table, warm, seeds_wanted=2)[-1]
    assert said.startswith("The validation warm-up rule changes the verdict")
    assert "reference's rule UFN's verdict is 'below SASRec', with the validation rule 'above SASRec'." in said
    from ufnlib.analysis.protocol_report import EMA_LABEL
    ema = pd.DataFrame([dict(rule=EMA_LABEL, seed=k, **{"hr@10": 0.51, "ndcg@10": 0.31 + k / 1000}) for k in (1, 2)])
    said = verdict_text(table, pd.concat([warm, ema]), seeds_wanted=2)[-1]
    assert "against the EMA control (SASRec evaluated with EMA weights, no mining) the validation rule is +3.2%" in said
    assert not any(x.startswith("The validation warm-up rule") for x in verdict_text(table, warm, seeds_wanted=3))


def test_reading_claims_are_decided_by_the_comparison_model_and_wait_only_for_their_setting():
    """'+UFN beats SASRec' under a reading: UFN above SASRec on every seed and both metrics holds;
    a missing run of the other setting (held-out items out of reach) does not keep it open, a
    missing run of its own setting does."""
    import pandas as pd

    from ufnlib.analysis.protocol_report import reading_claims
    from ufnlib.experiments.grid import GridResult
    rows = [dict(strategy=s, seed=k, reading="last", epoch=200, metric=m, full=None, generation=3,
                 exclude_heldout=False, value=v + k / 1000 + (0.03 if s == "ufn" else 0) + (0.2 if m == "hr@10" else 0))
            for s in ("uniform", "ufn") for k in (1, 2, 3) for m, v in (("hr@10", 0.30), ("ndcg@10", 0.30))]
    frame = pd.DataFrame(rows)

    def ufn_claim(res):
        return next(c for c in reading_claims(frame, res)
                    if c.source.startswith("Reading: last epoch") and c.text == "+UFN beats SASRec.")
    other = GridResult(missing=[Config(strategy="ufn", seed=4, log_test_every=4, exclude_heldout=True)])
    c = ufn_claim(other)
    assert c.ours == "holds" and "helps (3 seeds)" in c.detail
    own = GridResult(missing=[Config(strategy="ufn", seed=4, log_test_every=4)])
    assert ufn_claim(own).ours == "partly computed"


class _CurveRun(dict):
    """The parts of a run record that ``mean_curves`` reads."""

    def __init__(self, seed, valid, test):
        super().__init__(protocol={"log": [{"epoch": e, "test": {"sampled": {"ndcg@10": v}}} for e, v in test]})
        self.seed = seed
        self.history = [{"epoch": e, "valid": {"ndcg@10": v}} for e, v in valid]


def test_mean_curves_average_seeds_on_the_epochs_all_have_from_the_start():
    """The zoomed curves: per-epoch mean/min/max over seeds, only where every seed has a value and
    from ``start`` on; test reads the logged epochs, validation the history."""
    from ufnlib.analysis.protocol_report import mean_curves
    a = _CurveRun(1, [(1, 0.1), (2, 0.2), (3, 0.3)], [(2, 0.5), (4, 0.7)])
    b = _CurveRun(2, [(1, 0.3), (2, 0.4)], [(2, 0.1), (4, 0.3)])
    v = mean_curves([a, b], "valid", start=2)
    assert list(v.index) == [2]                       # epoch 1 is before start, epoch 3 only seed 1 has
    assert v.loc[2, "mean"] == pytest.approx(0.3) and v.loc[2, "min"] == 0.2 and v.loc[2, "max"] == 0.4
    t = mean_curves([a, b], "test")
    assert list(t.index) == [2, 4] and t.loc[4, "mean"] == pytest.approx(0.5) and (t["n"] == 2).all()
    assert mean_curves([], "test") is None and mean_curves([a], "valid", start=9) is None


def test_estimate_spread_lines_read_the_draw_noise_against_the_gap():
    """The reference's estimate: its draw std against the seed spread, and the chance that one draw
    per run reverses two strategies' order (half for equal means, near zero for a wide gap)."""
    import pandas as pd

    from ufnlib.analysis.protocol_report import estimate_spread_lines
    rows = [dict(strategy=s, seed=k, at=at, all_users=v + 0.001 * k, estimate_mean=v + 0.001 * k + 0.0005,
                 estimate_std=0.003, estimate_min=0.0, estimate_max=1.0)
            for s, gaps in (("uniform", {"last": 0.30, "selected": 0.35}), ("ufn", {"last": 0.35, "selected": 0.35}))
            for at, v in gaps.items() for k in (1, 2, 3)]
    lines = estimate_spread_lines(pd.DataFrame(rows))
    assert "std of 0.0030" in lines[0] and "3.0 times" in lines[0] and "+0.0005" in lines[0]
    assert lines[1].startswith("At the last epoch") and "+0.0500" in lines[1] and "probability 0.0%" in lines[1]
    assert lines[2].startswith("At the validation-selected epoch") and "probability 50.0%" in lines[2]
    assert estimate_spread_lines(pd.DataFrame(rows).iloc[:0])[0].startswith("Not computed")
