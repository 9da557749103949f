"""Training: the paper's Algorithm 1 (``algorithm1``: warm-up rule, EMA teacher, losses and the
one training step, for K runs), one run's loop around it (``train``: epochs, validation, early
stopping, checkpoints; its logits from ``weights.OwnWeights``), many runs with stacked weights
(``bundle``, ``stacked``), evaluation (``evaluate``: sampled and full ranking) and the protocol
study's side log (``protocol``). Imports ``models``, ``negatives``, ``data``, ``config`` and
``files``; knows nothing of the cache.
"""
