"""Figure 5's claims decided with a margin over users.

The case study compares one SASRec and one UFN run (one training seed), so its intervals cover
the sampling of users, not training randomness; every claim's detail says so. Two kinds of
comparison:

- mined false negatives against random negatives (shares over (user, item) pairs):
  ``clustered_difference``, a difference of two shares whose 95% interval comes from the
  user-clustered (sandwich) variance, since a user's pairs are not independent and the same user
  appears in both sets;
- UFN's top-k against SASRec's for the same users: ``paired_difference``, a t interval of the
  per-user differences.

A claim holds when its interval lies on the claimed side of zero, is contradicted when it lies on
the other side, and is not shown otherwise.

"Mainly of the user's main interest" (the first claim) is read as: the share of mined false
negatives whose item carries the user's dominant history category (``casestudy.dominant_category``)
is above one half, and above the same share among random negatives, so that it says more than
chance; it holds when both intervals say so and is contradicted when either lies on the other side.
Sharing *any* attribute (brand included) with *any* history item is a much looser test that random
negatives pass too; it is reported beside the claim, not used to decide it.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as st

from .comparison import ALPHA
from .stats import NOT_SHOWN, Claim, verdict

ONE_SEED = "one training seed: the interval covers the sampling of users, not training randomness"


def _residual_sums(users, flags, groups):
    """Per user (index into ``groups``), the sum of (flag - share) over that user's pairs, and the share."""
    flags = np.asarray(flags, float)
    p = flags.mean()
    idx = np.searchsorted(groups, users)
    return np.bincount(idx, weights=flags - p, minlength=len(groups)), p


def clustered_difference(users_a, flags_a, users_b=None, flags_b=None, alpha: float = ALPHA) -> dict:
    """Share of flagged pairs in set a minus that in set b (b left out: a's share alone), with its
    ``1 - alpha`` interval from the variance clustered by user: ``G / (G - 1) * sum_u (r_a[u] / n_a
    - r_b[u] / n_b) ** 2`` over the G users of either set, r the user's summed residuals."""
    users_a = np.asarray(users_a)
    two = users_b is not None
    groups = np.union1d(users_a, np.asarray(users_b)) if two else np.unique(users_a)
    ra, pa = _residual_sums(users_a, flags_a, groups)
    r = ra / len(users_a)
    pb = 0.0
    if two:
        rb, pb = _residual_sums(np.asarray(users_b), flags_b, groups)
        r = r - rb / len(users_b)
    g = len(groups)
    se = float(np.sqrt(g / (g - 1) * np.sum(r ** 2))) if g > 1 else np.nan
    z = st.norm.ppf(1 - alpha / 2)
    d = pa - pb
    return dict(a=pa, b=pb if two else np.nan, diff=d, low=d - z * se, high=d + z * se, users=g)


def paired_difference(x, y, alpha: float = ALPHA) -> dict:
    """Mean of x - y over the users where both are defined, with its ``1 - alpha`` t interval."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    d = x[ok] - y[ok]
    n = len(d)
    half = st.t.ppf(1 - alpha / 2, n - 1) * d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    m = float(d.mean()) if n else np.nan
    return dict(a=float(x[ok].mean()) if n else np.nan, b=float(y[ok].mean()) if n else np.nan,
                diff=m, low=m - half, high=m + half, users=n)


def side(c: dict, above: float = 0.0) -> str:
    """holds / contradicted / not shown: where the interval [low, high] lies against ``above``."""
    if c["low"] > above:
        return verdict(True)
    if c["high"] < above:
        return verdict(False)
    return NOT_SHOWN


def _interval(c: dict) -> str:
    """The difference of two shares in percentage points, with its interval and the users behind it."""
    k = 3 if abs(c["diff"]) < 1e-3 else 2
    return (f"difference {100 * c['diff']:+.{k}f} points, 95% interval [{100 * c['low']:+.{k}f}, "
            f"{100 * c['high']:+.{k}f}] over {c['users']:,} users")


def _training(t: dict | None) -> str:
    """The trainer's own counters of its last mining epoch, as a clause (empty without them)."""
    if not t or t.get("mined_later_share") is None:
        return ""
    return (f"; during training (epoch {t['epoch']}, last mining epoch) mined {t['mined_later_share']:.3%}, "
            f"random {t['random_later_share']:.3%}")


def _known(users, flags):
    """The pairs where ``flags`` is defined (not NaN): ``(users, flags)``."""
    flags = np.asarray(flags, float)
    ok = ~np.isnan(flags)
    return np.asarray(users)[ok], flags[ok]


MAIN_INTEREST_TEST = (
    "share of mined false negatives whose item carries the user's dominant history category (the category "
    "most frequent over the user's training items, as in the top-5 claim; pairs of users without one left "
    "out): above one half, and above the same share among random negatives (one per training position); "
    "both 95% intervals over users, clustered by user (sandwich variance, normal approximation: "
    "case_claims.clustered_difference)")


def main_interest(flags: dict) -> tuple:
    """Figure 5's first claim from ``flags`` (see ``claims``): the word, the mined share against
    one half, and mined minus random (``clustered_difference``); ``(None, None, None)`` when no
    pair has a dominant category in either set."""
    (mu, md, *_), (ru, rd, *_) = flags["mined"], flags["random"]
    km, kr = _known(mu, md), _known(ru, rd)
    if not len(km[0]) or not len(kr[0]):
        return None, None, None
    half = clustered_difference(*km)                 # the mined share alone, against one half
    diff = clustered_difference(*km, *kr)
    words = {side(half, 0.5), side(diff)}
    ok = (verdict(True) if words == {verdict(True)} else verdict(False) if verdict(False) in words
          else NOT_SHOWN)
    return ok, half, diff


def claims(flags: dict | None, per_user: dict | None, training: dict | None = None) -> list[Claim]:
    """The case study's claims. ``flags``: per (user, item) pair, ``{"mined": (users, dominant,
    any_attribute, later[, true_fn]), "random": (...)}`` (``casestudy.pair_flags``: ``dominant``
    1/0/NaN, the item carries the user's dominant history category; ``any_attribute``, it shares
    any attribute with any history item, reported beside the first claim but not deciding it);
    ``per_user``: per model ("SASRec", "UFNRec"), the per-user arrays ``(dominant_share,
    next_hit)`` over the same users; ``training``: the UFN run's counters of its last mining epoch
    (``casestudy.training_diagnostics``), quoted beside the premise. None: not computed."""
    out = []
    cm = None
    ok = half = diff = None
    if flags is not None:
        mu, _, *mf = flags["mined"]
        ru, _, *rf = flags["random"]
        cm = [clustered_difference(mu, a, ru, b) for a, b in zip(mf, rf)]   # any_attribute, later[, true_fn]
        ok, half, diff = main_interest(flags)
    out.append(Claim("Figure 5", "The false negatives UFNRec discovers are mainly of the user's main interest "
                     "(the history's category).", MAIN_INTEREST_TEST,
                     verdict(ok), "" if diff is None else
                     f"in the user's dominant history category: mined {diff['a']:.1%} (95% interval "
                     f"[{half['low']:.1%}, {half['high']:.1%}], against one half), random {diff['b']:.1%}; "
                     f"{_interval(diff)}; secondary, not deciding: sharing any attribute (brand included) with "
                     f"any history item, mined {cm[0]['a']:.1%}, random {cm[0]['b']:.1%}; {ONE_SEED}"))
    out.append(Claim("Figure 5 (premise)", "Mined false negatives are items the user would interact with.",
                     "replayed mined false negatives are the user's later (valid/test) item more often than "
                     "random negatives (95% interval over users, clustered)",
                     verdict(None if cm is None else side(cm[1])), "" if cm is None else
                     f"mined {cm[1]['a']:.3%}, random {cm[1]['b']:.3%}; {_interval(cm[1])}{_training(training)}; "
                     f"{ONE_SEED}"))
    if cm is not None and len(cm) > 2:
        out.append(Claim("Figure 5 (synthetic ground truth)", "Mined false negatives are real false negatives.",
                         "mined pairs are generator false negatives more often than random negatives",
                         verdict(side(cm[2])), f"mined {cm[2]['a']:.1%}, random {cm[2]['b']:.1%}; "
                         f"{_interval(cm[2])}; {ONE_SEED}"))
    pu = None if per_user is None else [paired_difference(per_user["UFNRec"][j], per_user["SASRec"][j])
                                         for j in (0, 1)]
    for j, (text, test, fmt) in enumerate((
            ("UFNRec recommends more items of the user's main interest than SASRec.",
             "share of the top-5 in the user's dominant history category, per user: UFNRec above SASRec "
             "(95% interval of the paired differences)", ".1%"),
            ("UFNRec's recommendations are more likely to be clicked next than SASRec's.",
             "hit of the valid or test item in the top-5 after the training history, per user: UFNRec "
             "above SASRec (95% interval of the paired differences)", ".2%"))):
        c = None if pu is None else pu[j]
        out.append(Claim("Figure 5", text, test, verdict(None if c is None else side(c)), "" if c is None else
                         f"UFNRec {c['a']:{fmt}}, SASRec {c['b']:{fmt}}; {_interval(c)}; {ONE_SEED}"))
    return out
