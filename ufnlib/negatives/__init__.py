"""Negatives: one strategy family, a false-negative detector (FMR's re-feed counter, SRNS's
variance rule, or SRNS inside N_rec) times a treatment (reverse, remove, consistency), with its
memories (``fmr``, ``srns``), their compiled kernels, the plain-Python oracle they are tested
against and the per-epoch mining diagnostics. Imports only ``ufnlib.data`` and ``ufnlib.config``;
never a model class (a strategy sees candidates, logits and labels).
"""
