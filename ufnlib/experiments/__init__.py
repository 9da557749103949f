"""Experiments: many runs. ``run`` trains a config or returns its cached record, ``store`` is the
cache on disk (one lookup, one place that spells each path), ``provenance`` what every record
says about where it was computed, ``grid`` computes a list of configs (processes, Dask, archives)
and ``profiles`` which configs each notebook needs. Imports ``training`` and the layers below it.
"""
