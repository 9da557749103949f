"""ufnlib: a small library behind the UFNRec reproducibility notebooks.

Subpackages by role, each importing only the ones below it (tests/test_tooling.py checks it):
``analysis`` (statistics, tables, plots, what a reader sees) -> ``experiments`` (runs, the cache,
grids, profiles) -> ``training`` (one run's loop and its evaluation) -> ``models`` (backbones) |
``negatives`` (the strategy family: detector x treatment) -> ``config`` -> ``data``; ``files`` and
``paper`` import nothing. The names below are the short public ones (``ufnlib.run``,
``ufnlib.Config``, ...); notebooks import the rest from their subpackages.
"""
from .config import Config, ConfigError, config_key
from .data.datasets import (
           REGISTRY,
           DataError,
           Sequences,
           Split,
           leave_one_out,
           load,
           print_table1,
           resolve,
           statistics,
           table1,
)
from .experiments.run import run
from .experiments.splits import load_split
from .experiments.store import is_cached, list_runs, load_model, load_ranks, load_record
from .training.evaluate import Evaluator, metrics_from_ranks, per_user_metric

__all__ = ["Config", "ConfigError", "config_key", "DataError", "REGISTRY", "Sequences", "Split",
           "leave_one_out", "load", "print_table1", "resolve", "statistics", "table1", "Evaluator",
           "metrics_from_ranks", "per_user_metric", "is_cached", "list_runs", "load_model",
           "load_ranks", "load_record", "load_split", "run"]
