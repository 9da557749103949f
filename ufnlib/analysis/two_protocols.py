"""Notebook 10: UFN against SASRec under both evaluation protocols, sampled-100 (the paper's)
and full ranking, and where the per-user change comes from.

Every comparison is one UFN configuration against the SASRec run of the same seed and protocol
(``baseline_of``), on the seeds the comparison model pairs (``comparison.align_runs``: one code
generation where it can). Per user, the test NDCG@10 of each arm is averaged over those seeds;
the change is the mean of the per-user differences, its interval (over seeds and users) and its
word come from the shared comparison model (``comparison.RULE``). A split cuts the users into
groups (``popularity_groups``, ``rank_groups``, ``mined_groups``) and reads the same numbers
inside each group, with each group's contribution to the overall change. What the top-10 lists
recommend: ``top10_popularity``. The report (wide tables, the figure, the answer in words):
``two_protocols_report``. Why the two protocols can disagree, and how each is computed here:
docs/design.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import paper
from ..config import Config, config_key
from ..experiments import profiles
from ..experiments.store import load_ranks
from ..training.evaluate import per_user_metric
from . import comparison as cm

METRIC = "ndcg@10"
PROTOCOLS = {"sampled": "sampled-100", "full": "full ranking"}
ALPHA = 0.05
RANK_BANDS = ((0, 10, "top 10"), (10, 100, "11-100"), (100, 1000, "101-1000"), (1000, math.inf, "beyond 1000"))
# fields only UFN reads: its SASRec is the same config with these at the profile's base values
UFN_ONLY = ("m", "alpha", "decay", "warmup", "warmup_epochs", "warmup_patience", "count_mode", "memory_slots")
SWEEP_NAMES = {"alpha": "alpha", "m": "m", "decay": "d", "batch_size": "batch size"}


# ------------------------------------------------------------------------------ the verdict
def compare(base: np.ndarray, treat: np.ndarray, relative: bool = False) -> dict:
    """One comparison on [seeds, users] per-user values, by the shared comparison model
    (``comparison.compare_units``: seed i of one arm paired with seed i of the other): both arms'
    means, the change (of the means; ``relative``: mean(treat) / mean(base) - 1), its 95%
    interval over seeds and users, the p it inverts, the per-user Wilcoxon p and the word of
    ``comparison.RULE``."""
    units = [(cm.Unit(i, float(base[i].mean()) if base.shape[1] else math.nan, users=base[i]),
              cm.Unit(i, float(treat[i].mean()) if treat.shape[1] else math.nan, users=treat[i]))
             for i in range(base.shape[0])] if base.size else []
    c = cm.compare_units(cm.Alignment(units), relative=relative)
    return dict(sasrec=c.base, ufn=c.treat, change=c.change, lo=c.low, hi=c.high, p=c.p, p_users=c.p_users,
                word=c.word)


# -------------------------------------------------------------------------- the comparisons
def baseline_of(cfg: Config, profile: str) -> Config:
    """The SASRec run a UFN run is compared with: the same config (dataset, backbone, seed,
    batch size, budget, held-out setting) with strategy uniform and UFN's own fields at the
    profile's base values."""
    return cfg.replace(strategy="uniform", **{k: profiles.base_value(profile, k) for k in UFN_ONLY})


def describe(cfg: Config, profile: str) -> tuple[str, str]:
    """(source, name) of a UFN config: "Table 2" for the defaults, "Figure 3" for a swept value,
    "notebook 09" for a warm-up rule, a fixed budget or the held-out items kept out of reach."""
    parts, source = [], "Table 2"
    for k, label in SWEEP_NAMES.items():
        if getattr(cfg, k) != profiles.base_value(profile, k):
            parts.append(f"{label} = {getattr(cfg, k):g}")
            source = "Figure 3"
    if cfg.warmup != profiles.base_value(profile, "warmup") or cfg.warmup_epochs != profiles.base_value(
            profile, "warmup_epochs"):
        parts.append(f"warm-up {cfg.warmup}" + (f" {cfg.warmup_epochs}" if cfg.warmup == "fixed" else ""))
        source = "notebook 09"
    if cfg.log_test_every:
        parts.append(f"fixed budget {cfg.max_epochs}")
        source = "notebook 09"
    if cfg.exclude_heldout:
        parts.append("held-out out of reach")
        source = "notebook 09"
    name = f"{paper.BACKBONE_LABELS.get(cfg.backbone, cfg.backbone)} + UFN, {cfg.dataset.split(':')[0]}"
    return source, name + (f", {', '.join(parts)}" if parts else "")


@dataclass
class Comparison:
    """A UFN configuration and its SASRec: the records of each arm on the seeds both have, and the
    labels of the runs of either arm the cache lacks."""
    source: str
    name: str
    dataset: str
    backbone: str
    config: dict                 # the UFN config of the first seed (what sets it apart)
    base: list = field(default_factory=list)
    treat: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    generations: str = ""        # the compared runs' code generations (comparison.Alignment.generations)
    mixed: bool = False          # compared pairs join runs of different generations

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.treat]


def comparisons(plan: list, res, profile: str) -> list[Comparison]:
    """Every UFN config of ``plan`` (seeds grouped) with its SASRec (``baseline_of``), records
    from the grid result ``res``; in plan order."""
    recs = {r.key: r for r in res.records}
    out: dict[str, Comparison] = {}
    for c in plan:
        if c.strategy != "ufn":
            continue
        b = baseline_of(c, profile)
        source, name = describe(c, profile)
        comp = out.setdefault(name, Comparison(source, name, c.dataset, c.backbone, c.to_dict()))
        rt, rb = recs.get(config_key(c)), recs.get(config_key(b))
        comp.treat += [rt] if rt is not None else []
        comp.base += [rb] if rb is not None and rb.key not in {r.key for r in comp.base} else []
        comp.missing += [profiles.run_label(x) for x, r in ((c, rt), (b, rb)) if r is None]
    for comp in out.values():          # the seeds the comparison model compares (one generation where it can)
        al = cm.align_runs(comp.base, comp.treat)
        comp.base, comp.treat = [b.run for b, _ in al.pairs], [t.run for _, t in al.pairs]
        comp.generations, comp.mixed = al.generations, al.mixed
    return list(out.values())


@dataclass
class Pair:
    """A comparison's per-user data on its common seeds: [seeds, users] arrays per protocol."""
    comparison: Comparison
    users: np.ndarray
    ranks: dict                  # protocol -> (base ranks, treat ranks)
    mined: np.ndarray | None     # [seeds, users] bool: the test item in UFN's N_false (fixed budget only)

    def values(self, protocol: str, metric: str = METRIC) -> tuple[np.ndarray, np.ndarray]:
        b, t = self.ranks[protocol]
        return per_user_metric(b, metric), per_user_metric(t, metric)


def load_pair(comp: Comparison, root=None) -> Pair | None:
    """The per-user test ranks of both arms (None when no seed has both)."""
    if not comp.treat:
        return None
    rb = [load_ranks(r.key, root) for r in comp.base]
    rt = [load_ranks(r.key, root) for r in comp.treat]
    users = rb[0]["users"]
    if not all(np.array_equal(x["users"], users) for x in rb + rt):
        raise ValueError(f"{comp.name}: runs rank different users; per-user pairing is not possible")
    ranks = {p: (np.stack([x[f"test/{p}"] for x in rb]).astype(np.int64),
                 np.stack([x[f"test/{p}"] for x in rt]).astype(np.int64)) for p in PROTOCOLS}
    flags = [x.get("heldout_in_nfalse/test") for x in rt]
    mined = np.stack(flags).astype(bool) if all(f is not None for f in flags) else None
    return Pair(comp, users, ranks, mined)


# ------------------------------------------------------------------------------- the groups
def frequency_label(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def popularity_groups(freq: np.ndarray, n: int = 10) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Deciles (``n`` groups) of the users' test items by training frequency ``freq`` (one value
    per user). The edges are the frequencies at every n-th of the sorted values; group ``g``
    holds the users whose item's frequency lies in [edge_g, edge_g+1), the last group up to the
    maximum. Equal frequencies stay in one group, so tied edges merge groups and some hold more
    than a tenth of the users; no group is empty. Returns (group per user, labels: the frequency
    range in each group, the edges between groups)."""
    freq = np.asarray(freq)
    s = np.sort(freq)
    at = s[(np.arange(1, n) * len(s)) // n] if len(s) else s
    edges = np.unique(at[at > s[0]]) if len(s) else at
    codes = popularity_codes(freq, edges)
    labels = []
    for g in range(len(edges) + 1):
        f = freq[codes == g]
        labels.append(frequency_label(int(f.min()), int(f.max())))
    return codes, labels, edges


def popularity_codes(freq: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The group ``popularity_groups`` gives each frequency, for the same ``edges`` (e.g. of
    recommended items against the test items' deciles)."""
    return np.searchsorted(edges, np.asarray(freq), side="right")


def rank_groups(full_ranks: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Bands of SASRec's full-ranking rank (0-based) of the test item, the median over seeds
    (``full_ranks``: [seeds, users]): top 10, 11-100, 101-1000, beyond."""
    r = np.median(np.atleast_2d(full_ranks), axis=0)
    codes = np.zeros(r.shape, dtype=int)
    for g, (lo, hi, _) in enumerate(RANK_BANDS):
        codes[(r >= lo) & (r < hi)] = g
    return codes, [b[2] for b in RANK_BANDS]


def mined_groups(mined: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Users by in how many of UFN's seeds the test item was in N_false at the selected epoch
    (``mined``: [seeds, users] bool): in none, in some, in every seed (one seed: none, every)."""
    m = np.atleast_2d(mined)
    k, n = m.sum(0), m.shape[0]
    codes = np.where(k == 0, 0, np.where(k == n, 2, 1))
    return codes, ["in no seed", "in some seeds", "in every seed"]


# ---------------------------------------------------------------------------------- frames
def overall_frame(comps: list[Comparison], pairs: dict):
    """One row per (comparison, protocol): seeds, both arms' mean test NDCG@10, the relative
    change with its interval, the per-user p and the word; comparisons without a common seed
    keep a row with their missing runs."""
    import pandas as pd
    rows = []
    for c in comps:
        pair = pairs.get(c.name)
        for p, label in PROTOCOLS.items():
            row = dict(source=c.source, comparison=c.name, dataset=c.dataset, backbone=c.backbone, protocol=label,
                       seeds=",".join(map(str, c.seeds)), n_seeds=len(c.seeds), missing=len(c.missing),
                       generations=c.generations + (" (mixed)" if c.mixed else ""))
            if pair is not None:
                row.update(compare(*pair.values(p), relative=True))
            rows.append(row)
    cols = ["source", "comparison", "dataset", "backbone", "protocol", "seeds", "n_seeds", "generations", "missing",
            "sasrec", "ufn", "change", "lo", "hi", "p", "p_users", "word"]
    return pd.DataFrame(rows, columns=cols)


def split_frame(pair: Pair, kind: str, codes: np.ndarray, labels: list[str]):
    """One row per (group, protocol) of one comparison: users, both arms' mean NDCG@10 in the
    group, the mean per-user change with its interval, p and word, and the group's contribution
    to the overall relative change (group users x group change / all users / SASRec's overall
    mean: the contributions of a split add up to the overall relative change). Empty groups are
    left out."""
    import pandas as pd
    rows = []
    n = len(codes)
    for p, label in PROTOCOLS.items():
        b, t = pair.values(p)
        base_mean = float(b.mean())
        for g, name in enumerate(labels):
            mask = codes == g
            if not mask.any():
                continue
            r = compare(b[:, mask], t[:, mask])
            scale = mask.sum() / n / base_mean if base_mean else math.nan
            rows.append(dict(comparison=pair.comparison.name, split=kind, group=name, order=g, users=int(mask.sum()),
                             share=float(mask.mean()), protocol=label, **r, contribution=r["change"] * scale,
                             contribution_lo=r["lo"] * scale, contribution_hi=r["hi"] * scale))
    cols = ["comparison", "split", "group", "order", "users", "share", "protocol", "sasrec", "ufn", "change", "lo",
            "hi", "p", "word", "contribution", "contribution_lo", "contribution_hi"]
    return pd.DataFrame(rows, columns=cols)


def splits(pair: Pair, freq: np.ndarray, test_items: np.ndarray) -> dict:
    """The three splits of one comparison: kind -> ``split_frame`` (``mined`` only when the
    UFN runs carry the held-out flags with the held-out items in reach; out of reach, none is
    mined by construction). ``freq``: training frequency per item id;
    ``test_items``: the test item of each of ``pair.users``."""
    out = {}
    codes, labels, _ = popularity_groups(freq[test_items])
    out["popularity"] = split_frame(pair, "popularity", codes, labels)
    codes, labels = rank_groups(pair.ranks["full"][0])
    out["sasrec_rank"] = split_frame(pair, "sasrec_rank", codes, labels)
    if pair.mined is not None and not pair.comparison.config.get("exclude_heldout"):   # out of reach: none mined
        codes, labels = mined_groups(pair.mined)
        out["mined"] = split_frame(pair, "mined", codes, labels)
    return out


# ------------------------------------------------------------------- what the top-10 holds
def top10_popularity(top: dict, freq: np.ndarray, test_items: np.ndarray, edges: np.ndarray, labels: list[str]):
    """What the top-10 lists recommend, by training frequency: one row per list (each model's
    top-10; the items only UFN's list has, and only SASRec's; the test items for reference):
    slots, distinct items, mean and median frequency, and the share of slots in each of the test
    items' popularity groups (``edges``/``labels`` of ``popularity_groups``). ``top``: name ->
    [users, k] item ids with "SASRec" and "UFNRec" among the names."""
    import pandas as pd
    s, u = np.asarray(top["SASRec"]), np.asarray(top["UFNRec"])
    added = [i for a, b in zip(u, s) for i in np.setdiff1d(a, b)]
    dropped = [i for a, b in zip(u, s) for i in np.setdiff1d(b, a)]
    lists = {"SASRec top-10": s.ravel(), "UFNRec top-10": u.ravel(), "only in UFNRec's": np.array(added, dtype=int),
             "only in SASRec's": np.array(dropped, dtype=int), "test items": np.asarray(test_items)}
    rows = []
    for name, items in lists.items():
        f = freq[items] if len(items) else np.zeros(0)
        row = dict(list=name, slots=len(items), distinct=len(np.unique(items)),
                   mean_frequency=float(f.mean()) if len(f) else math.nan,
                   median_frequency=float(np.median(f)) if len(f) else math.nan)
        codes = popularity_codes(f, edges)
        for g, lab in enumerate(labels):
            row[f"share {lab}"] = float((codes == g).mean()) if len(f) else math.nan
        rows.append(row)
    df = pd.DataFrame(rows).set_index("list")
    shared = [len(np.intersect1d(a, b)) / len(a) for a, b in zip(u, s)]
    df.attrs["overlap"] = float(np.mean(shared)) if shared else math.nan
    return df
