"""Figure 5 without the weights: the case study's committed artefacts (top-10 lists, replayed
N_false) give the same numbers as the weights, and artefacts of other runs are not used."""
from __future__ import annotations

import json
import shutil

import ufnlib
from ufnlib.analysis import case_artefacts
from ufnlib.analysis.casestudy import CaseStudy
from ufnlib.experiments.grid import GridResult

DATA = "synthetic:users=80,items=60"


def _runs(root):
    base = dict(dataset=DATA, hidden=16, n_neg=10, maxlen=10, max_epochs=4, patience=10, warmup="fixed",
                warmup_epochs=1, m=1)
    recs = [ufnlib.run(ufnlib.Config(strategy=s, **base), root=root, progress=False) for s in ("uniform", "ufn")]
    return GridResult(records=recs)


def test_artefacts_replace_the_weights(tmp_path):
    runs = _runs(tmp_path)
    with_w = CaseStudy(runs, DATA, root=tmp_path)
    assert with_w.ready and with_w.art is None and "selected weights" in with_w.status
    top, agg, claims = with_w.topk(), with_w.aggregate(), [c.ours for c in with_w.claims()]
    case = with_w.case(user_seed=0)
    p = case_artefacts.path(with_w.records, tmp_path)
    assert p.is_file() and p.stat().st_size < 200_000
    art = with_w.art
    assert art.top["SASRec"].shape == (len(art.users), case_artefacts.K)
    assert case["top"]["UFNRec"] == art.top_of("UFNRec", case["user"], 5)

    shutil.rmtree(tmp_path / "models")                       # a fresh clone: no weights
    fresh = CaseStudy(runs, DATA, root=tmp_path)
    assert fresh.ready and "artefacts" in fresh.status
    assert fresh.topk().equals(top) and fresh.aggregate().equals(agg)
    assert [c.ours for c in fresh.claims()] == claims and "not computed" not in claims
    assert fresh.case(user_seed=0) == case


def test_stale_artefacts_are_not_used(tmp_path):
    runs = _runs(tmp_path)
    CaseStudy(runs, DATA, root=tmp_path).topk()              # writes the artefacts
    shutil.rmtree(tmp_path / "models")
    rec = runs.records[1]
    rec["finished"] = "2099-01-01T00:00:00+00:00"            # another run of the same config
    study = CaseStudy(runs, DATA, root=tmp_path)
    assert not study.ready and study.status.startswith("not computed")
    assert study.topk() is None
    assert all(c.ours == "not computed" for c in study.claims())
    json.dumps(study.numbers())
