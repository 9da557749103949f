"""Analysis: everything that reads records and writes what a reader sees: the comparison model
every verdict comes from (``comparison``, with the runs' code generations in ``generations``),
statistics and claims (``stats``), Tables 2-4 (``tables``, their claims in ``table_claims``),
Figure 3 (``hyperparams``, its claims in ``figure3_claims``), the other figures (``plots``), the
case study, the teaching and walkthrough notebooks' helpers, the protocol study's readings, the
data-preparation notebook, output writers (``report``) and the run index of ``run_all.sh``
(``runindex``). The top layer: it may import every other one, and nothing below imports it.
"""
