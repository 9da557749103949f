"""A synthetic dataset with known false negatives (for smoke runs, tests and teaching).

Generative story (one seeded ``numpy`` generator, in this order):

1. *Catalogue.* ``items`` items are dealt into ``clusters`` clusters of (nearly) equal size. Each
   item has a popularity weight ``rank ** -popularity`` (Zipf-like, ranks shuffled). The items of
   a cluster lie on a cycle in a random order, its *storyline* (think of the volumes of a series,
   or the next step of a hobby): after an item of a cluster, the natural next items of that
   cluster are the ones that follow it on the cycle.
2. *Interests.* Each user picks ``interests_per_user`` clusters with Dirichlet(1) weights (more
   clusters if those hold too few items for ``min_len`` interactions).
3. *Liked set.* The user would interact with about ``liked_per_user`` items (Poisson), drawn
   from the chosen clusters without replacement, in proportion to cluster weight times item
   popularity. These are the items the user would interact with if shown them.
4. *Exposure.* Each liked item is shown with probability ``exposure``; the user interacts with
   the shown liked items only (at least ``min_len`` of them: more are shown if needed).
5. *Order.* The sequence is a sticky walk over the user's clusters: the first cluster is drawn
   by weight, the next interaction stays in the current cluster with probability
   ``stickiness`` (and otherwise moves to a uniformly chosen cluster with items left); inside a
   cluster the user takes their shown items in storyline order, starting from a random point of
   the cycle. Hence the next item is predictable from the last ones: same cluster, a few steps
   further along its cycle.

The ground truth ``extra["false_negatives"]`` is, per user, the liked items that were never
shown: never-interacted items the user would have liked. A uniform negative sampler that draws
one of them draws a false negative; ``uniform_false_negative_rate`` gives how often, exactly.
Because false negatives come from the user's clusters and sit between interacted items on the
storylines, a model that learns the sequential signal scores them like positives, which is the
premise of false-negative mining (paper Section 3.2).

The defaults are 2,000 users and 300 items in 15 clusters, about 30 liked items of which half are
shown. What that gives (sequence lengths, the share of uniform negatives that are false negatives,
how fast SASRec learns it) is computed, not written here: notebook 00 describes the data and
notebook 07 trains on it, each from the generator of this commit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .sequences import DataError, Sequences


@dataclass(frozen=True)
class SyntheticSpec:
    users: int = 2000          # number of users
    items: int = 300           # catalogue size
    clusters: int = 15         # item clusters (latent interests), each a storyline cycle
    interests_per_user: int = 2
    liked_per_user: int = 30   # mean size of a user's liked set
    exposure: float = 0.5      # chance that a liked item is shown (and then interacted with)
    stickiness: float = 0.9    # chance that the next item stays in the same cluster
    popularity: float = 0.8    # Zipf exponent of item popularity (0 = all items alike)
    min_len: int = 5           # users with fewer interactions get more exposures
    seed: int = 0


def _parse_spec(spec: str) -> SyntheticSpec:
    head, _, rest = spec.partition(":")
    kw = {}
    fields = SyntheticSpec.__dataclass_fields__
    for part in filter(None, rest.split(",")):
        k, _, v = part.partition("=")
        if k not in fields:
            raise DataError(f"dataset '{spec}': unknown synthetic option '{k}'. "
                            f"Known: {sorted(fields)}")
        kw[k] = type(fields[k].default)(v)
    return SyntheticSpec(**kw)


def from_spec(spec: str) -> Sequences:
    return generate(_parse_spec(spec), name=spec)


def spec_string(**kw) -> str:
    """The dataset name for ``SyntheticSpec(**kw)``: ``"synthetic"`` plus the non-default fields,
    e.g. ``spec_string(exposure=0.3)`` -> ``"synthetic:exposure=0.3"`` (usable as a Config
    ``dataset``)."""
    default = SyntheticSpec()
    spec = SyntheticSpec(**kw)
    parts = [f"{k}={v}" for k, v in asdict(spec).items() if v != getattr(default, k)]
    return "synthetic" + (":" + ",".join(parts) if parts else "")


def _check(spec: SyntheticSpec) -> None:
    if not 0 < spec.exposure <= 1:
        raise DataError(f"synthetic exposure must be in (0, 1], got {spec.exposure}")
    if not 0 <= spec.stickiness <= 1:
        raise DataError(f"synthetic stickiness must be in [0, 1], got {spec.stickiness}")
    if spec.users < 1 or spec.min_len < 1 or spec.interests_per_user < 1 or spec.popularity < 0:
        raise DataError("synthetic spec: need users, min_len, interests_per_user >= 1 and popularity >= 0")
    if spec.clusters > spec.items or spec.interests_per_user > spec.clusters:
        raise DataError("synthetic spec: need interests_per_user <= clusters <= items")
    if spec.items < spec.min_len + 3:
        raise DataError(f"synthetic spec: need items >= min_len + 3 ({spec.min_len + 3}), so "
                        f"every user keeps a negative to sample; got items={spec.items}")


def generate(spec: SyntheticSpec = SyntheticSpec(), name: str = "synthetic") -> Sequences:
    _check(spec)
    rng = np.random.default_rng(spec.seed)
    n_items, C = spec.items, spec.clusters
    # 1. catalogue: clusters of equal size, popularity, storyline cycles (0-based item indices)
    item_cluster = rng.permutation(np.arange(n_items) % C)
    pop = 1.0 / np.arange(1, n_items + 1) ** spec.popularity
    pop = pop[rng.permutation(n_items)]
    cycles = [rng.permutation(np.flatnonzero(item_cluster == c)) for c in range(C)]
    cycle_pos = np.empty(n_items, dtype=np.int64)
    for cyc in cycles:
        cycle_pos[cyc] = np.arange(len(cyc))
    need_pool = min(spec.min_len + 2, n_items)
    seqs, fns, interests = [], [], []
    for _ in range(spec.users):
        # 2. interests: the first clusters of a random order, more while they hold too few items
        order_c = rng.permutation(C)
        k = spec.interests_per_user
        while sum(len(cycles[c]) for c in order_c[:k]) < need_pool:
            k += 1
        cl = order_c[:k]
        w = rng.dirichlet(np.ones(k))
        # 3. liked set: cluster weight x popularity, without replacement
        pool = np.concatenate([cycles[c] for c in cl])
        pw = np.concatenate([w[j] * pop[cycles[c]] / pop[cycles[c]].sum() for j, c in enumerate(cl)])
        n_like = int(np.clip(rng.poisson(spec.liked_per_user), need_pool, len(pool)))
        liked = rng.choice(pool, n_like, replace=False, p=pw / pw.sum())
        # 4. exposure (at least min_len shown)
        shown = rng.random(n_like) < spec.exposure
        short = min(spec.min_len, n_like) - int(shown.sum())
        if short > 0:
            shown[rng.choice(np.flatnonzero(~shown), short, replace=False)] = True
        seen = liked[shown]
        # 5. order: per cluster, storyline order from a random start; a sticky walk over clusters
        queue = {}
        for c in cl:
            mine = seen[item_cluster[seen] == c]
            if len(mine):
                mine = mine[np.argsort(cycle_pos[mine])]
                queue[c] = list(np.roll(mine, -int(rng.integers(len(mine)))))
        cur = cl[rng.choice(k, p=w)]
        order = []
        while len(order) < len(seen):
            if not queue.get(cur) or (order and rng.random() > spec.stickiness):
                left = [c for c in cl if queue.get(c)]
                cur = left[rng.integers(len(left))]
            order.append(queue[cur].pop(0))
        seqs.append(np.asarray(order, dtype=np.int64) + 1)
        fns.append(np.sort(liked[~shown]) + 1)
        interests.append(cl)
    lens = np.array([len(s) for s in seqs])
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    fn_off = np.zeros(len(fns) + 1, dtype=np.int64)
    np.cumsum([len(f) for f in fns], out=fn_off[1:])
    extra = dict(spec=asdict(spec), item_cluster=np.concatenate([[-1], item_cluster]),
                 cycle_pos=np.concatenate([[-1], cycle_pos]),
                 false_negatives=np.concatenate(fns).astype(np.int64), fn_offsets=fn_off,
                 interests=interests)
    return Sequences(name, np.concatenate(seqs), offsets, np.arange(1, len(seqs) + 1),
                     n_items, source="synthetic", extra=extra)


def false_negative_sets(seqs: Sequences) -> list[set]:
    """Per user, the set of never-interacted items the user would have liked (ground truth)."""
    fn, off = seqs.extra["false_negatives"], seqs.extra["fn_offsets"]
    return [set(fn[off[u]:off[u + 1]].tolist()) for u in range(seqs.n_users)]


def false_negative_mask(seqs: Sequences, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Vectorised ground-truth lookup: is ``items[i]`` a false negative of ``users[i]``?"""
    fn, off = seqs.extra["false_negatives"], seqs.extra["fn_offsets"]
    key_u = np.repeat(np.arange(seqs.n_users), np.diff(off))
    keys = np.sort(key_u * (seqs.n_items + 1) + fn)
    q = np.asarray(users) * (seqs.n_items + 1) + np.asarray(items)
    pos = np.clip(np.searchsorted(keys, q), 0, max(len(keys) - 1, 0))
    return (keys[pos] == q) if len(keys) else np.zeros(q.shape, bool)


def uniform_false_negative_rate(split) -> dict:
    """Exactly how often the training sampler (uniform over the items not in the user's training
    sequence, ``batches.NegativeSampler``) draws a ground-truth false negative.

    For user u with training items T_u and false negatives F_u, one draw is a false negative with
    probability ``|F_u| / (n_items - |T_u|)``. Returned: ``per_draw``, that probability averaged
    over training positions (each position draws its negatives from its user's distribution),
    ``per_user`` averaged over users, ``fn_per_user`` the mean |F_u|, ``at_least_one_of_100``
    the chance that 100 negatives of a position hold at least one false negative."""
    seqs = split.seqs
    n_fn = np.diff(seqs.extra["fn_offsets"]).astype(float)
    n_train = np.diff(split.train_offsets).astype(float)
    p = n_fn / (split.n_items - n_train)
    positions = np.maximum(n_train - 1, 0)          # next-item targets per user
    w = positions / positions.sum() if positions.sum() else np.full(len(p), 1 / len(p))
    return dict(per_draw=float((w * p).sum()), per_user=float(p.mean()), fn_per_user=float(n_fn.mean()),
                at_least_one_of_100=float((w * (1 - (1 - p) ** 100)).sum()))


def write_file(spec: str, path, fmt: str = "s3rec", seed: int = 0):
    """Write the generated dataset ``spec`` (e.g. ``"synthetic:users=3000"``) to ``path`` the way
    a user's data comes: ``s3rec`` (``user item item ...``, one line per user) or ``csv`` (an
    interaction log with a ``user,item,timestamp`` header, string ids ``user-<k>`` / ``sku-<k>``,
    ISO 8601 times strictly increasing per user, rows shuffled with ``seed``). Reading either file
    back gives the generator's sequences. Returns the path."""
    from pathlib import Path
    seqs = from_spec(spec)
    path = Path(path)
    if fmt == "s3rec":
        path.write_text("".join(f"{u} {' '.join(map(str, seqs.seq(k)))}\n"
                                for k, u in enumerate(seqs.user_ids)))
        return path
    if fmt != "csv":
        raise ValueError(f"write_file: fmt must be s3rec or csv, got {fmt!r}")
    import datetime as _dt
    rng = np.random.default_rng(seed)
    t0 = _dt.datetime(2024, 1, 1)
    rows = []
    for k, u in enumerate(seqs.user_ids):
        s = seqs.seq(k)
        start = rng.integers(0, 300 * 86400)
        steps = np.cumsum(rng.integers(60, 3 * 86400, len(s)))
        rows += [f"user-{u},sku-{i},{(t0 + _dt.timedelta(seconds=int(start + d))).isoformat()}"
                 for i, d in zip(s, steps)]
    order = rng.permutation(len(rows))
    path.write_text("user,item,timestamp\n" + "".join(rows[j] + "\n" for j in order))
    return path
