"""Named presets: config fields set together, by name, where the caller has not set them.

``paper`` sets nothing: the paper's settings (the Config defaults), and the preset of every
registry or generated dataset, whose configs, cache keys and results stay as they were.
``new_data`` is the preset of a dataset given as a file: patience counts only once the run has
taken 3,000 optimizer steps (``patience_min_steps``; a small file takes few steps per epoch, and
patience counted in epochs stops it inside the flat start of its learning curve), and a mining
strategy ends its warm-up once the backbone has converged on validation (``warmup=validation``)
rather than when the training loss flattens, which on such data happens before the model has
learnt anything. Why these values: docs/own_data.md (the runs on a generated slow-start file).
"""
from __future__ import annotations

from ..data.owndata import is_file_spec
from ..negatives.strategies import SPECS

PRESETS = {
    "paper": {},
    "new_data": {"patience_min_steps": 3000, "warmup": "validation"},
}
WHY = {
    "paper": "the paper's settings",
    "new_data": "patience counts only after 3,000 optimizer steps; mining starts once the backbone "
                "has converged on validation",
}


def default_preset(dataset: str) -> str:
    """``new_data`` for a dataset given as a file, ``paper`` for every other."""
    return "new_data" if is_file_spec(dataset) else "paper"


def preset_fields(name: str, strategy: str) -> dict:
    """The fields preset ``name`` sets for a run of ``strategy`` (the warm-up rule only where the
    strategy has a warm-up: it would change a plain backbone's key and nothing it computes)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}'. Fix: use one of {sorted(PRESETS)}.")
    spec = SPECS.get(strategy)          # an unknown strategy: the Config says so, with the choices
    has_warmup = spec is not None and (spec.detector is not None or spec.teacher)
    return {k: v for k, v in PRESETS[name].items() if k != "warmup" or has_warmup}


def apply_preset(name: str, params: dict, given=()) -> tuple[dict, dict]:
    """``params`` with the preset's fields filled in where the caller did not set them (``given``:
    the field names set explicitly). Returns (params, the fields the preset set)."""
    fields = {k: v for k, v in preset_fields(name, params.get("strategy", "uniform")).items()
              if k not in given}
    return {**params, **fields}, fields


def announce(name: str, fields: dict, chosen: str) -> str:
    """The run's first line: which preset, why it applies, what it set, how to get the other."""
    what = ", ".join(f"{k}={v}" for k, v in fields.items())
    other = "--preset paper for the paper's settings" if name != "paper" else "--preset new_data for a new dataset"
    return f"preset {name} ({chosen}): " + (f"{what}: {WHY[name]}" if what else WHY[name]) + f". ({other})"
