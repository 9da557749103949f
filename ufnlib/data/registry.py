"""The registered datasets: where each file comes from, its checksum and its published size.
Plain data; imports nothing of ufnlib."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]   # the checkout (this file is ufnlib/data/registry.py)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    file: str            # file name at the source
    subdir: str          # folder under UFN_DATA_DIR / the cache
    fmt: str             # "s3rec" (user item item ...) or "pairs" (user item per line)
    url: str             # public raw-file address
    git_sha1: str        # git blob SHA-1 of the file
    n_bytes: int | None
    users: int
    items: int
    actions: int | None  # None where the source only states it roughly
    note: str = ""


_S3REC = "https://raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec/master/data/"
REGISTRY: dict[str, DatasetInfo] = {
    "beauty": DatasetInfo(
        "beauty", "Beauty.txt", "s3rec", "s3rec", _S3REC + "Beauty.txt",
        "a29773026846d857ec8176cb25f37b23ecf20155", 1_090_094, 22_363, 12_101, 198_502,
        note="S3-Rec version of Amazon Beauty (NOT the paper's 52,024-user SASRec version)"),
    "sports": DatasetInfo(
        "sports", "Sports_and_Outdoors.txt", "s3rec", "s3rec", _S3REC + "Sports_and_Outdoors.txt",
        "50a7023ca502b42eb0e840c603abda6e851b2018", 1_707_483, 35_598, 18_357, 296_337,
        note="S3-Rec version; the paper's Table 1 prints 25,598 users (a typo for 35,598)"),
    "yelp": DatasetInfo(
        "yelp", "Yelp.txt", "s3rec", "s3rec", _S3REC + "Yelp.txt",
        "d0f642c11487b3bcb515249d676aa1e37a1bb99e", 1_814_224, 30_431, 20_033, 316_354,
        note="S3-Rec version (interactions after 2019-01-01)"),
    "beauty_sasrec": DatasetInfo(
        "beauty_sasrec", "Beauty.txt", "sasrec", "pairs",
        "https://raw.githubusercontent.com/UFNRec-code/UFNRec/main/data/Beauty.txt",
        "cee2ab468d220772a9dfefed9aa9c492dc9b3418", None, 52_024, 57_289, None,
        note="the paper's Beauty (SASRec version, Kang & McAuley 2018)"),
}
ATTRIBUTE_FILES = {"beauty": "Beauty", "sports": "Sports_and_Outdoors", "yelp": "Yelp"}
