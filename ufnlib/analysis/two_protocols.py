"""Notebook 10: UFN against SASRec under both evaluation protocols, sampled-100 (the paper's)
and full ranking, and where the per-user change comes from.

Every comparison is one UFN configuration against the SASRec run of the same seed and protocol
(``baseline_of``), on the seeds both have. Per user, the test NDCG@10 of each arm is averaged
over those seeds; the change is the mean of the per-user differences, its word is
``verdict_word`` (per-user Wilcoxon, as Table 2's), its interval a bootstrap over seeds and users
(``bootstrap_interval``). A split cuts the users into groups (``popularity_groups``,
``rank_groups``, ``mined_groups``) and reads the same numbers inside each group, with each
group's contribution to the overall change. What the top-10 lists recommend: ``top10_popularity``.
The report (wide tables, the figure, the answer in words): ``two_protocols_report``.
Why the two protocols can disagree, and how each is computed here: docs/design.md.
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

METRIC = "ndcg@10"
PROTOCOLS = {"sampled": "sampled-100", "full": "full ranking"}
ALPHA = 0.05
TIE_DECIMALS = 12                   # per-user differences equal to this many decimals tie (as stats.py)
RANK_BANDS = ((0, 10, "top 10"), (10, 100, "11-100"), (100, 1000, "101-1000"), (1000, math.inf, "beyond 1000"))
# fields only UFN reads: its SASRec is the same config with these at the profile's base values
UFN_ONLY = ("m", "alpha", "decay", "warmup", "warmup_epochs", "warmup_patience", "count_mode", "memory_slots")
SWEEP_NAMES = {"alpha": "alpha", "m": "m", "decay": "d", "batch_size": "batch size"}


# ------------------------------------------------------------------------------ the verdict
def verdict_word(change: float, p: float, alpha: float = ALPHA) -> str:
    """"helps" / "hurts" (the change has that sign and the per-user Wilcoxon p < ``alpha``),
    "ties" (p >= ``alpha`` or no change), "" when either number is missing: today's convention,
    ``stats.effect``'s. A local copy, to be replaced by the shared comparison model of
    ``ufnlib.analysis`` when it lands (the lead wires it at merge)."""
    if change is None or p is None or not (np.isfinite(change) and np.isfinite(p)):
        return ""
    if p >= alpha or change == 0:
        return "ties"
    return "helps" if change > 0 else "hurts"


def wilcoxon_p(base: np.ndarray, treat: np.ndarray) -> float:
    """Per-user Wilcoxon signed-rank p of ``treat`` vs ``base`` ([seeds, users] each), on the
    seed-averaged per-user values; 1 when no user differs, NaN without users."""
    from scipy import stats as ss
    if base.shape[-1] == 0:
        return math.nan
    d = np.round(treat.mean(0) - base.mean(0), TIE_DECIMALS)
    if not np.any(d != 0):
        return 1.0
    return float(ss.wilcoxon(d).pvalue)


def bootstrap_interval(base: np.ndarray, treat: np.ndarray, relative: bool = False, reps: int = 1000,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean per-user change (``relative``: mean(treat) / mean(base) -
    1) under a two-level bootstrap: each replicate draws the seeds with replacement, weights the
    arms' per-user values by how often each seed was drawn, then draws the users with replacement
    (the same seeds and users for both arms: the pairing is kept). ``base``, ``treat``: [seeds,
    users]. With one seed it is the users' bootstrap; with one user, the seeds'."""
    n_s, n_u = base.shape
    if n_u == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    out, chunk = [], 100
    for start in range(0, reps, chunk):
        r = min(chunk, reps - start)
        w = np.stack([np.bincount(rng.integers(n_s, size=n_s), minlength=n_s) / n_s for _ in range(r)])
        users = rng.integers(n_u, size=(r, n_u))
        t = np.take_along_axis(w @ treat, users, 1).mean(1)
        b = np.take_along_axis(w @ base, users, 1).mean(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(t / b - 1 if relative else t - b)
    v = np.concatenate(out)
    v[~np.isfinite(v)] = np.nan          # a replicate whose SASRec mean is 0 has no relative change
    if np.isnan(v).all():
        return math.nan, math.nan
    q = (1 - level) / 2
    return float(np.nanquantile(v, q)), float(np.nanquantile(v, 1 - q))


def compare(base: np.ndarray, treat: np.ndarray, relative: bool = False, reps: int = 1000) -> dict:
    """One comparison on [seeds, users] per-user values: both arms' means, the change (mean of
    the per-user differences, or relative), its interval, the Wilcoxon p and the word."""
    mb, mt = (float(x.mean()) if x.size else math.nan for x in (base, treat))
    if relative:
        change = mt / mb - 1 if mb else math.nan
    else:
        change = mt - mb
    lo, hi = bootstrap_interval(base, treat, relative, reps)
    p = wilcoxon_p(base, treat)
    return dict(sasrec=mb, ufn=mt, change=change, lo=lo, hi=hi, p=p, word=verdict_word(change, p))


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
        if rt is not None and rb is not None:
            comp.treat.append(rt)
            comp.base.append(rb)
        comp.missing += [profiles.run_label(x) for x, r in ((c, rt), (b, rb)) if r is None]
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
def overall_frame(comps: list[Comparison], pairs: dict, reps: int = 1000):
    """One row per (comparison, protocol): seeds, both arms' mean test NDCG@10, the relative
    change with its interval, the per-user p and the word; comparisons without a common seed
    keep a row with their missing runs."""
    import pandas as pd
    rows = []
    for c in comps:
        pair = pairs.get(c.name)
        for p, label in PROTOCOLS.items():
            row = dict(source=c.source, comparison=c.name, dataset=c.dataset, backbone=c.backbone, protocol=label,
                       seeds=",".join(map(str, c.seeds)), n_seeds=len(c.seeds), missing=len(c.missing))
            if pair is not None:
                row.update(compare(*pair.values(p), relative=True, reps=reps))
            rows.append(row)
    cols = ["source", "comparison", "dataset", "backbone", "protocol", "seeds", "n_seeds", "missing", "sasrec", "ufn",
            "change", "lo", "hi", "p", "word"]
    return pd.DataFrame(rows, columns=cols)


def split_frame(pair: Pair, kind: str, codes: np.ndarray, labels: list[str], reps: int = 1000):
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
            r = compare(b[:, mask], t[:, mask], reps=reps)
            scale = mask.sum() / n / base_mean if base_mean else math.nan
            rows.append(dict(comparison=pair.comparison.name, split=kind, group=name, order=g, users=int(mask.sum()),
                             share=float(mask.mean()), protocol=label, **r, contribution=r["change"] * scale,
                             contribution_lo=r["lo"] * scale, contribution_hi=r["hi"] * scale))
    cols = ["comparison", "split", "group", "order", "users", "share", "protocol", "sasrec", "ufn", "change", "lo",
            "hi", "p", "word", "contribution", "contribution_lo", "contribution_hi"]
    return pd.DataFrame(rows, columns=cols)


def splits(pair: Pair, freq: np.ndarray, test_items: np.ndarray, reps: int = 1000) -> dict:
    """The three splits of one comparison: kind -> ``split_frame`` (``mined`` only when the
    UFN runs carry the held-out flags with the held-out items in reach; out of reach, none is
    mined by construction). ``freq``: training frequency per item id;
    ``test_items``: the test item of each of ``pair.users``."""
    out = {}
    codes, labels, _ = popularity_groups(freq[test_items])
    out["popularity"] = split_frame(pair, "popularity", codes, labels, reps)
    codes, labels = rank_groups(pair.ranks["full"][0])
    out["sasrec_rank"] = split_frame(pair, "sasrec_rank", codes, labels, reps)
    if pair.mined is not None and not pair.comparison.config.get("exclude_heldout"):   # out of reach: none mined
        codes, labels = mined_groups(pair.mined)
        out["mined"] = split_frame(pair, "mined", codes, labels, reps)
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
