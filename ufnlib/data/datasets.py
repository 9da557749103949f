"""Datasets: registry, download + verification, parsing, leave-one-out split, statistics.

Data flows one way: a registry entry -> a verified local file -> ``Sequences`` (one chronological
item list per user) -> ``Split`` (leave-one-out, as the paper and the reference code do).

Resolution order for a dataset file (``resolve``):
  1. an explicit ``data_dir`` argument, else the ``UFN_DATA_DIR`` environment variable;
  2. the project cache ``<project>/data_cache`` (git-ignored);
  3. a download from the public source (or ``UFN_DATA_MIRROR``, a base URL that replaces the
     public one, e.g. a local mirror), saved atomically into the cache.
Every file is verified (git blob SHA-1, the hash GitHub itself uses) before it is parsed.
"""
from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import owndata
from .registry import ATTRIBUTE_FILES, PROJECT_ROOT, REGISTRY, DatasetInfo  # noqa: F401 (re-exported)
from .sequences import DataError, Sequences, git_blob_sha1, parse  # noqa: F401 (re-exported)
from .synthetic import from_spec

DEFAULT_CACHE = PROJECT_ROOT / "data_cache"





def _verify(path: Path, info: DatasetInfo) -> bytes:
    data = path.read_bytes()
    got = git_blob_sha1(data)
    if got != info.git_sha1:
        raise DataError(
            f"{path}: checksum mismatch for dataset '{info.name}' (git blob SHA-1 {got}, expected "
            f"{info.git_sha1}). The file is corrupt, truncated or another version. Fix: delete it "
            f"and let ufnlib download it again, or put the original from {info.url} there.")
    return data


def _candidates(info: DatasetInfo, data_dir: Path) -> list[Path]:
    return [data_dir / info.subdir / info.file, data_dir / info.file]


def _download(info: DatasetInfo, dest: Path, mirror: str | None, timeout: float = 30.0) -> None:
    url = info.url if not mirror else mirror.rstrip("/") + "/" + info.subdir + "/" + info.file
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError) as e:
        raise DataError(
            f"could not download dataset '{info.name}' from {url} ({e}). No network? Fix: copy "
            f"{info.file} into a folder and set UFN_DATA_DIR to it (it is looked up as "
            f"$UFN_DATA_DIR/{info.subdir}/{info.file}), or set UFN_DATA_MIRROR to a reachable copy."
        ) from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        _verify(Path(tmp), info)
    except DataError as e:
        os.unlink(tmp)
        raise DataError(f"downloaded from {url}: {e}") from None
    os.replace(tmp, dest)


def resolve(name: str, data_dir: str | os.PathLike | None = None,
            cache_dir: str | os.PathLike | None = None, download: bool = True,
            mirror: str | None = None) -> Path:
    """Return the path of a verified local copy of dataset ``name`` (see module docstring)."""
    info = dataset_info(name)
    data_dir = data_dir if data_dir is not None else os.environ.get("UFN_DATA_DIR")
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    mirror = mirror if mirror is not None else os.environ.get("UFN_DATA_MIRROR")
    if data_dir:
        for p in _candidates(info, Path(data_dir)):
            if p.is_file():
                _verify(p, info)
                return p
    p = cache / info.subdir / info.file
    if p.is_file():
        _verify(p, info)
        return p
    if not download:
        raise DataError(
            f"dataset '{name}' not found in {data_dir or '(UFN_DATA_DIR unset)'} nor in {cache}, "
            f"and download=False. Fix: set UFN_DATA_DIR to a folder holding "
            f"{info.subdir}/{info.file}.")
    _download(info, p, mirror)
    return p


def dataset_info(name: str) -> DatasetInfo:
    if name not in REGISTRY:
        raise DataError(f"unknown dataset '{name}'. Fix: use one of {sorted(REGISTRY)}, 'synthetic' "
                        f"(optionally 'synthetic:users=500,items=300,...'), or a file path "
                        f"holding a '/' or a '.' (e.g. ./{name}.txt, optionally ending in #s3rec "
                        f"or #pairs; see ufnlib.data.owndata).")
    return REGISTRY[name]


# ----------------------------------------------------------------------------------- parsing


def load(name: str, data_dir=None, **kw) -> Sequences:
    """Load a registered dataset (verified), a synthetic one (``synthetic[:key=value,...]``) or
    a file (``PATH[#s3rec|#pairs]``, see ``ufnlib.data.owndata``)."""
    if name.split(":")[0] == "synthetic":
        return from_spec(name)
    if owndata.is_file_spec(name):
        return owndata.load(name)
    info = dataset_info(name)
    path = resolve(name, data_dir=data_dir, **kw)
    seqs = parse(path.read_bytes(), info.fmt, path=path, name=name)
    return seqs


def _attribute_json(name: str, data_dir, folder: str, suffix: str) -> dict:
    """``<folder>/<Dataset><suffix>`` (or the file directly under the data folder) as a dict with
    integer keys; empty where the dataset has no such file or no data folder is set."""
    import json
    stem = ATTRIBUTE_FILES.get(name.replace("_sasrec", ""))
    data_dir = data_dir or os.environ.get("UFN_DATA_DIR")
    if stem is None or not data_dir:
        return {}
    for p in (Path(data_dir) / folder / f"{stem}{suffix}", Path(data_dir) / f"{stem}{suffix}"):
        if p.is_file():
            return {int(k): v for k, v in json.loads(p.read_text()).items()}
    return {}


def load_attributes(name: str, data_dir=None) -> dict[int, list[int]]:
    """Item -> attribute ids (S3-Rec ``*_item2attributes.json``), from UFN_DATA_DIR if present."""
    return _attribute_json(name, data_dir, "s3rec", "_item2attributes.json")


def load_attribute_names(name: str, data_dir=None) -> dict[int, str]:
    """Attribute id -> readable name, where ``names/<Dataset>_attrid2name.json`` is available."""
    return _attribute_json(name, data_dir, "names", "_attrid2name.json")


# ------------------------------------------------------------------------------------- split
@dataclass
class Split:
    """Leave-one-out: last item -> test, second last -> valid, the rest -> train.

    Users with fewer than 3 interactions are train-only (``valid``/``test`` = 0, ``has_eval``
    False), as in the reference code.
    """
    seqs: Sequences
    train_items: np.ndarray     # int64, concatenated train sequences
    train_offsets: np.ndarray   # int64 [n_users + 1]
    valid: np.ndarray           # int64 [n_users], 0 where none
    test: np.ndarray            # int64 [n_users], 0 where none

    @property
    def n_users(self) -> int:
        return self.seqs.n_users

    @property
    def n_items(self) -> int:
        return self.seqs.n_items

    @property
    def has_eval(self) -> np.ndarray:
        return self.test > 0

    def train_seq(self, u: int) -> np.ndarray:
        return self.train_items[self.train_offsets[u]:self.train_offsets[u + 1]]


def leave_one_out(seqs: Sequences) -> Split:
    lens = seqs.lengths
    ends = seqs.offsets[1:]
    has = lens >= 3
    valid = np.where(has, seqs.items[np.maximum(ends - 2, 0)], 0)
    test = np.where(has, seqs.items[np.maximum(ends - 1, 0)], 0)
    train_lens = np.where(has, lens - 2, lens)
    keep = np.ones(len(seqs.items), dtype=bool)
    keep[(ends - 1)[has]] = False
    keep[(ends - 2)[has]] = False
    train_offsets = np.zeros_like(seqs.offsets)
    np.cumsum(train_lens, out=train_offsets[1:])
    return Split(seqs, seqs.items[keep], train_offsets, valid.astype(np.int64), test.astype(np.int64))


# -------------------------------------------------------------------------------- statistics
PAPER_TABLE1 = {  # as printed in the paper (Table 1)
    "beauty": dict(users=52_024, items=57_289, actions="0.4M", avg=7.6, density="0.01%"),
    "sports": dict(users=25_598, items=18_357, actions="0.3M", avg=8.3, density="0.05%"),
    "yelp": dict(users=30_431, items=20_033, actions="0.3M", avg=10.4, density="0.05%"),
}


def statistics(seqs: Sequences) -> dict:
    """The paper's Table 1 columns (plus length quantiles) for one dataset."""
    lens = seqs.lengths
    n_items = int(len(np.unique(seqs.items)))
    return dict(dataset=seqs.name, users=seqs.n_users, items=n_items, max_item_id=seqs.n_items,
                actions=int(lens.sum()), avg=float(lens.mean()),
                density=float(lens.sum() / (seqs.n_users * n_items)),
                median_len=float(np.median(lens)), max_len=int(lens.max()))


def table1(names=("beauty", "sports", "yelp"), data_dir=None):
    """Table 1 as a pandas DataFrame (ours), one row per dataset."""
    import pandas as pd
    return pd.DataFrame([statistics(load(n, data_dir=data_dir)) for n in names]).set_index("dataset")


def print_table1(names=("beauty", "sports", "yelp"), data_dir=None) -> None:
    df = table1(names, data_dir)
    show = df[["users", "items", "actions", "avg", "density"]].copy()
    show["avg"] = show["avg"].map("{:.2f}".format)
    show["density"] = show["density"].map("{:.3%}".format)
    print(show.to_string())
