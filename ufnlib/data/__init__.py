"""Data: where the datasets come from and how they are checked (``registry``, ``datasets``,
``owndata``), user sequences and the leave-one-out split (``sequences``, ``datasets``), the
synthetic generator with planted false negatives (``synthetic``), and the training batches and
negative sampler (``batches``, its compiled membership test in ``sampler_kernels``), and the one
check for optional numba kernels that every layer uses (``compiled``). Imports nothing else of
ufnlib: every other layer may import it.
"""
