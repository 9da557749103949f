"""ufnlib: a small library behind the UFNRec reproducibility notebooks.

Public names (notebooks import only these):
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
