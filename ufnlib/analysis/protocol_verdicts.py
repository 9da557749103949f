"""What each evaluation protocol decides, in words, from the saved effect tables: the Table 2 cells
(UFN against its backbone) and the Table 3 / Table 4 columns (each against SASRec) that the
comparison model decides under the paper's sampled-100 protocol and under full ranking. The prose
of docs/results.md points here instead of stating which cells a protocol decides, so it cannot go
stale when runs land."""
from __future__ import annotations

from .comparison import HELPS, HURTS

DECIDED = (HELPS, HURTS)
PROTOCOLS = ("sampled-100", "full ranking")


def _names(xs) -> str:
    return ", ".join(xs) if xs else "none"


def cells_text(sampled, full) -> str:
    """Table 2 under both protocols: ``sampled`` and ``full`` are ``tables.table2_effects`` frames
    (one row per (dataset, backbone) cell with its ``effect`` word). Names the cells each protocol
    decides, by direction, then the cells decided under one protocol only and those decided
    opposite ways."""
    def decided(t):
        return {f"{r.backbone} on {r.dataset}": r.effect for r in t.itertuples() if r.effect in DECIDED}
    by = dict(zip(PROTOCOLS, (decided(sampled), decided(full))))
    words = {f"{r.backbone} on {r.dataset}": r.effect for t in (sampled, full) for r in t.itertuples()}
    words_s = {f"{r.backbone} on {r.dataset}": r.effect for r in sampled.itertuples()}
    words_f = {f"{r.backbone} on {r.dataset}": r.effect for r in full.itertuples()}
    parts = []
    for p, d in by.items():
        parts.append(f"under {p}, " + "; ".join(
            f"{w} in {len(cs)}" + (f" ({', '.join(cs)})" if cs else "")
            for w in DECIDED for cs in [[c for c, x in d.items() if x == w]]))
    only = [f"{c} ({p}: {by[p][c]}; {q}: {(words_s if q == PROTOCOLS[0] else words_f).get(c, 'not computed')})"
            for p, q in (PROTOCOLS, PROTOCOLS[::-1]) for c in by[p] if c not in by[q]]
    opposite = [c for c in by[PROTOCOLS[0]] if c in by[PROTOCOLS[1]] and by[PROTOCOLS[0]][c] != by[PROTOCOLS[1]][c]]
    return (f"UFN against its backbone in test NDCG@10, the cells each protocol decides ({len(words)} cells "
            f"computed): " + "; ".join(parts) + f". Decided under one protocol only: {_names(only)}. "
            f"Decided opposite ways: {_names(opposite)}.")


def columns_text(sampled, full, metrics=("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10")) -> list[str]:
    """Table 3 or 4 under both protocols: ``sampled`` and ``full`` are the notebooks' long tables
    (``metric``, ``column``, ``verdict``; the baseline's rows have no verdict). One line per
    protocol naming, for each column, the metrics decided and which way; the columns with none
    decided together; and one line on NDCG@10 alone."""
    out = []
    nd = {}
    for p, t in zip(PROTOCOLS, (sampled, full)):
        t = t[t["verdict"].notna() & (t["verdict"] != "")]
        said, none = [], []
        for col, g in t.groupby("column", sort=False):
            dec = [f"{w} on {', '.join(m.upper() for m in g.loc[g['verdict'] == w, 'metric'] if m in metrics)}"
                   for w in DECIDED if (g["verdict"] == w).any()]
            (said.append(f"{col} {' and '.join(dec)}") if dec else none.append(col))
        nd[p] = [f"{r.column} ({r.verdict})" for r in t[(t["metric"] == "ndcg@10")
                                                         & t["verdict"].isin(DECIDED)].itertuples()]
        out.append(f"Under {p}: " + ("; ".join(said) if said else "no metric of any column decided")
                   + (f"; no metric decided for {', '.join(none)}" if none and said else "") + ".")
    out.append("In NDCG@10 alone: " + "; ".join(f"{p} decides {len(v)} column{'s' * (len(v) != 1)}"
                                                  + (f" ({', '.join(v)})" if v else "") for p, v in nd.items()) + ".")
    return out
