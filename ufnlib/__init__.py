"""ufnlib: a small library behind the UFNRec reproducibility notebooks.

Public names (notebooks import only these):
"""
from .config import Config, ConfigError, config_key
from .data import (DataError, REGISTRY, Sequences, Split, leave_one_out, load, print_table1,
                   resolve, statistics, table1)
from .evaluate import Evaluator, metrics_from_ranks, per_user_metric
from .experiments import is_cached, list_runs, load_model, load_ranks, load_record, load_split, run
from . import strategies  # registers the strategies
from . import srns  # registers the SRNS strategies (Table 4)

__all__ = ["Config", "ConfigError", "config_key", "DataError", "REGISTRY", "Sequences", "Split",
           "leave_one_out", "load", "print_table1", "resolve", "statistics", "table1", "Evaluator",
           "metrics_from_ranks", "per_user_metric", "is_cached", "list_runs", "load_model",
           "load_ranks", "load_record", "load_split", "run"]
