"""One frozen config for every run. Unknown keys fail; ranges are checked; paper symbols noted.

A config's hash (``config_key``) names its cached result: change a field, get a new run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from .data.owndata import identity, is_file_spec

# Bump when a change to the code changes what a config computes, so old cache entries are not
# mistaken for new ones. Stored in every record.
CACHE_VERSION = 1

BACKBONES = ("sasrec", "bert4rec", "ssept")
# the negative strategies (what each one is: ufnlib.negatives.strategies.SPECS, in this order)
STRATEGIES = ("uniform", "fmr", "fcr", "ufn", "removal", "ema_eval", "srns_removal", "srns_rec_removal", "ufn_srns",
              "ufn_srns_rec")
METRICS = ("hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", "mrr")


class ConfigError(ValueError):
    """An unknown config key or a value out of range. The message says which and the fix."""


@dataclass(frozen=True)
class Config:
    # what
    dataset: str = "beauty"        # registry name, "synthetic[:k=v,...]", or a file: "PATH" (format
    #                                detected), "PATH#s3rec" or "PATH#pairs"; keyed by content (owndata.py)
    backbone: str = "sasrec"       # sasrec | bert4rec | ssept
    strategy: str = "uniform"      # negative strategy (uniform = the backbone as published)
    seed: int = 1
    # model (paper: "follow the original model settings"; SASRec: d=50, 2 blocks, 1 head)
    maxlen: int = 50               # maximum sequence length (paper: 50)
    hidden: int = 50               # embedding size d
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.5
    attend_padding: bool = False   # True = reference behaviour: attention also sees padded keys
    # optimisation (paper: Adam, lr 0.001, batch 128)
    lr: float = 1e-3               # learning rate (paper: gamma)
    beta2: float = 0.98
    batch_size: int = 128
    n_neg: int = 100               # training negatives per positive (paper: n = |N|)
    l2_emb: float = 0.0
    epoch_mode: str = "permutation"  # permutation | replacement (reference: users drawn with replacement)
    exclude_heldout: bool = False  # True: a user's validation and test items are never that user's training
    #                                negatives (nor mined); False = reference (only training items excluded)
    # schedule and selection (validation only)
    max_epochs: int = 200
    eval_every: int = 1            # validate every k epochs
    patience: int = 20             # stop after this many validations without improvement
    patience_min_steps: int = 0    # validations before this many optimizer steps (and the teacher's lag) do not count
    #                                (train.counts_toward_patience)
    select_metric: str = "ndcg@10"  # on sampled validation
    log_test_every: int = 0        # protocol study only: log test every k epochs, never read by selection (protocol.py)
    # evaluation
    eval_neg: int = 100            # sampled evaluation: negatives per user (paper: 100)
    eval_seed: int = 0             # evaluation negatives are drawn once from this seed
    # UFN (paper Section 3; used by the fmr/fcr/ufn/... strategies)
    m: int = 5                     # re-fed times before reversal (paper: m; reference --reverse 5)
    alpha: float = 0.3             # consistency loss weight (paper: alpha; reference --lbd 0.3)
    decay: float = 0.999           # EMA smoothing rate (paper: d)
    warmup: str = "plateau"        # warm-up end rule: plateau | fixed | validation (train.warmup_ended)
    warmup_epochs: int = 20        # used when warmup == "fixed"
    warmup_patience: int = 5       # used when warmup == "validation": validations without a new best
    count_mode: str = "cumulative"  # cumulative (reference) | consecutive
    memory_slots: int = 0          # FMR counter entries per interaction (0 = 2 n); see negatives/fmr.py
    # SRNS's variance rule as a false-negative detector (Table 4; Ding et al. 2020; see srns.py)
    srns_s1: int = 8               # candidates tracked per interaction (SRNS: S1)
    srns_t: int = 5                # score history length in visits of the interaction (SRNS: 5 epochs)
    srns_alpha: float = 5.0        # flag when mean(p) - alpha * std(p) > 1/2 (SRNS: alpha)
    srns_tau: float = 0.25         # memory refresh temperature on logits (SRNS: tau = 10 on MF scores)
    # BERT4Rec / SSE-PT (read only by that backbone; see BACKBONE_FIELDS)
    mask_prob: float = 0.6         # BERT4Rec: rho, share of a sequence's items masked (authors' Beauty script: 0.6)
    sse_user: float = 0.92         # SSE-PT: p_u, probability of replacing the user id
    #                                (= 1 - threshold_user; README 0.08)
    sse_item: float = 0.1          # SSE-PT: p_i, probability of replacing an input item id
    #                                (= 1 - threshold_item; README 0.9)
    user_hidden: int = 50          # SSE-PT: user embedding size d_u (model width = hidden + user_hidden)

    def __post_init__(self):
        def need(ok, msg):
            if not ok:
                raise ConfigError(f"config: {msg}")
        need(self.backbone in BACKBONES, f"backbone '{self.backbone}' unknown; choose from {BACKBONES}")
        need(self.strategy in STRATEGIES, f"strategy '{self.strategy}' unknown; choose from {STRATEGIES}")
        for f in fields(self):   # types first: a '1' or a True where an int belongs is an error
            v, want = getattr(self, f.name), type(f.default)
            ok = type(v) is want or (want is float and type(v) is int)
            need(ok, f"{f.name} must be of type {want.__name__}, got {v!r}")
            if want is float:   # 1 and 1.0 are the same config (and the same cache key)
                object.__setattr__(self, f.name, float(v))
        for f in ("maxlen", "hidden", "blocks", "heads", "batch_size", "n_neg", "max_epochs",
                  "eval_every", "patience", "eval_neg", "user_hidden"):
            need(getattr(self, f) >= 1, f"{f} must be an integer >= 1, got {getattr(self, f)!r}")
        need(self.seed >= 0 and self.eval_seed >= 0, "seed and eval_seed must be >= 0")
        if self.backbone == "ssept":   # the blocks run at width hidden + user_hidden
            width = self.hidden + self.user_hidden
            need(width % self.heads == 0,
                 f"SSE-PT width hidden + user_hidden ({width}) must be divisible by heads ({self.heads})")
        else:
            need(self.hidden % self.heads == 0, f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        need(0 <= self.m <= 254, f"m must be an integer in [0, 254], got {self.m!r}")
        need(isinstance(self.memory_slots, int) and (self.memory_slots == 0 or self.memory_slots >= self.n_neg),
             f"memory_slots must be 0 (= 2 n_neg) or >= n_neg, got {self.memory_slots!r}")
        need(self.srns_s1 >= 1, f"srns_s1 (S1) must be an integer >= 1, got {self.srns_s1!r}")
        need(2 <= self.srns_t <= 1000, f"srns_t (history length) must be in 2..1000, got {self.srns_t!r}")
        need(self.srns_alpha >= 0.0, f"srns_alpha must be >= 0, got {self.srns_alpha!r}")
        need(self.srns_tau > 0.0, f"srns_tau must be > 0, got {self.srns_tau!r}")
        need(isinstance(self.warmup_epochs, int) and self.warmup_epochs >= 0, "warmup_epochs must be >= 0")
        for f in ("dropout", "mask_prob", "sse_user", "sse_item"):
            need(0.0 <= getattr(self, f) < 1.0, f"{f} must be in [0, 1), got {getattr(self, f)!r}")
        need(0.0 <= self.decay < 1.0, f"decay (d) must be in [0, 1), got {self.decay!r}")
        need(self.alpha >= 0.0, f"alpha must be >= 0, got {self.alpha!r}")
        need(self.lr > 0 and 0 < self.beta2 < 1, "lr must be > 0 and beta2 in (0, 1)")
        need(self.l2_emb >= 0, "l2_emb must be >= 0")
        need(self.epoch_mode in ("permutation", "replacement"), "epoch_mode: permutation | replacement")
        need(self.warmup in ("plateau", "fixed", "validation"), "warmup: plateau | fixed | validation")
        need(self.warmup_patience >= 1, f"warmup_patience must be an integer >= 1, got {self.warmup_patience!r}")
        need(self.patience_min_steps >= 0, f"patience_min_steps must be >= 0, got {self.patience_min_steps!r}")
        need(self.log_test_every >= 0, f"log_test_every must be >= 0 (0: no test log), got {self.log_test_every!r}")
        need(self.count_mode in ("cumulative", "consecutive"), "count_mode: cumulative | consecutive")
        need(self.select_metric in METRICS, f"select_metric must be one of {METRICS}")

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            import difflib
            hints = {k: difflib.get_close_matches(k, known, 1) for k in unknown}
            hint = "; ".join(f"'{k}'" + (f" (did you mean '{h[0]}'?)" if h else "") for k, h in hints.items())
            raise ConfigError(f"config: unknown key {hint}. Known keys: {sorted(known)}")
        return cls(**d)

    def replace(self, **kw) -> "Config":
        return Config.from_dict({**asdict(self), **kw})

    def to_dict(self) -> dict:
        return asdict(self)


# Fields that only one backbone reads. For another backbone they cannot change what a run
# computes, so they are left out of its cache key and of the cached-record check: a SASRec run
# keeps its key and its cached record whatever mask_prob says (and their defaults may change).
BACKBONE_FIELDS = {"mask_prob": "bert4rec", "sse_user": "ssept", "sse_item": "ssept",
                   "user_hidden": "ssept"}


# Fields that only the SRNS strategies (names containing "srns") read, on the same footing.
SRNS_FIELDS = ("srns_s1", "srns_t", "srns_alpha", "srns_tau")


def unused_fields(cfg) -> set[str]:
    """Fields that ``cfg``'s backbone or strategy never reads (``BACKBONE_FIELDS``,
    ``SRNS_FIELDS``): left out of its cache key and of the cached-record check."""
    get = cfg.__getitem__ if isinstance(cfg, dict) else lambda k: getattr(cfg, k)
    out = {f for f, b in BACKBONE_FIELDS.items() if b != get("backbone")}
    if "srns" not in get("strategy"):
        out.update(SRNS_FIELDS)
    return out


def non_default(cfg: Config) -> dict:
    """The fields that differ from their defaults."""
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if getattr(cfg, f.name) != f.default}


def config_key(cfg: Config) -> str:
    """Stable short hash of the config's non-default fields (and the cache version): the run's
    name in the cache. Hashing only non-default fields keeps existing keys valid when a new field
    (whose default reproduces the old behaviour) is added; a record stores the full config, and a
    cached record whose stored config disagrees with the asked one is recomputed. Fields the
    backbone never reads (``unused_fields``) are left out. A file dataset is hashed by its
    content (checksum, size, format: ``owndata.FileIdentity.key``), not by its path."""
    skip = unused_fields(cfg)
    items = {k: v for k, v in non_default(cfg).items() if k not in skip}
    if is_file_spec(cfg.dataset):
        items["dataset"] = identity(cfg.dataset).key()
    blob = json.dumps({"v": CACHE_VERSION, **items}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]
