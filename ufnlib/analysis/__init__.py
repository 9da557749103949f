"""Analysis: everything that reads records and writes what a reader sees: statistics and claims
(``stats``), Tables 2-4 (``tables``), Figure 3 (``hyperparams``), the other figures (``plots``),
the case study, the teaching and walkthrough notebooks' helpers, the protocol study's readings,
the data-preparation notebook, output writers (``report``) and the run index of ``run_all.sh``
(``runindex``). The top layer: it may import every other one, and
nothing below imports it.
"""
