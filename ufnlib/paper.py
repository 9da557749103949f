"""The numbers published in the paper (Liu et al. 2022, Tables 2-4), typed from its text.

They are facts about another experiment: the paper's Beauty is the 52,024-user SASRec version,
ours the S3-Rec version (see ``ufnlib.data.datasets.REGISTRY``), and the paper does not say how many seeds
its numbers average or how its epochs were chosen. They are printed beside ours, never mixed in.

Keys follow ufnlib's names: datasets ``beauty``/``sports``/``yelp``, backbones
``sasrec``/``bert4rec``/``ssept``, strategies as registered (``uniform`` = the backbone alone).
Table 2 gives HR@1/5/10 and NDCG@5/10 only (NDCG@1 equals HR@1 under one target).
"""
from __future__ import annotations

METRICS = ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10")

# Table 2: TABLE2[dataset][backbone][metric] = (backbone, backbone + UFN, printed improvement %).
# The printed improvements equal (UFN - backbone) / backbone of the printed values to within
# rounding, except Yelp / SSE-PT, where all five are 0.03-0.07 points lower than that (as printed).
TABLE2 = {
    "beauty": {
        "sasrec": {"hr@1": (0.2040, 0.2175, 6.62), "hr@5": (0.3785, 0.3978, 5.10),
                   "hr@10": (0.4765, 0.4953, 3.95), "ndcg@5": (0.2942, 0.3125, 6.22),
                   "ndcg@10": (0.3258, 0.3439, 5.56)},
        "bert4rec": {"hr@1": (0.1919, 0.1929, 0.52), "hr@5": (0.3689, 0.3860, 4.64),
                     "hr@10": (0.4690, 0.4877, 3.99), "ndcg@5": (0.2864, 0.2919, 1.92),
                     "ndcg@10": (0.3187, 0.3247, 1.88)},
        "ssept": {"hr@1": (0.2013, 0.2256, 12.07), "hr@5": (0.3884, 0.4097, 5.48),
                  "hr@10": (0.4843, 0.5002, 3.28), "ndcg@5": (0.2990, 0.3208, 7.29),
                  "ndcg@10": (0.3300, 0.3500, 6.06)},
    },
    "sports": {
        "sasrec": {"hr@1": (0.1797, 0.1909, 6.23), "hr@5": (0.3952, 0.4060, 2.73),
                   "hr@10": (0.5072, 0.5120, 0.95), "ndcg@5": (0.2925, 0.3049, 4.24),
                   "ndcg@10": (0.3286, 0.3392, 3.23)},
        "bert4rec": {"hr@1": (0.1619, 0.1697, 4.82), "hr@5": (0.3723, 0.3841, 3.17),
                     "hr@10": (0.4936, 0.5021, 1.72), "ndcg@5": (0.2680, 0.2775, 3.54),
                     "ndcg@10": (0.3071, 0.3153, 2.67)},
        "ssept": {"hr@1": (0.1856, 0.1951, 5.12), "hr@5": (0.3982, 0.4029, 1.18),
                  "hr@10": (0.5073, 0.5126, 1.04), "ndcg@5": (0.2970, 0.3024, 1.82),
                  "ndcg@10": (0.3322, 0.3378, 1.69)},
    },
    "yelp": {
        "sasrec": {"hr@1": (0.2743, 0.2891, 5.40), "hr@5": (0.6040, 0.6239, 3.29),
                   "hr@10": (0.7589, 0.7637, 0.63), "ndcg@5": (0.4434, 0.4681, 5.57),
                   "ndcg@10": (0.4934, 0.5134, 4.05)},
        "bert4rec": {"hr@1": (0.2686, 0.2954, 9.98), "hr@5": (0.6090, 0.6475, 6.32),
                     "hr@10": (0.7530, 0.7857, 4.34), "ndcg@5": (0.4527, 0.4829, 6.67),
                     "ndcg@10": (0.4993, 0.5276, 5.67)},
        "ssept": {"hr@1": (0.2979, 0.3043, 2.08), "hr@5": (0.6211, 0.6351, 2.22),
                  "hr@10": (0.7554, 0.7708, 2.00), "ndcg@5": (0.4670, 0.4773, 2.15),
                  "ndcg@10": (0.5106, 0.5214, 2.06)},
    },
}

# Table 3 (Beauty, SASRec): TABLE3[metric][strategy]. The text's range for +FMR, "1.87% to 3.53%",
# does not match these values (2.25% to 3.53%); its range for +FCR, "1.49% to 2.82%", does.
TABLE3 = {
    "hr@1": {"uniform": 0.2040, "fmr": 0.2112, "fcr": 0.2081, "ufn": 0.2175},
    "hr@5": {"uniform": 0.3785, "fmr": 0.3903, "fcr": 0.3882, "ufn": 0.3978},
    "hr@10": {"uniform": 0.4765, "fmr": 0.4872, "fcr": 0.4836, "ufn": 0.4953},
    "ndcg@5": {"uniform": 0.2942, "fmr": 0.3044, "fcr": 0.3025, "ufn": 0.3125},
    "ndcg@10": {"uniform": 0.3258, "fmr": 0.3356, "fcr": 0.3333, "ufn": 0.3439},
}

# Table 4 (Beauty, SASRec), columns in the paper's order. Paper label -> our strategy:
#   SASRec -> uniform; SASRec^R -> removal (FMR mining, mined entries dropped);
#   +SRNS^R -> srns_rec_removal (SRNS variance rule on N_rec, removed);
#   +SRNS -> srns_removal (SRNS on all negatives, removed);
#   +UFN^R_srns -> ufn_srns_rec (SRNS on N_rec, then reversal + FCR);
#   +UFN_srns -> ufn_srns (SRNS on all negatives, then reversal + FCR); +UFN -> ufn.
TABLE4_COLUMNS = {"uniform": "SASRec", "removal": "SASRec^R", "srns_rec_removal": "+SRNS^R",
                  "srns_removal": "+SRNS", "ufn_srns_rec": "+UFN^R_srns", "ufn_srns": "+UFN_srns",
                  "ufn": "+UFN"}
TABLE4_GROUPS = {"uniform": "origin", "removal": "removal", "srns_rec_removal": "removal",
                 "srns_removal": "removal", "ufn_srns_rec": "utilization", "ufn_srns": "utilization",
                 "ufn": "utilization"}
TABLE4 = {
    "hr@1": dict(zip(TABLE4_COLUMNS, (0.2040, 0.2119, 0.2164, 0.2062, 0.2152, 0.2197, 0.2175))),
    "hr@5": dict(zip(TABLE4_COLUMNS, (0.3785, 0.3886, 0.3813, 0.3879, 0.3912, 0.3864, 0.3978))),
    "hr@10": dict(zip(TABLE4_COLUMNS, (0.4765, 0.4821, 0.4744, 0.4886, 0.4897, 0.4831, 0.4953))),
    "ndcg@5": dict(zip(TABLE4_COLUMNS, (0.2942, 0.3024, 0.3028, 0.3004, 0.3073, 0.3071, 0.3125))),
    "ndcg@10": dict(zip(TABLE4_COLUMNS, (0.3258, 0.3333, 0.3329, 0.3328, 0.3385, 0.3381, 0.3439))),
}

# Figure 3's grids (Section 4.3) and the reference defaults they vary around.
SWEEPS = {"alpha": (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5),
          "m": (1, 2, 3, 4, 6, 8, 10),
          "decay": (0.9, 0.99, 0.995, 0.999),
          "batch_size": (32, 64, 128, 256, 512)}

BACKBONE_LABELS = {"sasrec": "SASRec", "bert4rec": "BERT4Rec", "ssept": "SSE-PT"}


def table2_value(dataset: str, backbone: str, metric: str, ufn: bool) -> float | None:
    """The paper's Table 2 value for one cell, or None where the paper has none."""
    row = TABLE2.get(dataset.replace("_sasrec", ""), {}).get(backbone, {}).get(metric)
    return None if row is None else row[1 if ufn else 0]
