"""Training: one run's loop (``train``: epochs, warm-up, EMA teacher, losses, early stopping on
validation, checkpoints), its evaluation (``evaluate``: sampled and full ranking) and the protocol
study's side log (``protocol``). Imports ``models``, ``negatives``, ``data``, ``config`` and
``files``; knows nothing of the cache or of other runs.
"""
