"""A synthetic dataset with known false negatives (for smoke runs, tests and teaching).

Generative story (all seeded):
  * items belong to ``clusters`` clusters; each item has a popularity (Zipf-like) weight;
  * each user has interests: a few clusters (``interests_per_user``) with Dirichlet weights;
  * the user's *liked set* is drawn from those clusters (popularity-weighted, ``liked_per_user``
    items on average): these are the items the user would interact with if shown them;
  * an *exposure* process shows each liked item with probability ``exposure``; the user
    interacts with the exposed liked items only, in an order that follows a sticky walk over the
    user's clusters (so the sequence carries signal for a sequential model).
The ground truth ``extra["false_negatives"]`` is, per user, the liked items that were never
exposed: never-interacted items the user would have liked. A uniform negative sampler that draws
one of them draws a false negative.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .data import DataError, Sequences


@dataclass(frozen=True)
class SyntheticSpec:
    users: int = 600           # number of users
    items: int = 400           # catalogue size
    clusters: int = 20         # item clusters (latent interests)
    interests_per_user: int = 2
    liked_per_user: int = 24   # mean size of a user's liked set
    exposure: float = 0.5      # chance that a liked item is shown (and then interacted with)
    stickiness: float = 0.8    # chance that the next item stays in the same cluster
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


def generate(spec: SyntheticSpec = SyntheticSpec(), name: str = "synthetic") -> Sequences:
    if not 0 < spec.exposure <= 1:
        raise DataError(f"synthetic exposure must be in (0, 1], got {spec.exposure}")
    if spec.clusters > spec.items or spec.interests_per_user > spec.clusters:
        raise DataError("synthetic spec: need interests_per_user <= clusters <= items")
    rng = np.random.default_rng(spec.seed)
    n_items = spec.items
    item_cluster = rng.integers(0, spec.clusters, n_items)  # item i+1 in cluster item_cluster[i]
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    pop = pop[rng.permutation(n_items)]
    members = [np.flatnonzero(item_cluster == c) for c in range(spec.clusters)]
    seqs, fns, liked_all, interests = [], [], [], []
    for _ in range(spec.users):
        cl = rng.choice(spec.clusters, spec.interests_per_user, replace=False)
        cl = np.array([c for c in cl if len(members[c])] or [int(item_cluster[0])])
        w = rng.dirichlet(np.ones(len(cl)))
        n_like = max(spec.min_len + 2, rng.poisson(spec.liked_per_user))
        pool = np.concatenate([members[c] for c in cl])
        pw = np.concatenate([pop[members[c]] * w[j] / pop[members[c]].sum() for j, c in enumerate(cl)])
        n_like = min(n_like, len(pool))
        liked = rng.choice(pool, n_like, replace=False, p=pw / pw.sum())
        shown = rng.random(n_like) < spec.exposure
        need = min(spec.min_len, n_like) - shown.sum()
        if need > 0:
            shown[rng.choice(np.flatnonzero(~shown), need, replace=False)] = True
        seen = liked[shown]
        # order: sticky walk over the user's clusters
        by_c = {c: list(rng.permutation(seen[item_cluster[seen] == c])) for c in cl}
        order, cur = [], rng.choice(cl, p=w)
        while len(order) < len(seen):
            if not by_c.get(cur) or rng.random() > spec.stickiness:
                left = [c for c in cl if by_c.get(c)]
                cur = left[rng.integers(len(left))]
            order.append(by_c[cur].pop())
        seqs.append(np.asarray(order, dtype=np.int64) + 1)
        fns.append(np.sort(liked[~shown]) + 1)
        liked_all.append(np.sort(liked) + 1)
        interests.append(cl)
    lens = np.array([len(s) for s in seqs])
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    fn_off = np.zeros(len(fns) + 1, dtype=np.int64)
    np.cumsum([len(f) for f in fns], out=fn_off[1:])
    extra = dict(spec=asdict(spec), item_cluster=np.concatenate([[-1], item_cluster]),
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
