"""Figure 5: what UFN mines for a user, and what SASRec and UFN then recommend.

The training loop keeps no per-user list of mined items (only per-epoch counts, in a record's
history), and the FMR memory is gone when a run ends. ``replay_mining`` therefore re-runs the
mining rule (the run's own strategy: paper Eq. 5 and Algorithm 1 lines 11-13) over the training
positions with the run's **selected weights held fixed** (for UFN the EMA teacher's, in eval
mode), for ``m + 2`` passes: record the negatives that outscore the positive, re-feed them, count
(``algorithm1.train_step`` with no optimiser and no teacher: the trainer's own step).
With fixed weights an entry that beats the positive once keeps beating it, so the replayed N_false
is the set of sampled negatives the final model ranks above the positive: a proxy of the last
training epoch's N_false, not the set itself (which came from a changing student with dropout on).

Item "categories" are the S3-Rec attributes with their names (``ufnlib.data.datasets.load_attributes`` and
``load_attribute_names``, read from ``UFN_DATA_DIR``), or the generator's clusters for synthetic data.
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import Config
from ..data.batches import NegativeSampler, training_keys
from ..data.datasets import load, load_attribute_names, load_attributes
from ..data.synthetic import false_negative_mask
from ..experiments.splits import load_split
from ..experiments.store import load_model, model_path, results_dir
from ..models import make_data
from ..models.layers import Noise
from ..negatives.strategies import make_strategy
from ..training.algorithm1 import Run, train_step
from ..training.weights import OwnWeights
from . import case_artefacts, case_claims
from .case_artefacts import Mined
from .tables import protocol

REPLAY_SEED_OFFSET = 7   # the replay's generator: seed * 1_000_003 + 7 (negatives and masking of the replay)


# ------------------------------------------------------------------------------- categories
def item_categories(dataset: str) -> tuple[dict[int, list[str]], str]:
    """Item id -> category names, and where they come from (empty dict if unavailable)."""
    if dataset.startswith("synthetic"):
        cl = load(dataset).extra["item_cluster"]
        return {i: [f"cluster {int(cl[i])}"] for i in range(1, len(cl))}, "synthetic generator clusters"
    attrs = load_attributes(dataset)
    if not attrs:
        return {}, ("no attribute file (UFN_DATA_DIR/s3rec/<Dataset>_item2attributes.json) found: "
                    "set UFN_DATA_DIR to a folder holding it")
    names = load_attribute_names(dataset)
    lab = {i: [names.get(a) or f"attr {a}" for a in al] for i, al in attrs.items()}
    src = "S3-Rec item attributes" + (" with names (names/<Dataset>_attrid2name.json)" if names else
                                      " (ids only: no names/<Dataset>_attrid2name.json)")
    return lab, src


def short_label(cats: list[str] | None, n: int = 2) -> str:
    """The last ``n`` category names (most specific), for a box in the figure."""
    if not cats:
        return "?"
    return " / ".join(cats[-n:])


# ----------------------------------------------------------------------------------- replay
@torch.no_grad()
def replay_mining(cfg, root=None, passes: int | None = None, batch_size: int = 512) -> Mined:
    """N_false of the run ``cfg`` replayed with its selected weights fixed (see module doc): the
    trainer's step (``algorithm1.train_step``) with the run's own strategy (FMR's detector;
    reversed entries are not re-recorded) over the training positions, without an optimiser."""
    split = load_split(cfg.dataset)
    model = load_model(cfg, root)
    g = torch.Generator().manual_seed(REPLAY_SEED_OFFSET + cfg.seed * 1_000_003)
    data = make_data(cfg, split, g)
    st = make_strategy(cfg, data, NegativeSampler(training_keys(split, cfg), split.n_items, g))
    if st.spec.detector != "fmr" or not st.spec.reverse:
        raise ValueError(f"replay_mining replays FMR mining with reversal (ufn, fmr); got strategy {cfg.strategy!r}")
    st.activate()

    def batch(u):      # the model is in eval mode: no dropout, the noise is never read
        return data.batch(u, trim=not cfg.attend_padding), Noise(torch.zeros(len(u), dtype=torch.long),
                                                                 torch.arange(len(u)))
    run = Run(cfg, st, model, batch)
    users = torch.from_numpy(data.train_users)
    passes = passes or cfg.m + 2
    rnd_u, rnd_i, positions = [], [], 0
    for p in range(passes):
        for s in range(0, len(users), batch_size):
            step = train_step([run], [users[s:s + batch_size]], OwnWeights())[0]
            if p == passes - 1:
                ok = ~st.fed[:, -1]                          # the last slot: random unless N_rec is full
                rnd_u.append(step.batch.pos_users[ok].numpy())
                rnd_i.append(step.cands[ok, -1].numpy())
                positions += len(step.batch.inter)
    i, items = st.memory.false_negatives()
    u = data.inter_user[i].numpy()
    n1 = split.n_items + 1
    keys, times = np.unique(u.astype(np.int64) * n1 + items.numpy(), return_counts=True)
    return Mined(keys // n1, keys % n1, times, np.concatenate(rnd_u), np.concatenate(rnd_i),
                 passes, positions)


def missing_models(cfgs, root=None) -> list:
    """The configs whose selected weights (results/models/<key>.pt) are not on this machine."""
    return [c for c in cfgs if not model_path(c, root).is_file()]


# ------------------------------------------------------------------------------ aggregates
def _history_cats(split, cats, u) -> set:
    out = set()
    for it in split.train_seq(u):
        out.update(cats.get(int(it), ()))
    return out


def dominant_category(split, cats, u) -> str | None:
    """The category most frequent over the user's training items (ties: first seen)."""
    from collections import Counter
    c = Counter(x for it in split.train_seq(u) for x in cats.get(int(it), ()))
    return c.most_common(1)[0][0] if c else None


def pair_flags(split, cats, users, items, truth=None) -> tuple:
    """Per (user, item) pair, a tuple of arrays:

    - ``dominant`` (float: 1, 0, or NaN where the user's history has no category): the item carries
      the user's main interest, the dominant history category (``dominant_category``: the category
      most frequent over the user's training items), as the top-5 claim reads it;
    - ``any_attribute`` (bool, secondary): the item shares any category, brand or other attribute
      included, with any item of the user's training history (a looser test);
    - ``later`` (bool): the item is the user's valid or test item (interacted with later);
    - on synthetic data (``truth``), last: whether it is a generator false negative."""
    hist, dom = {}, {}
    same = np.zeros(len(users), bool)
    main = np.full(len(users), np.nan)
    for j, (u, it) in enumerate(zip(users.tolist(), items.tolist())):
        if u not in hist:
            hist[u] = _history_cats(split, cats, u)
            dom[u] = dominant_category(split, cats, u)
        c = cats.get(it, ())
        same[j] = bool(hist[u].intersection(c))
        if dom[u] is not None:
            main[j] = float(dom[u] in c)
    later = (items == split.valid[users]) | (items == split.test[users])
    return (main, same, later) + ((np.asarray(truth(users, items), bool),) if truth is not None else ())


def truth_of(split):
    """On synthetic data, the generator's test of whether (users, items) are false negatives; else None."""
    if "false_negatives" in split.seqs.extra:
        return lambda u, i: false_negative_mask(split.seqs, u, i)
    return None


def mined_flags(mined: Mined, split, cats: dict) -> dict:
    """``pair_flags`` of the mined false negatives and of the random negatives, each led by its users:
    ``{"mined": (users, dominant, any_attribute, later[, true_fn]), "random": (...)}``."""
    truth = truth_of(split)
    return {"mined": (mined.users, *pair_flags(split, cats, mined.users, mined.items, truth)),
            "random": (mined.rnd_users, *pair_flags(split, cats, mined.rnd_users, mined.rnd_items, truth))}


def _shares(users, dominant, same, later, *true_fn, cats=None) -> dict:
    if len(users) == 0:
        return dict(pairs=0, dominant_category=np.nan, any_history_attribute=np.nan, later=np.nan, true_fn=np.nan)
    known = ~np.isnan(dominant)
    out = dict(pairs=len(users),
               dominant_category=float(dominant[known].mean()) if cats and known.any() else np.nan,
               any_history_attribute=float(same.mean()) if cats else np.nan, later=float(later.mean()))
    if true_fn:
        out["true_fn"] = float(true_fn[0].mean())
    return out


def aggregate(flags: dict, cats: dict) -> "object":
    """Mined false negatives vs random negatives (``mined_flags``), shares over (user, item) pairs:
    ``dominant_category``, the item carries the user's dominant history category (pairs of users
    without one left out; the measure Figure 5's claim is decided on); ``any_history_attribute``
    (secondary), the item shares any attribute, brand included, with any history item; ``later``,
    the user's valid or test item; ``true_fn`` (synthetic), a generator false negative. A DataFrame
    with one row per set."""
    import pandas as pd
    rows = [dict(set="mined false negatives (replayed N_false)", **_shares(*flags["mined"], cats=cats)),
            dict(set="random negatives (one per training position)", **_shares(*flags["random"], cats=cats))]
    df = pd.DataFrame(rows).set_index("set")
    return df.dropna(axis=1, how="all")


def training_diagnostics(rec: dict) -> dict:
    """The last mining epoch's counters of a run's history (kept by the trainer), if any."""
    for h in reversed(rec.history):
        if h.get("mined") is not None:
            keys = ("epoch", "mined", "refed", "mined_later_share", "random_later_share",
                    "mined_precision", "random_precision", "nfalse_entries")
            return {k: h[k] for k in keys if k in h}
    return {}


# ------------------------------------------------------------------------------- one user
def topk_per_user(split, cats, users, top: np.ndarray, k: int = 5) -> tuple:
    """Per user of ``users`` (rows of ``top``, each user's top items after the training history,
    best first): the share of the top-k that carries the user's dominant history category (NaN
    without one), and whether the top-k holds one of the next two items (valid, test)."""
    shares, hits = np.full(len(users), np.nan), np.zeros(len(users), bool)
    for j, u in enumerate(users):
        t = top[j, :k]
        dom = dominant_category(split, cats, u)
        if dom:
            shares[j] = np.mean([dom in cats.get(int(i), ()) for i in t])
        hits[j] = bool({split.valid[u], split.test[u]} & set(t.tolist()))
    return shares, hits


def topk_summary(shares, hits) -> dict:
    """``topk_per_user``'s arrays over all users: the mean dominant-category share and HR@k of the next items."""
    n = len(hits)
    return dict(users=n, dominant_share=float(np.nanmean(shares)) if n else np.nan,
                next_hit=float(np.mean(hits)) if n else np.nan)


def pick_user(split, mined: Mined, seed: int = 0, lengths=(8, 20)) -> int:
    """A user drawn (seeded) among those with a mined false negative and a training history of
    ``lengths`` items (the paper shows one of 17); the range widens if nobody fits."""
    has = np.unique(mined.users)
    lens = np.diff(split.train_offsets)[has]
    lo, hi = lengths
    pool = has[(lens >= lo) & (lens <= hi)]
    if not len(pool):
        pool = has if len(has) else np.flatnonzero(split.has_eval)
    return int(np.random.default_rng(seed).choice(pool))


def case(dataset: str, user: int, mined: Mined, cats: dict, art, k: int = 5, max_mined: int = 10) -> dict:
    """Everything Figure 5 shows for one user: history, mined false negatives (most often mined
    first), next items, each model's top-k (``art``: ``case_artefacts.CaseArtefacts``); every
    item with its categories."""
    split = load_split(dataset)
    sel = mined.users == user
    order = np.argsort(-mined.times[sel], kind="stable")
    fn = mined.items[sel][order][:max_mined].tolist()
    hist = split.train_seq(user).tolist()
    out = dict(user=int(user), original_user_id=int(split.seqs.user_ids[user]),
               dominant=dominant_category(split, cats, user), history=hist, mined=fn,
               mined_total=int(sel.sum()), next=[int(split.valid[user]), int(split.test[user])],
               top={name: art.top_of(name, user, k) for name in art.top})
    out["categories"] = {int(i): cats.get(int(i), []) for i in
                         set(hist) | set(fn) | set(out["next"]) | {i for t in out["top"].values() for i in t}}
    return out


# ------------------------------------------------------------------------ the notebook's view
class CaseStudy:
    """Figure 5 for one dataset from a grid's SASRec and UFN runs. Every method returns None (or
    an empty result) when its inputs are missing, and ``status`` says what is missing."""

    def __init__(self, runs, dataset: str, root=None):
        self.runs, self.dataset, self.root = runs, dataset, root
        recs = {r.strategy: r for r in runs.records if r.dataset == dataset}
        self.records = {s: recs.get(s) for s in ("uniform", "ufn")}
        self.cfgs = {s: Config.from_dict(r.config) for s, r in self.records.items() if r is not None}
        lacking = [s for s, r in self.records.items() if r is None]
        self.art = None if lacking else case_artefacts.load(self.records, root)
        no_w = missing_models(self.cfgs.values(), root)
        self.ready = not lacking and (self.art is not None or not no_w)
        if lacking:
            self.status = f"not computed: runs missing for {lacking} (see the list above)"
        elif self.art is None and no_w:
            self.status = ("not computed: neither the case study's artefacts (results/casestudy/) nor the selected "
                           f"weights (results/models/<key>.pt) of {[c.strategy for c in no_w]} are on this machine; "
                           "recompute the runs, or import an archive written with `python -m ufnlib grid ... "
                           "--with-models`")
        else:
            src = ("artefacts " + str(case_artefacts.path(self.records, root).relative_to(results_dir(root)))
                   + f" (written at {self.art.commit[:7]})" if self.art is not None
                   else "the selected weights (artefacts written on first use)")
            self.status = ("ready: " + ", ".join(f"{s} run {r['key']}" for s, r in self.records.items())
                           + "; read from " + src)
        self.categories, self.category_source = item_categories(dataset)
        self._topk = self._agg = self._flags = self._per_user = None

    @property
    def split(self):
        return load_split(self.dataset)

    def artefacts(self):
        """The top-10 lists and replayed N_false (``case_artefacts``): the committed file, or built
        from the weights (and written) when it is not there."""
        if self.ready and self.art is None:
            self.art = case_artefacts.build(self.cfgs, self.records, self.dataset, replay_mining, self.root)
        return self.art

    def mine(self) -> Mined | None:
        art = self.artefacts()
        return None if art is None else art.mined

    def mined_summary(self) -> str:
        m = self.mine()
        if m is None:
            return self.status
        return (f"{len(m.users):,} distinct (user, item) false negatives for {len(np.unique(m.users)):,} users "
                f"after {m.passes} passes over {m.positions:,} training positions")

    def case(self, user=None, user_seed: int = 0) -> dict | None:
        m = self.mine()
        if m is None:
            print(self.status)
            return None
        u = user if user is not None else pick_user(self.split, m, user_seed)
        return case(self.dataset, u, m, self.categories, self.artefacts())

    @staticmethod
    def case_table(c: dict):
        import pandas as pd
        groups = [("history", c["history"]), ("mined false negative", c["mined"]), ("next (valid, test)", c["next"])]
        groups += [(f"top-{len(v)} {k}", v) for k, v in c["top"].items()]
        return pd.DataFrame([dict(row=row, item=int(i), categories=" | ".join(c["categories"].get(int(i), [])),
                                  dominant=c["dominant"] in c["categories"].get(int(i), []))
                             for row, items in groups for i in items])

    def case_caption(self, c: dict, profile=None) -> str:
        return (f"Figure 5 data: user {c['user']} (original id {c['original_user_id']}) of {self.dataset}; "
                f"categories: {self.category_source}; 'dominant' = the item carries the category most frequent "
                f"in the user's training history ('{c['dominant']}'). Mined false negatives replayed with the "
                f"UFN run's selected weights held fixed (a proxy, not the training-time set); top-5 after the "
                f"training history, history items excluded, over all items. "
                + protocol([r for r in self.records.values() if r], "full", profile))

    def flags(self) -> dict | None:
        """Per-pair flags of the mined and the random negatives (``mined_flags``), computed once."""
        m = self.mine()
        if m is not None and self._flags is None:
            self._flags = mined_flags(m, self.split, self.categories)
        return self._flags

    def per_user(self) -> dict | None:
        """Per model, ``topk_per_user``'s arrays over the evaluated users, computed once."""
        if self.ready and self._per_user is None:
            art = self.artefacts()
            self._per_user = {k: topk_per_user(self.split, self.categories, art.users, top)
                              for k, top in art.top.items()}
        return self._per_user

    def aggregate(self):
        f = self.flags()
        if f is None:
            return None
        if self._agg is None:
            self._agg = aggregate(f, self.categories)
        return self._agg

    def aggregate_caption(self, profile=None) -> str:
        return (f"Figure 5 aggregate on {self.dataset}: replayed N_false of the UFN run (distinct (user, item) "
                f"pairs) vs one random negative per training position; categories: {self.category_source}. "
                + protocol([r for r in self.records.values() if r], "full", profile))

    def topk_caption(self, profile=None) -> str:
        runs = [r for r in self.records.values() if r]
        return ("Top-5 of each model's full ranking (every item scored, the user's training history excluded) "
                "after the training history, over every evaluated user: users = how many users; dominant_share = "
                "the mean share of the top-5 that carries the user's dominant history category; next_hit = the "
                "share of users whose top-5 holds their validation item or their test item (the next two items). "
                f"Categories: {self.category_source}. "
                + protocol(runs, "full", profile, evaluation="the top-5 of a full ranking over every item, the "
                           "validation and test items of leave-one-out both counted as next items",
                           numbers="one run per model, shares over its users, no spread over seeds"))

    def topk(self):
        import pandas as pd
        if not self.ready:
            return None
        if self._topk is None:
            self._topk = pd.DataFrame({k: topk_summary(*v) for k, v in self.per_user().items()}).T
            self._topk.index.name = "model"
        return self._topk

    def training_diagnostics(self) -> dict:
        r = self.records.get("ufn")
        return training_diagnostics(r) if r else {}

    def claims(self) -> list:
        """Figure 5's claims (``case_claims``: intervals over users, one training seed)."""
        out = case_claims.claims(self.flags(), self.per_user(), self.training_diagnostics())
        for c in out:
            c.needs = "one SASRec and one UFN run of the seed, with their selected weights (results/models)"
        return out

    def numbers(self) -> dict:
        agg, tk = self._agg, self._topk
        return {"status": self.status, "categories": self.category_source,
                "aggregate": None if agg is None else agg.to_dict(orient="index"),
                "topk": None if tk is None else tk.to_dict(orient="index"),
                "training_diagnostics": self.training_diagnostics(),
                "mined_pairs": None if self.art is None else int(len(self.art.mined.users)),
                "source": self.status}
