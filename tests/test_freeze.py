"""Numerics freeze: this checkout retraces a cached generation-3 paper-profile run bit for bit
(``ufnlib.experiments.freeze``). The record is Figure 3's alpha = 0.1 point on Beauty (SASRec + UFN,
seed 1, computed at 9aa1d6c on one thread); the retrace covers the warm-up and two epochs of
mining. A change that moves any loss, validation metric or mining counter fails here. The same
code gives other last bits on another host (docs/speed.md), so on a machine of another platform
than the record's the test is skipped, saying so."""
from __future__ import annotations

import platform

import pytest

from ufnlib.experiments import freeze, store

KEY = "919997e16f3619cb"


def test_differences_are_exact():
    assert freeze._differences({"a": 1.0, "b": [0.5]}, {"a": 1.0, "b": [0.5]}, "h") == []
    assert freeze._differences({"a": 1.0}, {"a": 1.0 + 2 ** -40}, "h") == ["h.a: record 1.0, rerun 1.0000000000009095"]
    assert freeze._differences({"a": float("nan")}, {"a": float("nan")}, "h") == []
    assert freeze._differences({"a": 1}, {"b": 1}, "h") == ["h.a: only in record", "h.b: only in rerun"]


def test_cached_generation3_run_retraces_bitwise(shared_data):
    if not store.record_path(KEY).is_file():
        pytest.skip(f"record {KEY} not in the cache")
    rec = store.load_record(KEY)
    here = platform.platform()
    if rec["env"].get("platform") != here:
        # the same code gives other last bits on another host (docs/speed.md): a retrace on this
        # machine checks nothing about the code
        pytest.skip(f"record {KEY} was computed on {rec['env'].get('platform')}, this machine is {here}")
    out = freeze.retrace(KEY)
    assert out["epochs"] == rec["warmup_end_epoch"] + 2
    assert out["differences"] == []


def test_differences_name_the_epoch():
    a = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}]
    b = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}]
    assert freeze._differences(a, b, "history") == ["history[1].loss: record 1.0, rerun 1.5"]
