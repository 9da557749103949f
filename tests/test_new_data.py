"""A run on a new dataset either learns or says loudly why not: the new_data preset of file
datasets (``experiments.presets``), the run summary and its marks (``experiments.health``)."""
from __future__ import annotations

import json

import pytest

from ufnlib import Config, config_key
from ufnlib.__main__ import main as cli_main
from ufnlib.data.synthetic import write_file
from ufnlib.experiments import health, presets
from ufnlib.experiments.store import Record
from ufnlib.negatives.diagnostics import chance_level

# popularity 0: nothing to learn but the sequences, so validation stays at chance for a while;
# 400 users in batches of 256 take 2 optimizer steps per epoch
SLOW = "synthetic:users=400,items=100,clusters=5,popularity=0.0"
SMALL = ["--set", "hidden=16", "--set", "blocks=1", "--set", "n_neg=10", "--set", "maxlen=10",
         "--set", "lr=0.005", "--set", "batch_size=256", "--set", "max_epochs=80", "--quiet", "--threads", "1"]


# --------------------------------------------------------------------------------- presets
def test_presets_leave_registry_keys_and_fill_only_unset_fields(tmp_path):
    assert presets.default_preset("beauty") == "paper" and presets.default_preset("synthetic") == "paper"
    params, set_by = presets.apply_preset("paper", {"dataset": "beauty", "strategy": "ufn"})
    assert set_by == {} and config_key(Config(**params)) == config_key(Config(dataset="beauty", strategy="ufn"))
    assert config_key(Config()) == "d4ca9604853992e2"
    f = str(tmp_path / "d.txt")
    assert presets.default_preset(f) == "new_data"
    _, ufn = presets.apply_preset("new_data", {"dataset": f, "strategy": "ufn"})
    assert ufn == {"patience_min_steps": 3000, "warmup": "validation"}
    _, sas = presets.apply_preset("new_data", {"dataset": f, "strategy": "uniform"})
    assert sas == {"patience_min_steps": 3000}             # no warm-up to set: the key stays lean
    p, given = presets.apply_preset("new_data", {"dataset": f, "strategy": "ufn", "warmup": "fixed"}, {"warmup"})
    assert p["warmup"] == "fixed" and given == {"patience_min_steps": 3000}
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        presets.apply_preset("fast", {})


# ----------------------------------------------------------------------------------- marks
def record(best=0.3, epochs=30, steps_per_epoch=10, few=False, runaway=None, cap=200, best_epoch=10, **cfg):
    c = {**Config().to_dict(), "max_epochs": cap, **cfg}
    t = {m: 0.2 for m in ("hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", "mrr")}
    return Record({"key": "k" * 16, "config": c, "dataset": {"name": c["dataset"], "users": 10, "items": 500},
                   "selection": {"best_epoch": best_epoch, "best_score": best, "epochs_run": epochs,
                                 "stopped": "patience" if epochs < cap else "max_epochs",
                                 "few_steps_stop": few, "steps": epochs * steps_per_epoch},
                   "metrics": {"test": {"sampled": t, "full": t}}, "runaway_epoch": runaway,
                   "history": [], "train_seconds": 1.0})


def test_marks_in_words_with_their_fix():
    chance = chance_level("ndcg@10", 100)
    assert health.marks(record()) == [] and health.marks_text(record()) == ""
    failed = record(best=1.9 * chance, few=True, epochs=22, best_epoch=2)
    assert [m.code for m in health.marks(failed)] == ["failed", "flat_start"]
    assert "patience_min_steps=3000" in health.marks(failed)[0].fix
    assert not health.is_failed(record(best=2.1 * chance))
    assert [m.code for m in health.marks(record(runaway=12))] == ["runaway"]
    assert "warmup=validation" in health.marks(record(runaway=12))[0].fix
    capped = record(epochs=200, best_epoch=195)
    assert health.marks_text(capped) == "cap" and "max_epochs=400" in health.marks(capped)[0].fix
    at_cap = record(best=chance, epochs=200, best_epoch=195)
    assert health.marks_text(at_cap) == "failed, cap" and "max_epochs=400" in health.marks(at_cap)[0].fix
    text, bad = health.summary(failed)
    assert bad and text.splitlines()[-1].startswith("FAILED: ") and "Fix: " in text.splitlines()[-1]
    text, bad = health.summary(capped)
    assert not bad and text.splitlines()[-1].startswith("OK: test NDCG@10 0.2000") and "1 warning" in text


def test_caption_names_a_failed_run():
    from ufnlib.analysis.captions import protocol
    chance = chance_level("ndcg@10", 100)
    recs = [record(dataset="synthetic"), record(dataset="synthetic", seed=2, best=chance)]
    cap = protocol(recs, "sampled")
    assert "WARNING (failed, ufnlib.experiments.health)" in cap and "synthetic/sasrec/uniform/s2" in cap
    assert "synthetic/sasrec/uniform/s1" not in cap
    assert "WARNING (failed" not in protocol(recs[:1], "sampled")


# ------------------------------------------------------------------------- the slow start
def test_slow_start_paper_settings_fail_loudly_the_preset_learns(tmp_path, capsys):
    """On a generated file whose validation stays at chance for the first epochs, the paper's
    settings (patience 20 validations) stop in that flat start: flagged, a FAILED line naming the
    fix, exit status 3. With no option (the new_data preset: patience only after 3,000 steps, so
    here the epoch cap ends it) the same model learns well above chance."""
    data = write_file(SLOW, tmp_path / "slow.txt")
    root = str(tmp_path / "res")
    assert cli_main(["train", "--dataset", str(data), "--results", root, "--preset", "paper", *SMALL]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("preset paper (given)")
    assert out[-1].startswith("FAILED: ") and "patience_min_steps=3000" in out[-1]
    assert any("flat start" in line for line in out)

    assert cli_main(["train", "--dataset", str(data), "--results", root, "--json", *SMALL]) == 0
    cap = capsys.readouterr()
    assert cap.err.startswith("preset new_data (the default for a file dataset): patience_min_steps=3000")
    res = json.loads(cap.out)
    rec = json.loads((tmp_path / "res" / "runs" / f"{res['key']}.json").read_text())
    assert rec["preset"] == {"name": "new_data", "fields": {"patience_min_steps": 3000},
                             "chosen": "the default for a file dataset"}
    assert rec["config"]["patience_min_steps"] == 3000 and not rec["selection"]["few_steps_stop"]
    assert not res["failed"] and res["test_sampled"]["ndcg@10"] > 4 * chance_level("ndcg@10", 100)
    # the same command again: cached, the same summary
    assert cli_main(["train", "--dataset", str(data), "--results", root, *SMALL]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "(cached)" in out[1] and out[-1].startswith("OK: test NDCG@10")
