"""The held-out-item intervention (notebook 09, section 6): the protocol study's fixed-budget runs
with each user's validation and test items kept out of that user's training negatives
(``Config.exclude_heldout``), beside the same runs with them in reach (the reference's sampler).

With the items out of reach they can never be mined and reversed into positives, so whatever
gain is left is not made of them; and the validation curve is no longer lifted by training on
validation items, so Figure 4's claims can be read on it. The readings, the Table 3 statements
and the Figure 4 checks are ``protocol_report``'s and ``plots``' own functions applied to each
setting; this module splits the runs, puts the settings side by side and says it in words.
"""
from __future__ import annotations

from ..experiments.grid import GridResult
from . import comparison
from .protocol_report import mean_curves
from .stats import fmt_pct

SETTINGS = {False: "held-out items in reach (reference sampler)",
            True: "held-out items out of reach (exclude_heldout)"}
SHORT = {False: "in reach", True: "out of reach"}
CURVE_NOTE = {False: "read on a curve that may be lifted: training negatives may be the user's validation item, "
                     "mined and reversed "
                     "(notebook 09 section 6 reads it with the held-out items out of reach)",
              True: "read on a curve no reversed validation item lifts (exclude_heldout)"}


def _fixed(cfg) -> bool:
    return bool(cfg.get("log_test_every"))


def part(res, out_of_reach: bool, fixed: bool = True) -> GridResult:
    """The grid's fixed-budget runs (``fixed=False``: default-protocol runs) of one setting:
    records and missing configs, so that claims decided on them count only their own missing runs."""
    def keep(cfg) -> bool:
        return _fixed(cfg) == fixed and bool(cfg.get("exclude_heldout")) == out_of_reach
    return GridResult(records=[r for r in res.records if keep(r.config)],
                      missing=[c for c in res.missing if keep(c.to_dict())])


def side_by_side(tables: dict, baseline: str = "uniform"):
    """One row per (reading, strategy): mean test NDCG@10 and the change against SASRec under that
    reading in each setting (``tables``: setting -> ``protocol_report.readings_table``), the
    seeds behind each (a strategy's row: the seeds compared with SASRec, those whose two runs share
    a code generation; SASRec's row: its runs) and which were left out, and the difference the
    intervention makes (out of reach - in reach, in points of relative change). SASRec's own row
    shows how the intervention moves the baseline: its negatives lose the held-out items too."""
    import pandas as pd
    rows = {}
    for setting, t in tables.items():
        if t is None or not len(t):
            continue
        for _, r in t.iterrows():
            row = rows.setdefault((r["reading"], r["strategy"]), {"reading": r["reading"], "strategy": r["strategy"]})
            row[f"ndcg@10, {SHORT[setting]}"] = r["_mean"]
            row[f"vs SASRec, {SHORT[setting]}"] = r["_rel"]
            row[f"verdict, {SHORT[setting]}"] = r.get("verdict", "")
            row[f"seeds, {SHORT[setting]}"] = r.get("_n", r["seeds"])
            row[f"pairing, {SHORT[setting]}"] = r.get("pairing", "")
            row[f"interval, {SHORT[setting]}"] = r.get("95% interval", "")
            row[f"mixed, {SHORT[setting]}"] = bool(r.get("_mixed", False))
    df = pd.DataFrame(list(rows.values()))
    cols = ["reading", "strategy"] + [f"{k}, {SHORT[s]}" for s in (False, True)
                                      for k in ("ndcg@10", "vs SASRec", "verdict", "seeds", "pairing")]
    for c in cols:
        if c not in df.columns:
            df[c] = float("nan")
    df = df[cols + [c for c in df.columns if c.startswith(("interval, ", "mixed, "))]]
    df["change made by the intervention"] = df[f"vs SASRec, {SHORT[True]}"] - df[f"vs SASRec, {SHORT[False]}"]
    return df


def validation_comparison(records, metric: str = "ndcg@10"):
    """UFN against SASRec on validation ``metric`` (sampled) at each run's selected epoch, i.e. the
    best validation score that early stopping and Figure 4 read (``comparison.compare_runs``,
    users included); None without both arms."""
    base = [r for r in records if r.strategy == "uniform"]
    treat = [r for r in records if r.strategy == "ufn"]
    return comparison.compare_runs(base, treat, metric, which="valid") if base and treat else None


def plot_settings(parts: dict, seed: int, strategies=("uniform", "ufn"), zoom_from: int = 20):
    """Validation (every epoch) and logged test NDCG@10 of one seed's fixed-budget runs, one
    panel per strategy (``parts``: setting -> ``part``); solid: held-out items in reach, dashed:
    out of reach. Below, zoomed from epoch ``zoom_from`` on: each strategy's logged test curve in
    both settings, mean over the seeds each has (shaded: their range)."""
    import matplotlib.pyplot as plt

    n = len(strategies)
    fig = plt.figure(figsize=(5.2 * n, 6.6))
    grid = fig.add_gridspec(2, n)
    axes = [fig.add_subplot(grid[0, i]) for i in range(n)]
    for ax in axes[1:]:
        ax.sharey(axes[0])
        ax.tick_params(labelleft=False)
    for ax, s in zip(axes, strategies):
        for setting, ls in ((False, "-"), (True, "--")):
            runs = parts[setting].records if setting in parts else []
            r = next((r for r in runs if r.strategy == s and r.seed == seed), None)
            if r is None:
                continue
            h = [e for e in r.history if "valid" in e]
            ax.plot([e["epoch"] for e in h], [e["valid"]["ndcg@10"] for e in h], color="C0", ls=ls, lw=1,
                    label=f"validation, {SHORT[setting]}")
            log = r["protocol"]["log"]
            ax.plot([e["epoch"] for e in log], [e["test"]["sampled"]["ndcg@10"] for e in log], color="C3", ls=ls,
                    lw=1, label=f"test (logged), {SHORT[setting]}")
            if r.warmup_end:
                ax.axvline(r["warmup_end_epoch"], color="0.6", ls=":", lw=1)
        ax.set_title(f"{s} (seed {seed})", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("NDCG@10 (sampled-100)")
    axes[-1].legend(fontsize=7, frameon=False, loc="lower right")
    zoom = fig.add_subplot(grid[1, :])
    for i, s in enumerate(strategies):
        for setting, ls in ((False, "-"), (True, "--")):
            runs = [r for r in (parts[setting].records if setting in parts else []) if r.strategy == s]
            c = mean_curves(runs, "test", zoom_from)
            if c is None:
                continue
            zoom.plot(c.index, c["mean"], color=f"C{i}", ls=ls, lw=1.2,
                      label=f"{s}, {SHORT[setting]} ({int(c['n'].min())} seeds)")
            zoom.fill_between(c.index, c["min"], c["max"], color=f"C{i}", alpha=0.12, lw=0)
    zoom.set_title(f"zoom: test (logged) from epoch {zoom_from}, mean over seeds (shaded: their range)", fontsize=9)
    zoom.set_xlabel("epoch")
    zoom.set_ylabel("NDCG@10 (sampled-100)")
    zoom.grid(alpha=0.3)
    zoom.legend(fontsize=7, frameon=False, loc="lower right", ncol=2)
    fig.suptitle("Held-out items in reach (solid) and out of reach (dashed) of the training negatives", fontsize=10)
    fig.tight_layout()
    return fig


def verdict_numbers(sbs, valid: dict, heldout_shares=None,
                    reading: str = "epoch chosen on sampled validation (ours)") -> dict:
    """What the intervention's verdict says, as numbers and words (notebook 09 stores it): the
    ``side_by_side`` rows, UFN against SASRec on validation per setting (``valid``: setting ->
    ``validation_comparison``) and the largest share of users with a held-out item in N_false once
    out of reach (``heldout_shares``; zero by construction)."""
    top = float(heldout_shares["share"].max()) if heldout_shares is not None and len(heldout_shares) else None
    return {"sides": sbs.to_dict(orient="records") if len(sbs) else [], "reading": reading, "top_share": top,
            "valid": {SHORT[s]: c.cited() for s, c in valid.items() if c is not None}}


def verdict_lines(numbers: dict) -> list[str]:
    """Plain sentences from ``verdict_numbers`` (as stored): with the held-out items out of reach,
    does UFN still beat SASRec under any reading and by how much (beside the same reading with the
    items in reach), and does its validation advantage survive? Words by the comparison model."""
    import pandas as pd
    sbs, reading = pd.DataFrame(numbers["sides"]), numbers["reading"]
    out, inn = SHORT[True], SHORT[False]
    ufn = sbs[(sbs["strategy"] == "ufn") & sbs[f"vs SASRec, {out}"].notna()] if len(sbs) else sbs
    if not len(ufn):
        return ["Not computed: no fixed-budget run with the held-out items out of reach is in the cache yet."]
    lines = [f"With the held-out items out of reach, UFN against SASRec in test NDCG@10 (sampled-100) under each "
             f"reading, and in brackets the same reading with the items in reach; each over the seeds whose two runs "
             f"share a code generation (verdicts: {comparison.RULE}):"]

    def said(r, setting):
        ch, word = r[f"vs SASRec, {SHORT[setting]}"], r[f"verdict, {SHORT[setting]}"]
        n = r.get(f"seeds, {SHORT[setting]}")
        seeds = f", {int(n)} seed{'s' * (int(n) != 1)}" if n is not None and pd.notna(n) else ""
        return (f"{fmt_pct(ch)}, {word}" if isinstance(word, str) and word else fmt_pct(ch)) + seeds
    for _, r in ufn.iterrows():
        was = f" ({said(r, False)})" if pd.notna(r[f"vs SASRec, {inn}"]) else ""
        lines.append(f"{r['reading']}: {said(r, True)}{was}.")
    base = sbs[(sbs["strategy"] == "uniform") & (sbs["reading"] == reading)]
    if len(base) and pd.notna(base.iloc[0][f"ndcg@10, {inn}"]):
        b_in, b_out = base.iloc[0][f"ndcg@10, {inn}"], base.iloc[0][f"ndcg@10, {out}"]
        lines.append(f"The intervention moves the baseline too (SASRec's negatives lose the held-out items as well): "
                     f"SASRec's test NDCG@10 under the {reading} is {b_in:.4f} in reach and {b_out:.4f} out of "
                     f"reach ({fmt_pct(b_out / b_in - 1)}).")
    helps = ufn[ufn[f"verdict, {out}"] == comparison.HELPS]["reading"].tolist()
    above = ufn[ufn[f"vs SASRec, {out}"] > 0]["reading"].tolist()
    lines.append("With the items out of reach UFN helps (by the rule) under: " + ("; ".join(helps) or "no reading")
                 + "; its mean is above SASRec's under: " + ("; ".join(above) or "no reading") + ".")
    parts = [f"{s} {comparison.cite(**c)}" for s, c in numbers["valid"].items()]
    if parts:
        lines.append("UFN's validation NDCG@10 at the selected epoch against SASRec's (what early stopping and "
                     "Figure 4 read): " + "; ".join(parts) + ".")
    if numbers["top_share"] is not None:
        lines.append(f"Check: with the items out of reach, the share of users whose held-out item was in N_false "
                     f"at the selected epoch is {numbers['top_share']:.1%} at most (zero by construction).")
    return lines


ANSWER_READINGS = ("last epoch (fixed budget)", "epoch chosen on sampled validation (ours)")


def answer_lines(numbers: dict) -> list[str]:
    """Issue 29's question answered in a few sentences (the README's "why" section), from
    ``verdict_numbers`` as stored: with the held-out items out of reach, does UFN still beat
    SASRec under the fixed budget's last epoch and under our validation-selected epoch, by how
    much, and does its validation advantage survive? Words by the comparison model."""
    import pandas as pd
    sbs, out = pd.DataFrame(numbers["sides"]), SHORT[True]
    col = f"vs SASRec, {out}"
    ufn = sbs[(sbs["strategy"] == "ufn") & sbs[col].notna()] if len(sbs) and col in sbs else sbs.iloc[0:0]
    if not len(ufn):
        return ["Not computed yet: no fixed-budget UFN run with the held-out items out of reach is in the cache."]

    def cited(r) -> str:
        return comparison.cite_row(r, col, f"interval, {out}", f"verdict, {out}", f"seeds, {out}", f"mixed, {out}",
                                   fmt=fmt_pct)
    rows = {r["reading"]: r for _, r in ufn.iterrows()}
    said = [f"{k} {cited(rows[k])}" for k in ANSWER_READINGS if k in rows]
    lines = ["With a user's validation and test items kept out of that user's training negatives (so never mined "
             "nor reversed), UFN against SASRec in test NDCG@10 (sampled-100): " + "; ".join(said) + "."]
    helps = [k for k, r in rows.items() if r.get(f"verdict, {out}") == comparison.HELPS]
    hurts = [k for k, r in rows.items() if r.get(f"verdict, {out}") == comparison.HURTS]
    if helps:
        lines.append("So UFN's gain where it helps (" + "; ".join(helps) + ") is not made of reversed held-out "
                     "items: it remains when they cannot be mined.")
    else:
        lines.append("No reading shows a gain with the held-out items out of reach"
                     + (f"; UFN is below SASRec under {'; '.join(hurts)}." if hurts else "."))
    v = numbers.get("valid", {}).get(out)
    if v:
        word = ("survives" if v["word"] == comparison.HELPS else "is reversed" if v["word"] == comparison.HURTS
                else "is not shown")
        lines.append(f"UFN's validation advantage at the selected epoch (what early stopping and Figure 4 read) {word} "
                     f"with them out of reach: {comparison.cite(**v)}.")
    lines.append("Mining the held-out items is what the paper's definition allows (they are the user's future "
                 "items), and it happens in the reference code and in a deployment alike, where the future items are "
                 "unknown and can be drawn as negatives: the setting in reach is the one a deployment resembles, and "
                 "the setting out of reach tells how much of the gain depends on mining exactly the evaluated items.")
    return lines


def verdict_text(sbs, valid: dict, heldout_shares=None, reading: str = "epoch chosen on sampled validation (ours)"
                 ) -> list[str]:
    """``verdict_lines`` of ``verdict_numbers`` as a notebook's JSON stores them."""
    from .report import plain
    return verdict_lines(plain(verdict_numbers(sbs, valid, heldout_shares, reading)))
