"""Which runs each notebook needs, per profile: plain lists of ``Config``.

Three profiles (``bash run_all.sh --profile P`` passes ``profile = P`` to every notebook):

* ``smoke``: the seeded synthetic dataset (``SMOKE_DATASET``), tiny models (d=16, window 20,
  10 negatives), 10 epochs with a fixed 4-epoch warm-up and m=2, seeds 1 and 2 (the sweeps: seed
  1, one extra value per panel), a CPU-second or so per run; the numbers mean nothing
  beyond "the pipeline works".
* ``quick``: real data, SASRec on Beauty (the S3-Rec version, not the paper's), seed 1, the
  paper's settings unchanged, so the quick runs are exactly the seed-1 runs of ``paper`` and a
  quick cache is reused by a later paper run. Three runs: uniform, ufn and the ema_eval control
  (their records say how long each took). What it cuts, against ``paper``: the BERT4Rec and
  SSE-PT backbones, Sports and Yelp, seeds 2 and 3, the +FMR and +FCR columns of Table 3, five of Table 4's seven
  columns, and every hyper-parameter sweep of Figure 3 (each panel shows the default only).
* ``paper``: the full protocol: 3 backbones x {beauty, sports, yelp} x {uniform, ufn} x seeds
  1-3 (Table 2); the ablation (fmr, fcr, ema_eval) and the six Table 4 strategies with 3 seeds on
  Beauty; the Figure 3 sweeps alpha, m, d, batch size (``paper.SWEEPS``) with 3 seeds, SASRec
  included on the batch-size sweep. Settings are the Config defaults (the paper's / reference's).
"""
from __future__ import annotations

import inspect

from .. import paper
from ..config import Config

PROFILES = ("smoke", "quick", "paper")
SMOKE_DATASET = "synthetic:users=300,items=200"
NOTEBOOKS = {"01": "main_results", "02": "ablation", "03": "srns_comparison",
             "04": "hyperparameters", "05": "training_curves", "06": "case_study", "09": "protocol_study",
             "10": "two_protocols", "11": "findings"}

ABLATION = ("uniform", "fmr", "fcr", "ufn", "ema_eval")
QUICK_STRATEGIES = ("uniform", "ufn", "ema_eval")
TABLE4 = tuple(paper.TABLE4_COLUMNS)          # uniform, removal, srns_rec_removal, ..., ufn


def run_label(params, seed: bool = True) -> str:
    """``dataset/backbone/strategy/s<seed>`` plus what sets the run apart from the default
    protocol: the non-default sweep fields, ``budget=<epochs>`` for a fixed-budget run that logs
    test (the protocol study) and ``warmup=<rule>`` for a warm-up rule other than the plateau
    (``fixed:<epochs>``, ``validation:<patience>``), and ``heldout=out`` for a run whose training
    negatives avoid the users' held-out items, for listings and failure reports. Without
    ``seed``: the same label with no ``s<seed>`` part (one label for all seeds of a config)."""
    p = params.to_dict() if isinstance(params, Config) else dict(params)
    d = Config.__dataclass_fields__

    def get(k):
        return p.get(k, d[k].default)
    extra = [f"{k}={p[k]}" for k in paper.SWEEPS if k in p and p[k] != d[k].default]
    if get("log_test_every"):
        extra.append(f"budget={get('max_epochs')}")
    if get("warmup") == "fixed":
        extra.append(f"warmup=fixed:{get('warmup_epochs')}")
    elif get("warmup") == "validation":
        extra.append(f"warmup=validation:{get('warmup_patience')}")
    if get("exclude_heldout"):
        extra.append("heldout=out")
    return "/".join([str(get("dataset")), str(get("backbone")), str(get("strategy"))]
                    + [f"s{get('seed')}"] * seed + extra)


def make(**params) -> Config:
    """``Config(**params)`` (unknown fields and values out of range raise ``ConfigError``)."""
    return Config.from_dict(params)


# ----------------------------------------------------------------------------- the profiles
def check(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"profile '{profile}' unknown; choose from {PROFILES}")
    return profile


def base(profile: str) -> dict:
    """Config fields every run of ``profile`` shares (dataset and seed excluded)."""
    check(profile)
    if profile == "smoke":
        return dict(hidden=16, maxlen=20, n_neg=10, lr=0.01, dropout=0.2, batch_size=64,
                    max_epochs=10, warmup="fixed", warmup_epochs=4, m=2, user_hidden=16)
    return {}


def default_datasets(profile: str) -> list[str]:
    return {"smoke": [SMOKE_DATASET], "quick": ["beauty"], "paper": ["beauty", "sports", "yelp"]}[check(profile)]


def default_seeds(profile: str) -> list[int]:
    return {"smoke": [1, 2], "quick": [1], "paper": [1, 2, 3]}[check(profile)]


def defaults(profile: str, **given):
    """The notebook parameters ``given`` (dataset, datasets, seeds, backbones) with each None
    replaced by the profile's default, in the order given: ``dataset, seeds = defaults(profile,
    dataset=dataset, seeds=seeds)``."""
    fill = {"dataset": lambda: default_datasets(profile)[0], "datasets": lambda: default_datasets(profile),
            "seeds": lambda: default_seeds(profile), "backbones": lambda: default_backbones(profile)}
    out = tuple(v if v is not None else fill[k]() for k, v in given.items())
    return out[0] if len(out) == 1 else out


def grid_options(profile: str, workers: int | None = None) -> dict:
    """``run_grid`` keyword arguments for a notebook: smoke computes in this process with one
    torch thread (a worker's start-up, or a second thread, costs more than a tiny run); otherwise
    ``workers`` local processes (None: one per core) with cores // workers threads each."""
    if check(profile) == "smoke":
        return dict(workers=workers or 1, threads=1)
    return dict(workers=workers)


def default_backbones(profile: str) -> list[str]:
    return ["sasrec"] if check(profile) == "quick" else ["sasrec", "bert4rec", "ssept"]


def _one_dataset(profile, dataset):
    return dataset or default_datasets(profile)[0]


def _runs(profile, strategies, seeds, dataset, backbone="sasrec", **extra) -> list:
    return [make(**{**base(profile), "dataset": dataset, "backbone": backbone, "strategy": s, "seed": seed, **extra})
            for s in strategies for seed in seeds]


def main_results(profile: str, datasets=None, seeds=None, backbones=None) -> list:
    """Table 2: every backbone x dataset, as published (uniform) and with UFN."""
    out = []
    for d in datasets or default_datasets(profile):
        for bb in backbones or default_backbones(profile):
            out += _runs(profile, ("uniform", "ufn"), seeds or default_seeds(profile), d, bb)
    return out


def ablation(profile: str, seeds=None, dataset=None) -> list:
    """Table 3 (+ the EMA-evaluation control): SASRec, +FMR, +FCR, +UFN, ema_eval (quick: no FMR, FCR)."""
    strategies = QUICK_STRATEGIES if profile == "quick" else ABLATION
    return _runs(profile, strategies, seeds or default_seeds(profile), _one_dataset(profile, dataset))


def srns_comparison(profile: str, seeds=None, dataset=None, strategies=None) -> list:
    """Table 4's seven columns (quick: SASRec and +UFN only)."""
    strategies = strategies or (("uniform", "ufn") if profile == "quick" else TABLE4)
    return _runs(profile, strategies, seeds or default_seeds(profile), _one_dataset(profile, dataset))


# notebook 07's light SASRec on the synthetic generator (whose ground truth says which negatives
# are false), mining after a fixed warm-up; the same configs, so the two notebooks share runs
SYNTHETIC_MINING = dict(dataset="synthetic", warmup="fixed", warmup_epochs=15, max_epochs=30, patience=30,
                        m=2, hidden=32, dropout=0.2, lr=0.003, batch_size=64, n_neg=100)
SYNTHETIC_MINING_SMOKE = dict(dataset="synthetic:users=300", warmup_epochs=2, max_epochs=6, patience=6,
                              m=1, srns_t=2)


def detectors_synthetic(profile: str, seeds=None, strategies=None) -> list:
    """Table 4's six mining strategies on synthetic data, where the precision and recall of each
    detector can be measured (``SYNTHETIC_MINING``; smoke: 300 users, 6 epochs, T = 2)."""
    kw = {**SYNTHETIC_MINING, **(SYNTHETIC_MINING_SMOKE if check(profile) == "smoke" else {})}
    strategies = strategies or tuple(s for s in TABLE4 if s != "uniform")
    return [make(**kw, strategy=s, seed=seed) for s in strategies for seed in seeds or default_seeds(profile)]


def sweeps(profile: str) -> dict[str, tuple]:
    """Figure 3's swept values per field (the base value is added to each panel)."""
    check(profile)
    if profile == "smoke":
        return {"alpha": (0.1,), "m": (1,), "decay": (0.9,), "batch_size": (32,)}
    if profile == "quick":
        return {k: () for k in paper.SWEEPS}
    return dict(paper.SWEEPS)


def base_value(profile: str, name: str):
    return base(profile).get(name, Config.__dataclass_fields__[name].default)


def hyperparameters(profile: str, seeds=None, dataset=None) -> list:
    """Figure 3: UFN at each swept value (one field changed at a time, the rest at the base);
    SASRec at the base and at each batch size (the other three fields do not touch it)."""
    seeds = seeds or ([1] if profile == "smoke" else default_seeds(profile))
    d = _one_dataset(profile, dataset)
    out = _runs(profile, ("uniform", "ufn"), seeds, d)
    for name, values in sweeps(profile).items():
        for v in values:
            if v == base_value(profile, name):
                continue
            out += _runs(profile, ("ufn", "uniform") if name == "batch_size" else ("ufn",), seeds, d, **{name: v})
    return out


def training_curves(profile: str, seeds=None, dataset=None) -> list:
    """Figure 4: SASRec and UFN (their per-epoch validation history)."""
    return _runs(profile, ("uniform", "ufn"), seeds or default_seeds(profile), _one_dataset(profile, dataset))


def case_study(profile: str, seed: int | None = None, dataset=None) -> list:
    """Figure 5: one SASRec and one UFN run (their saved weights)."""
    return _runs(profile, ("uniform", "ufn"), [seed or default_seeds(profile)[0]], _one_dataset(profile, dataset))


PROTOCOL_STRATEGIES = ("uniform", "ema_eval", "fmr", "ufn")


def fixed_budget(profile: str) -> dict:
    """The protocol study's fixed budget: every epoch of ``max_epochs`` trained (patience never
    runs out), test logged every 4 epochs (smoke: 2) beside validation (``ufnlib.training.protocol``)."""
    epochs = base(profile).get("max_epochs", Config.max_epochs)
    return dict(patience=epochs, log_test_every=2 if check(profile) == "smoke" else 4)


def warmup_variants(profile: str) -> dict[str, dict]:
    """UFN's warm-up alternatives to the reference's plateau rule (the default protocol otherwise):
    a fixed 20 or 40 epochs, and the end of the backbone's improvement on validation."""
    if check(profile) == "smoke":
        return {"fixed 3": dict(warmup="fixed", warmup_epochs=3), "fixed 6": dict(warmup="fixed", warmup_epochs=6),
                "validation": dict(warmup="validation", warmup_patience=2)}
    return {"fixed 20": dict(warmup="fixed", warmup_epochs=20), "fixed 40": dict(warmup="fixed", warmup_epochs=40),
            "validation": dict(warmup="validation")}


HELDOUT_OUT = dict(exclude_heldout=True)   # the intervention: held-out items never a training negative


def protocol_study(profile: str, seeds=None, dataset=None) -> list:
    """Notebook 09: SASRec with uniform, ema_eval, fmr and ufn under the fixed budget, with and
    without the users' held-out items among the training negatives (``exclude_heldout``), and
    ufn with each warm-up variant beside uniform, ema_eval and ufn of the default protocol
    (uniform and ufn also with the held-out items kept out). The quick profile computes none."""
    if check(profile) == "quick":
        return []
    seeds, d = seeds or default_seeds(profile), _one_dataset(profile, dataset)
    out = _runs(profile, ("uniform", "ema_eval", "ufn"), seeds, d)   # default protocol, for the warm-up table
    out += _runs(profile, PROTOCOL_STRATEGIES, seeds, d, **fixed_budget(profile))
    out += _runs(profile, PROTOCOL_STRATEGIES, seeds, d, **fixed_budget(profile), **HELDOUT_OUT)
    out += _runs(profile, ("uniform", "ufn"), seeds, d, **HELDOUT_OUT)
    for kw in warmup_variants(profile).values():
        out += _runs(profile, ("ufn",), seeds, d, **kw)
    return out


def two_protocols(profile: str, seeds=None, dataset=None) -> list:
    """Notebook 10 reads, never adds: Table 2's runs (every backbone; with ``dataset``, that
    dataset's only), Figure 3's, the protocol study's and the case study's pair, each as the
    notebook that asks for it does."""
    out = main_results(profile, datasets=[dataset] if dataset else None, seeds=seeds)
    out += hyperparameters(profile, seeds, dataset) + protocol_study(profile, seeds, dataset)
    out += case_study(profile, seeds[0] if seeds else None, dataset)
    return list(dict.fromkeys(out))


def findings(profile: str, **kw) -> list:
    """Notebook 11 reads the other notebooks' saved tables, never a run: no runs."""
    return []


def plan(notebook: str, profile: str, **kw) -> list:
    """The runs of notebook ``notebook`` ("01".."06" or its name) under ``profile``."""
    name = NOTEBOOKS.get(str(notebook)[:2], notebook)
    if name not in NOTEBOOKS.values():
        raise ValueError(f"notebook '{notebook}' unknown; choose from {NOTEBOOKS}")
    return globals()[name](profile, **kw)


def plan_on(notebook: str, profile: str, datasets=None) -> list:
    """``plan`` with the profile's datasets replaced by ``datasets`` (None: the profile's); a
    notebook whose plan takes one ``dataset`` gets one plan per dataset."""
    name = NOTEBOOKS.get(str(notebook)[:2], notebook)
    if not datasets or name not in NOTEBOOKS.values():   # plan says what is wrong with a name
        return plan(notebook, profile)
    if "datasets" in inspect.signature(globals()[name]).parameters:
        return plan(notebook, profile, datasets=list(datasets))
    return [c for d in datasets for c in plan(notebook, profile, dataset=d)]


def profile_runs(profile: str, notebooks=None, datasets=None) -> list:
    """Every run of the profile's notebooks, each once; ``datasets`` replaces the profile's
    datasets (see ``plan_on``). Seed first: every run of seed 1 (in notebook order), then every
    run of seed 2, and so on, so that a grid stopped part-way leaves each table and figure with
    a first complete seed rather than some with all seeds and others with none."""
    out, seen = [], set()
    for nb in notebooks or NOTEBOOKS:
        for c in plan_on(nb, profile, datasets):
            if c not in seen:
                seen.add(c)
                out.append(c)
    return sorted(out, key=lambda c: c.seed)          # stable: notebook order within a seed


def describe(profile: str):
    """Runs per notebook: how many, and how many new (not asked by an earlier notebook). A
    DataFrame, one row per notebook plus a total."""
    import pandas as pd
    rows, seen = [], set()
    for nb, name in NOTEBOOKS.items():
        runs = plan(nb, profile)
        new = [c for c in dict.fromkeys(runs) if c not in seen]
        seen.update(runs)
        rows.append(dict(notebook=f"{nb}_{name}", runs=len(set(runs)), new=len(new)))
    df = pd.DataFrame(rows)
    total = dict(notebook="total (distinct)", runs=len(seen), new=len(seen))
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True).set_index("notebook")
