"""The run cache on disk: one place that spells each path, one lookup of a record, and the
record's typed accessor. Under ``results_dir()`` (``$UFN_RESULTS_DIR`` or ``results/``):

* ``runs/<key>.json`` the record, ``runs/<key>.npz`` its per-user ranks (both small, committed);
* ``models/<key>.pt`` the selected weights, ``checkpoints/<key>.pt`` an unfinished run (ignored);
* ``runs/<key>.ids.json.gz`` for a file dataset: its id maps (``id_maps_of``), from which
  recommendations are read back in the file's own ids (``recommend``).

``write`` puts a finished run's files in place atomically, the record last, so that a record on
disk always has its companions.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..config import Config, config_key, unused_fields
from ..data import owndata
from ..data.datasets import PROJECT_ROOT, REGISTRY
from ..files import atomic_torch_save, atomic_write_bytes
from ..models import make_model
from .provenance import data_fingerprint
from .splits import load_split

DEFAULT_RESULTS = PROJECT_ROOT / "results"


def results_dir(path=None) -> Path:
    return Path(path or os.environ.get("UFN_RESULTS_DIR") or DEFAULT_RESULTS)


def _key(cfg_or_key) -> str:
    return cfg_or_key if isinstance(cfg_or_key, str) else config_key(cfg_or_key)


def record_path(cfg_or_key, root=None) -> Path:
    return results_dir(root) / "runs" / f"{_key(cfg_or_key)}.json"


def ranks_path(cfg_or_key, root=None) -> Path:
    return results_dir(root) / "runs" / f"{_key(cfg_or_key)}.npz"


def model_path(cfg_or_key, root=None) -> Path:
    return results_dir(root) / "models" / f"{_key(cfg_or_key)}.pt"


def checkpoint_path(cfg_or_key, root=None) -> Path:
    return results_dir(root) / "checkpoints" / f"{_key(cfg_or_key)}.pt"


def id_maps_path(cfg_or_key, root=None) -> Path:
    return results_dir(root) / "runs" / f"{_key(cfg_or_key)}.ids.json.gz"


def id_maps_of(seqs) -> dict | None:
    """A file dataset's id maps: ``user[k]`` is the file's id of user index k (the model's user k),
    ``item[j - 1]`` that of item id j (None: the file's item ids are the model's). None for
    registry and generated data."""
    if "identity" not in seqs.extra:
        return None
    maps = seqs.extra.get("id_maps")
    return {"user": maps["user"] if maps else [str(u) for u in seqs.user_ids.tolist()],
            "item": maps["item"] if maps else None}


def load_id_maps(cfg_or_key, root=None) -> dict | None:
    """The id maps saved with a run (None if it has none: not a file dataset)."""
    import gzip
    p = id_maps_path(cfg_or_key, root)
    return json.loads(gzip.decompress(p.read_bytes())) if p.is_file() else None


class Record(dict):
    """A run record (the JSON ``run`` writes), read through named accessors instead of nested
    string keys. Still a dict: ``json.dumps`` and old readers work unchanged."""

    @property
    def key(self) -> str:
        return self["key"]

    @property
    def config(self) -> dict:
        return self["config"]

    def field(self, name: str):
        """A config field, the Config default where the record predates the field."""
        return self["config"].get(name, Config.__dataclass_fields__[name].default)

    dataset = property(lambda self: self["config"]["dataset"])
    backbone = property(lambda self: self["config"]["backbone"])
    strategy = property(lambda self: self["config"]["strategy"])
    seed = property(lambda self: self["config"]["seed"])

    def metrics(self, which: str = "test", mode: str = "sampled") -> dict:
        """All metrics of split ``which`` (valid | test) under ``mode`` (sampled | full)."""
        return self["metrics"][which][mode]

    def value(self, metric: str = "ndcg@10", mode: str = "sampled", which: str = "test") -> float:
        return float(self["metrics"][which][mode][metric])

    best_epoch = property(lambda self: self["selection"]["best_epoch"])
    best_score = property(lambda self: self["selection"]["best_score"])
    epochs_run = property(lambda self: self["selection"]["epochs_run"])
    few_steps_stop = property(lambda self: bool((self.get("selection") or {}).get("few_steps_stop")))
    history = property(lambda self: self.get("history") or [])
    warmup_end = property(lambda self: self.get("warmup_end_epoch"))
    commit = property(lambda self: self["git"]["commit"])

    @property
    def cut_by_cap(self) -> bool:
        """The run reached ``max_epochs`` while still improving (its best epoch within the last
        ``patience`` epochs): the cap, not patience, ended it."""
        cap = self.field("max_epochs")
        return self.epochs_run >= cap and self.best_epoch > cap - self.field("patience")

    @property
    def runaway(self) -> int | None:
        """The epoch runaway mining was flagged at (``runaway_epoch`` or a flag in the history)."""
        return self.get("runaway_epoch") or next((h["epoch"] for h in self.history if h.get("runaway")), None)

    @property
    def protocol_log(self) -> list[dict]:
        """The protocol study's side log (``log_test_every``); empty for other runs."""
        return (self.get("protocol") or {}).get("log") or []

    @property
    def reports_teacher(self) -> bool:
        return bool(self.get("metrics_student"))


def as_record(rec) -> Record:
    return rec if isinstance(rec, Record) else Record(rec)


def matches(rec: dict, cfg: Config) -> bool:
    """Does a stored record's config agree with ``cfg`` on every field it stores that the
    backbone reads (``config.unused_fields`` are ignored)?"""
    want, skip = cfg.to_dict(), unused_fields(cfg)
    if owndata.is_file_spec(cfg.dataset):   # a file: its content and format, not its path or name
        if not owndata.same_data(rec["config"].get("dataset", ""), cfg.dataset):
            return False
        skip = skip | {"dataset"}
    return all(want.get(k, v) == v for k, v in rec["config"].items() if k not in skip)


def fresh_data(rec: dict, cfg: Config) -> bool:
    """For generated datasets: was the record made on the data the generator gives now?"""
    if cfg.dataset in REGISTRY or owndata.is_file_spec(cfg.dataset):   # checksums in the key
        return True
    return rec["dataset"].get("fingerprint") == data_fingerprint(load_split(cfg.dataset))


def lookup(cfg: Config, root=None) -> Record | None:
    """The cached record of ``cfg``, or None: absent, made under other settings the backbone
    reads, or (generated data) on other data than the generator gives now. The one cache check."""
    p = record_path(cfg, root)
    if not p.is_file():
        return None
    rec = Record(json.loads(p.read_text()))
    return rec if matches(rec, cfg) and fresh_data(rec, cfg) else None


def is_cached(cfg: Config, root=None) -> bool:
    return lookup(cfg, root) is not None


def load_record(cfg_or_key, root=None) -> Record:
    return Record(json.loads(record_path(cfg_or_key, root).read_text()))


def load_ranks(cfg_or_key, root=None) -> dict[str, np.ndarray]:
    """Per-user ranks of a cached run: keys like ``test/sampled``, plus ``users``."""
    with np.load(ranks_path(cfg_or_key, root)) as z:
        return {k.replace("__", "/"): z[k] for k in z.files}


def write(rec: dict, ranks: dict, state: dict, root=None, id_maps: dict | None = None) -> None:
    """A finished run's files, atomically, in this order: weights, ranks, id maps, record."""
    import gzip
    key = rec["key"]
    atomic_torch_save({k: v.cpu() for k, v in state.items()}, model_path(key, root))
    if id_maps is not None:
        atomic_write_bytes(id_maps_path(key, root), gzip.compress(json.dumps(id_maps).encode(), mtime=0))
    buf = io.BytesIO()
    small = lambda v: np.asarray(v, dtype=np.uint16 if np.max(v) < 65535 and np.min(v) >= 0 else np.int32)
    np.savez_compressed(buf, **{k: small(v) for k, v in ranks.items()})
    atomic_write_bytes(ranks_path(key, root), buf.getvalue())
    atomic_write_bytes(record_path(key, root), json.dumps(rec, indent=1).encode())


def list_runs(root=None):
    """All cached records as a DataFrame: one row per run, config columns and test metrics."""
    import pandas as pd
    rows = []
    for p in sorted((results_dir(root) / "runs").glob("*.json")):
        r = Record(json.loads(p.read_text()))
        row = {"key": r.key, **{k: r.config[k] for k in ("dataset", "backbone", "strategy", "seed")},
               "best_epoch": r.best_epoch, "epochs": r.epochs_run, "train_s": round(r["train_seconds"], 1)}
        for mode in ("sampled", "full"):
            for m in ("hr@10", "ndcg@10"):
                row[f"test_{mode}_{m}"] = r.value(m, mode)
        row["commit"] = r.commit[:8]
        rows.append(row)
    return pd.DataFrame(rows)


def load_model(cfg: Config, root=None):
    """The selected (best-on-validation) weights of a cached run, if its model file is present."""
    split = load_split(cfg.dataset)
    model = make_model(cfg, split.n_items, split.n_users)
    model.load_state_dict(torch.load(model_path(cfg, root), map_location="cpu"))
    model.eval()
    return model
