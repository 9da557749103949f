"""Notebook 10's report: the frames of ``two_protocols`` as tables to read, the figure, and the
answer in words (sentences filled from the frames, never typed numbers), one of them the README's.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np

from . import comparison
from .two_protocols import PROTOCOLS

MINED_NONE = ("not computed: no fixed-budget UFN run with its SASRec run in the cache (the default-protocol runs "
              "do not record N_false)")

SAMPLED, FULL = PROTOCOLS["sampled"], PROTOCOLS["full"]
SPLIT_TITLES = {"popularity": "test item's training frequency (deciles of the users' test items)",
                "sasrec_rank": "SASRec's full-ranking rank of the test item (median over seeds)",
                "mined": "test item in UFN's N_false at the selected epoch (fixed-budget runs only)"}
RULE = comparison.RULE + "; [a, b]: that 95% interval"
WORDS = (comparison.HELPS, comparison.HURTS, comparison.UNCLEAR, comparison.ONE_SEED)


def pct(x: float, digits: int = 1) -> str:
    return "" if x is None or not np.isfinite(x) else f"{100 * x:+.{digits}f}%"


def _cell(r, fmt) -> str:
    if not isinstance(r.get("word"), str) or not r["word"]:
        return ""
    iv = f" [{fmt(r['lo'])}, {fmt(r['hi'])}]" if np.isfinite(r["lo"]) and np.isfinite(r["hi"]) else ""
    return f"{fmt(r['change'])}{iv} {r['word']}"


# ------------------------------------------------------------------------------- tables
def overall_display(overall):
    """One row per comparison: seeds, and under each protocol the relative change of test
    NDCG@10 with its interval and word, and whether the two protocols' words agree."""
    import pandas as pd
    rows = []
    for name, g in overall.groupby("comparison", sort=False):
        by = {r["protocol"]: r for r in g.to_dict("records")}
        s, f = by.get(SAMPLED, {}), by.get(FULL, {})
        rows.append({"comparison": name, "source": s.get("source", ""), "seeds": s.get("seeds", ""),
                     "generations": s.get("generations", ""),
                     f"{SAMPLED}: SASRec": s.get("sasrec"), f"{SAMPLED}: change": _cell(s, pct),
                     f"{FULL}: SASRec": f.get("sasrec"), f"{FULL}: change": _cell(f, pct),
                     "same word": (("yes" if s["word"] == f.get("word") else "no")
                                   if isinstance(s.get("word"), str) and s["word"] else ""),
                     "missing runs": s.get("missing", 0)})
    return pd.DataFrame(rows).set_index("comparison")


def split_display(frame):
    """One row per (comparison, group): users, and under each protocol the mean per-user change
    of NDCG@10 with its interval and word, and the group's share of the overall relative change."""
    import pandas as pd
    if frame is None or not len(frame):
        return pd.DataFrame()
    rows = []
    for (comp, _, group), g in frame.groupby(["comparison", "order", "group"], sort=False):
        by = {r["protocol"]: r for r in g.to_dict("records")}
        row = {"comparison": comp, "group": group, "users": int(g["users"].iloc[0])}
        for p in (SAMPLED, FULL):
            r = by.get(p, {})
            row[f"{p}: SASRec"] = r.get("sasrec")
            row[f"{p}: change"] = _cell(r, lambda x: f"{x:+.4f}")
            row[f"{p}: contribution"] = pct(r.get("contribution", math.nan), 2)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["comparison", "group"])


# ------------------------------------------------------------------------------- figure
def _bars(ax, frame, title, xlabel=""):
    x = np.arange(frame["order"].nunique())
    groups = frame.drop_duplicates("order").sort_values("order")["group"].tolist()
    for j, (p, col) in enumerate(((SAMPLED, "C0"), (FULL, "C3"))):
        g = frame[frame["protocol"] == p].sort_values("order")
        c = 100 * g["contribution"].to_numpy()
        err = 100 * np.abs(np.stack([g["contribution"] - g["contribution_lo"],
                                     g["contribution_hi"] - g["contribution"]]))
        ax.bar(x + (j - 0.5) * 0.4, c, 0.4, yerr=err, color=col, alpha=0.8, capsize=2, label=p)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(x, groups, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("contribution to the change (% of SASRec)", fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.grid(axis="y", alpha=0.3)


def plot(focus: dict, mined=None, top10=None, top10_note: str = "", mined_note: str = MINED_NONE):
    """Four panels: the focus comparison's contributions by popularity decile and by SASRec's
    rank band (bars: sampled-100 and full ranking, with intervals), the same by mined flag for
    the fixed-budget comparison (``mined``: its split frame), and the share of top-10 slots in
    each popularity decile (``top10``: ``top10_popularity``; else ``top10_note`` is written)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 7.2))
    (a, b), (c, d) = axes
    for ax, kind, xl in ((a, "popularity", "training frequency of the test item"),
                         (b, "sasrec_rank", "SASRec's full-ranking rank of the test item")):
        f = focus.get(kind)
        if f is not None and len(f):
            _bars(ax, f, f"{f['comparison'].iloc[0]}\nby {SPLIT_TITLES[kind]}", xl)
        else:
            ax.text(0.5, 0.5, "not computed", ha="center", va="center", fontsize=8)
            ax.set_axis_off()
    if mined is not None and len(mined):
        _bars(c, mined, f"{mined['comparison'].iloc[0]}\nby {SPLIT_TITLES['mined']}")
    else:
        c.text(0.5, 0.5, textwrap.fill(mined_note, 48), ha="center",
               va="center", fontsize=8)
        c.set_axis_off()
    if top10 is not None:
        shares = top10[[k for k in top10.columns if k.startswith("share ")]]
        x = np.arange(shares.shape[1])
        for j, (name, col) in enumerate((("SASRec top-10", "C0"), ("UFNRec top-10", "C3"), ("test items", "0.5"))):
            d.bar(x + (j - 1) * 0.27, 100 * shares.loc[name].to_numpy(), 0.27, color=col, label=name)
        d.set_xticks(x, [k.removeprefix("share ") for k in shares.columns], rotation=45, ha="right", fontsize=7)
        d.set_ylabel("share of slots (%)", fontsize=7)
        d.set_title("What the top-10 lists hold, by the test items' popularity deciles\n(one training seed: the "
                    "case study's pair of runs)", fontsize=8)
        d.legend(fontsize=7, frameon=False)
        d.grid(axis="y", alpha=0.3)
    else:
        d.text(0.5, 0.5, textwrap.fill(top10_note or "not computed", 60), ha="center", va="center", fontsize=8)
        d.set_axis_off()
    if a.get_legend_handles_labels()[0]:        # a panel without labelled series draws no legend
        a.legend(fontsize=7, frameon=False)
    for ax, letter in zip((a, b, c, d), "abcd"):  # the panels as the notebook's prose names them
        ax.text(-0.02, 1.02, f"({letter})", transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
                fontweight="bold")
    fig.suptitle("Where UFN's change in test NDCG@10 against SASRec comes from, under both protocols", fontsize=10)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------------------- words
def counts(overall, protocol: str) -> dict:
    g = overall[(overall["protocol"] == protocol) & overall["word"].isin(WORDS)]
    return {w: g.loc[g["word"] == w, "comparison"].tolist() for w in WORDS}


def _count_text(c: dict) -> str:
    return ", ".join(f"{len(v)} {w}" for w, v in c.items())


def disagreements(overall) -> list[str]:
    """'<comparison> (sampled-100: hurts, full ranking: helps)' where the two words differ."""
    out = []
    for name, g in overall.groupby("comparison", sort=False):
        w = {p: x for p, x in zip(g["protocol"], g["word"]) if isinstance(x, str) and x}
        if w.get(SAMPLED) and w.get(FULL) and w[SAMPLED] != w[FULL]:
            out.append(f"{name} ({w[SAMPLED]} under {SAMPLED}, {w[FULL]} under {FULL})")
    return out


def halves(frame, protocol: str) -> tuple[float, float, str, str]:
    """Contributions of the less and the more popular half of the popularity groups (by group
    order), with the frequency range of each half."""
    g = frame[frame["protocol"] == protocol].sort_values("order")
    n = len(g)
    lo, hi = g.iloc[: n // 2], g.iloc[n // 2:]
    rng = lambda h: f"{h['group'].iloc[0].split('-')[0]}-{h['group'].iloc[-1].split('-')[-1]}" if len(h) else ""
    return float(lo["contribution"].sum()), float(hi["contribution"].sum()), rng(lo), rng(hi)


def lean_counts(frame) -> str:
    """Across every comparison of a popularity split: in how many the less popular half of the
    test items adds more to the change than the more popular half, under each protocol."""
    names = list(dict.fromkeys(frame["comparison"]))
    k = {p: sum(1 for n in names if (lambda h: h[0] > h[1])(halves(frame[frame["comparison"] == n], p)))
         for p in (SAMPLED, FULL)}
    return (f"Across the {len(names)} comparisons split by popularity, the less popular half of the test items adds "
            f"more to the change than the more popular half in {k[FULL]} under {FULL} and in {k[SAMPLED]} under "
            f"{SAMPLED}.")


def lean(tail: float, head: float) -> str:
    if tail > 0 and head <= 0:
        return "from the less popular test items (on the more popular ones UFN loses)"
    if head > 0 and tail <= 0:
        return "from the more popular test items (on the less popular ones UFN loses)"
    if tail > 0 and head > 0:
        return "from both halves, more from the " + ("less" if tail >= head else "more") + " popular one"
    return "nowhere: neither half gains"


def popularity_sentence(frame, total: dict) -> tuple[str, str]:
    """(sentence, the full-ranking lean) for one comparison's popularity split."""
    parts, lean_full = [], ""
    for p in (SAMPLED, FULL):
        t, h, rt, rh = halves(frame, p)
        parts.append(f"under {p} the less popular half of the test items (training frequency {rt}) adds {pct(t)} "
                     f"and the more popular half ({rh}) {pct(h)} to the {pct(total[p])} change")
        if p == FULL:
            lean_full = lean(t, h)
    return "By popularity: " + "; ".join(parts) + ".", lean_full


def rank_sentence(frame) -> tuple[str, str]:
    """(sentence, the band that adds most under full ranking) for a SASRec-rank split."""
    g = frame.sort_values("order")
    cells = []
    for band, b in g.groupby("group", sort=False):
        c = dict(zip(b["protocol"], b["contribution"]))
        cells.append(f"{band} {pct(c.get(SAMPLED, math.nan))} / {pct(c.get(FULL, math.nan))}")
    full = g[g["protocol"] == FULL]
    top = full.loc[full["contribution"].idxmax(), "group"] if len(full) else ""
    return ("By SASRec's full-ranking rank of the test item, contribution to the change under sampled-100 / full "
            "ranking: " + ", ".join(cells) + "."), top


def mined_sentence(frame) -> str:
    cells = []
    for grp, b in frame.sort_values("order").groupby("group", sort=False):
        ch = dict(zip(b["protocol"], b["change"]))
        co = dict(zip(b["protocol"], b["contribution"]))
        cells.append(f"{grp} ({int(b['users'].iloc[0]):,} users): per-user change {ch.get(SAMPLED, math.nan):+.4f} / "
                     f"{ch.get(FULL, math.nan):+.4f}, contribution {pct(co.get(SAMPLED, math.nan))} / "
                     f"{pct(co.get(FULL, math.nan))}")
    f = frame.assign(mined=frame["order"] > 0).groupby(["protocol", "mined"])["contribution"].sum()
    never = {p: f.get((p, False), 0.0) for p in (SAMPLED, FULL)}
    some = {p: f.get((p, True), 0.0) for p in (SAMPLED, FULL)}
    if never[FULL] > 0 and some[FULL] <= 0:
        so = "so UFN's full-ranking gain is not made of reversed held-out items"
    elif some[FULL] > 0:
        so = "so reversed held-out items carry part of UFN's full-ranking change"
    else:
        so = "so there is no full-ranking gain to place"
    return (f"{frame['comparison'].iloc[0]}, users by whether UFN had mined their test item (sampled-100 / full "
            "ranking): " + "; ".join(cells) + f". Users whose test item was never mined add {pct(never[FULL])} under "
            f"full ranking and {pct(never[SAMPLED])} under sampled-100; those whose item was mined in some or every "
            f"seed {pct(some[FULL])} and {pct(some[SAMPLED])}: {so}.")


def top10_sentence(top10) -> str:
    s, u = top10.loc["SASRec top-10"], top10.loc["UFNRec top-10"]
    add, drop = top10.loc["only in UFNRec's"], top10.loc["only in SASRec's"]
    top_col = [k for k in top10.columns if k.startswith("share ")][-1]
    return (f"Top-10 lists (seed {top10.attrs.get('seed', '?')}, after the training history): the items in UFN's "
            f"have a mean training frequency of {u['mean_frequency']:.1f} against {s['mean_frequency']:.1f} in "
            f"SASRec's; {u[top_col]:.1%} of UFN's slots and {s[top_col]:.1%} of SASRec's hold items of the most "
            f"popular decile ({top_col.removeprefix('share ')}); the items UFN puts in that SASRec does not have a "
            f"mean frequency of {add['mean_frequency']:.1f}, those it leaves out {drop['mean_frequency']:.1f}; the "
            f"two lists share {top10.attrs.get('overlap', math.nan):.0%} of their items per user.")


def takeaway(n_items: int, eval_neg: int) -> str:
    k = 10 * (n_items - 1) / eval_neg
    return (f"Why they part ways: sampled-100 ranks the test item against {eval_neg} items drawn uniformly, so an "
            f"item at full rank r lands near sampled rank r x {eval_neg}/{n_items - 1:,} and sampled NDCG@10 "
            f"rewards any rise within roughly the top {k:,.0f} of the {n_items:,} items, against mostly unpopular "
            f"items; full ranking rewards only the top 10, against every item, the popular ones included. For a "
            f"practitioner: the paper's claims stay decided under sampled-100, as the paper reports them; a system "
            f"that serves a top-10 from the whole catalogue should choose between SASRec and UFN on full ranking, "
            f"and read a sampled-100 gain as a statement about the bulk of the ranking, not its top.")


def mined_missing(comps, want: int) -> str:
    """Why the mined split is not computed: the fixed-budget SASRec comparison with the held-out
    items in reach (the only runs that record the flag) and the seeds it has of one code
    generation, against the ``want`` the split needs; ``MINED_NONE`` without such a comparison."""
    fixed = [c for c in comps if c.backbone == "sasrec" and c.config.get("log_test_every")
             and not c.config.get("exclude_heldout")]
    if not fixed:
        return MINED_NONE
    c = fixed[0]
    have = ", ".join(map(str, c.seeds)) or "none"
    return (f"not computed: the fixed-budget comparison ({c.name}) has seed(s) {have} with both runs of one code "
            f"generation; the split needs {want}")


def answer(overall, focus_name: str, focus: dict, mined=None, top10=None, top10_note: str = "",
           n_items: int = 0, eval_neg: int = 100, popularity=None, mined_note: str = MINED_NONE) -> list[str]:
    """The notebook's answer in sentences (every number from the frames). ``focus``: the focus
    comparison's splits; ``mined``: the fixed-budget comparison's mined split; ``popularity``:
    every comparison's popularity split."""
    cs, cf = counts(overall, SAMPLED), counts(overall, FULL)
    n = sum(len(v) for v in cs.values())
    lines = [f"Over the {n} comparisons computed (UFN against SASRec of the same seeds, test NDCG@10; {RULE}): "
             f"under {SAMPLED}, the paper's protocol: {_count_text(cs)}; under {FULL}: {_count_text(cf)}."]
    dis = disagreements(overall)
    lines.append(f"The two protocols give different words in {len(dis)} of them"
                 + (": " + "; ".join(dis) + "." if dis else "."))
    row = overall[overall["comparison"] == focus_name].set_index("protocol")
    if len(row) and isinstance(row.loc[FULL, "word"], str) and row.loc[FULL, "word"]:
        total = {p: row.loc[p, "change"] for p in (SAMPLED, FULL)}
        lines.append(f"{focus_name} (seeds {row.loc[FULL, 'seeds']}): {_cell(row.loc[SAMPLED], pct)} under "
                     f"{SAMPLED}, {_cell(row.loc[FULL], pct)} under {FULL}.")
        if focus.get("popularity") is not None and len(focus["popularity"]):
            text, lf = popularity_sentence(focus["popularity"], total)
            decided = row.loc[FULL, "word"] in (comparison.HELPS, comparison.HURTS)
            lines.append(text + (f" Under full ranking the change comes {lf}." if decided else
                                 f" Under full ranking the change itself is not decided ({row.loc[FULL, 'word']}); "
                                 f"if it is real, it comes {lf}.")
                         + (" " + lean_counts(popularity) if popularity is not None and len(popularity) else ""))
        if focus.get("sasrec_rank") is not None and len(focus["sasrec_rank"]):
            text, top = rank_sentence(focus["sasrec_rank"])
            lines.append(text + f" Under full ranking the band that adds most is {top}: the gain is test items UFN "
                         "lifts into the top 10 from there, net of those it pushes out of SASRec's top 10 (a band "
                         "defined by SASRec's own rank leans towards such a pattern by itself: regression to the "
                         "mean).")
    else:
        lines.append(f"{focus_name}: not computed (no seed with both runs in the cache).")
    lines.append(mined_sentence(mined) if mined is not None and len(mined) else
                 f"Mined held-out items: {mined_note}.")
    lines.append(top10_sentence(top10) if top10 is not None else f"Top-10 lists: {top10_note}")
    if n_items:
        lines.append(takeaway(n_items, eval_neg))
    return lines


def answer_numbers(overall, focus_name: str, focus: dict, mined=None, top10=None, top10_note: str = "",
                   n_items: int = 0, eval_neg: int = 100, popularity=None, mined_note: str = MINED_NONE) -> dict:
    """What ``answer`` says, as numbers and words (notebook 10 stores it): ``answer``'s frames as
    records (the top-10 table with its index and attrs), the note and the catalogue's sizes;
    ``answer_lines`` makes the sentences of it."""
    def rec(f):
        return None if f is None or not len(f) else f.to_dict(orient="records")
    top = None if top10 is None else {"index": top10.index.name or "index",
                                      "rows": top10.reset_index().to_dict(orient="records"),
                                      "attrs": dict(top10.attrs)}
    return {"overall": rec(overall), "focus": focus_name,
            "focus_splits": {k: rec(v) for k, v in focus.items()}, "mined": rec(mined), "top10": top,
            "top10_note": top10_note, "n_items": int(n_items), "eval_neg": int(eval_neg),
            "popularity": rec(popularity), "mined_note": mined_note}


def answer_lines(numbers: dict) -> list[str]:
    """``answer`` from ``answer_numbers`` (as stored): the notebook prints these lines and its JSON
    keeps the numbers, never the sentences."""
    import pandas as pd
    top = numbers["top10"]
    top10 = None
    if top is not None:
        top10 = pd.DataFrame(top["rows"]).set_index(top["index"])
        top10.attrs.update(top["attrs"])
    mined, popularity = _frame(numbers["mined"]), _frame(numbers["popularity"])
    return answer(_frame(numbers["overall"]), numbers["focus"],
                  {k: _frame(v) for k, v in numbers["focus_splits"].items() if v},
                  mined if len(mined) else None, top10, numbers["top10_note"], numbers["n_items"],
                  numbers["eval_neg"], popularity if len(popularity) else None,
                  numbers.get("mined_note", MINED_NONE))


def readme_numbers(overall, focus_name: str, focus: dict, top10=None, popularity=None, mined=None) -> dict:
    """What the README's line says, as numbers and words (notebook 10 stores it): the comparisons'
    words and changes per protocol, the focus comparison's popularity and SASRec-rank splits, every
    comparison's popularity split, the fixed-budget comparison's mined split and the mean training
    frequency of each top-10."""
    def rec(f):
        return None if f is None or not len(f) else f.to_dict(orient="records")
    cols = ["comparison", "protocol", "word", "change", "lo", "hi"]
    return {"overall": rec(overall[cols]), "focus": focus_name,
            "focus_splits": {k: rec(focus.get(k)) for k in ("popularity", "sasrec_rank")},
            "popularity": rec(popularity), "mined": rec(mined),
            "top10": None if top10 is None else {k: float(top10.loc[f"{k} top-10", "mean_frequency"])
                                                 for k in ("UFNRec", "SASRec")}}


def _frame(records):
    """A stored split back as a frame, its numbers as floats (a column of missing values included)."""
    import pandas as pd
    f = pd.DataFrame(records or [])
    for c in ("change", "lo", "hi", "contribution", "share"):
        if c in f:
            f[c] = pd.to_numeric(f[c], errors="coerce")
    return f


def readme_line(overall, focus_name: str, focus: dict, top10=None, popularity=None, mined=None) -> str:
    """``readme_line_of`` of ``readme_numbers`` as a notebook's JSON stores them."""
    from .report import plain
    return readme_line_of(plain(readme_numbers(overall, focus_name, focus, top10, popularity, mined)))


def readme_line_of(numbers: dict) -> str:
    """One line for the README from ``readme_numbers`` (as stored): where UFN helps under each
    protocol, for which items, and what to take from it."""
    overall, focus_name = _frame(numbers["overall"]), numbers["focus"]
    focus = {k: _frame(v) for k, v in numbers["focus_splits"].items() if v}
    popularity, mined, top10 = _frame(numbers["popularity"]), _frame(numbers["mined"]), numbers["top10"]
    cs, cf = counts(overall, SAMPLED), counts(overall, FULL)
    n = sum(len(v) for v in cs.values())
    out = (f"- **Two protocols (notebook 10).** Over {n} UFN-vs-SASRec comparisons (test NDCG@10; {comparison.RULE}): "
           f"under {SAMPLED} (the paper's protocol, on which its claims stay decided) {_count_text(cs)}; under "
           f"{FULL} {_count_text(cf)}.")
    row = overall[overall["comparison"] == focus_name].set_index("protocol")
    if len(row) and isinstance(row.loc[FULL, "word"], str) and row.loc[FULL, "word"]:
        out += f" {focus_name}: {_cell(row.loc[SAMPLED], pct)} sampled, {_cell(row.loc[FULL], pct)} full ranking"
        if "popularity" in focus:
            out += "; its full-ranking change comes " + popularity_sentence(
                focus["popularity"], {p: row.loc[p, "change"] for p in (SAMPLED, FULL)})[1]
        if "sasrec_rank" in focus:
            out += f", mostly from test items SASRec ranks {rank_sentence(focus['sasrec_rank'])[1]}"
        out += "."
    if len(popularity):
        out += " " + lean_counts(popularity)
    if len(mined):
        out += " In the fixed-budget runs, " + mined_sentence(mined).rsplit(": so ", 1)[-1]
    if top10 is not None:
        u, s = top10["UFNRec"], top10["SASRec"]
        out += (f" UFN's top-10 items are {'more' if u > s else 'less'} popular than SASRec's (mean training "
                f"frequency {u:.1f} vs {s:.1f}).")
    out += (" For a system serving a top-10 from the whole catalogue, decide on full ranking; a sampled-100 gain "
            "speaks for the bulk of the ranking, not its top.")
    return out


def caption(what: str, records, profile: str) -> str:
    """A table's caption: ``what``, then the protocol read from the records (data, both
    evaluation modes, seeds, selection), the decision rule and the profile."""
    from .captions import MODE_TEXT, dataset_note
    by_ds = {}
    for r in records:
        by_ds.setdefault(r.dataset, r)
    seeds = sorted({r.seed for r in records})
    data = "; ".join(dataset_note(d, r) for d, r in by_ds.items()) or "no runs in the cache yet"
    return (f"{what} Data: {data}. Evaluation: test split of leave-one-out, NDCG@10 under the "
            f"{MODE_TEXT['sampled']} and under {MODE_TEXT['full']}. Seeds {seeds}: each comparison on the seeds "
            f"both arms have (column 'seeds'), per-user values averaged over them; the epoch of each run is chosen "
            f"on sampled validation NDCG@10, test is never used for selection; runs with an EMA teacher report the "
            f"teacher's weights. {RULE}. Profile: {profile}.")
