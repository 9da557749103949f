"""What the case study (notebook 06, Figure 5) reads from the selected weights, kept small enough
to commit, so that a fresh clone decides Figure 5 without the weights (``results/models/`` is
not in git).

Two things are computed from the weights of the SASRec and the UFN run: each model's top-10
after every evaluated user's training history (history items excluded; ``top_lists``) and the
UFN run's replayed N_false with its random-negative baseline (``casestudy.replay_mining``). They
go to ``results/casestudy/<uniform key>-<ufn key>.npz`` (int32 arrays, compressed; about 2 MB on
Beauty) with the two keys and the commit that wrote them. Where the weights are on the machine,
the notebook rebuilds the file when it is missing; everything it shows comes from the file, so a
machine with weights and one without show the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..experiments.provenance import GIT_AT_IMPORT
from ..experiments.store import results_dir

K = 10          # top-k kept per user (Figure 5 shows the top-5; the protocol analysis reads the top-10)


@dataclass
class Mined:
    """N_false replayed with a run's selected weights fixed (``casestudy.replay_mining``)."""
    users: np.ndarray          # user of each distinct mined (user, item) pair
    items: np.ndarray
    times: np.ndarray          # how many of the user's training positions mined the item
    rnd_users: np.ndarray      # baseline: one random negative per training position (last pass)
    rnd_items: np.ndarray
    passes: int
    positions: int


@dataclass
class CaseArtefacts:
    users: np.ndarray            # evaluated users (0-based)
    top: dict                    # model name -> [len(users), K] item ids, best first
    mined: Mined
    keys: dict                   # strategy -> run key
    commit: str

    def top_of(self, name: str, user: int, k: int = 5) -> list[int]:
        row = np.searchsorted(self.users, user)
        if row >= len(self.users) or self.users[row] != user:
            raise KeyError(f"user {user} is not an evaluated user of the case study")
        return self.top[name][row, :k].tolist()


def stamp(records: dict) -> list[str]:
    """What the artefacts were computed from: ``<key>@<finished>`` of the SASRec and the UFN record
    (a rerun of the same config, e.g. at a newer code generation, has another stamp)."""
    return [f"{records[s]['key']}@{records[s]['finished']}" for s in ("uniform", "ufn")]


def path(records: dict, root=None):
    return results_dir(root) / "casestudy" / f"{records['uniform']['key']}-{records['ufn']['key']}.npz"


@torch.no_grad()
def top_lists(model, split, users: np.ndarray, k: int = K, batch_size: int = 512) -> np.ndarray:
    """``[len(users), k]``: the model's top-k items after each user's training history, the
    history's items excluded (the recommendation before the next items, valid and test, came)."""
    maxlen, out = model.maxlen, []
    for s in range(0, len(users), batch_size):
        us = users[s:s + batch_size]
        seqs = np.zeros((len(us), maxlen), dtype=np.int64)
        for j, u in enumerate(us):
            h = split.train_seq(u)[-maxlen:]
            seqs[j, maxlen - len(h):] = h
        ut = torch.as_tensor(us)
        sc = model.score_all(model.final(torch.from_numpy(seqs), ut), ut)
        for j, u in enumerate(us):
            sc[j, np.unique(split.train_seq(u)) - 1] = -float("inf")
        out.append((torch.topk(sc, k, dim=1).indices + 1).numpy())
    return np.concatenate(out).astype(np.int32) if out else np.zeros((0, k), dtype=np.int32)


def build(cfgs: dict, records: dict, dataset: str, replay, root=None) -> CaseArtefacts:
    """Compute the artefacts from the selected weights of the runs ``cfgs`` / ``records``
    ({"uniform": ..., "ufn": ...}) and write them atomically; ``replay(cfg, root)`` replays the
    UFN run's mining (``casestudy.replay_mining``)."""
    import io

    from ..experiments.splits import load_split
    from ..experiments.store import load_model
    from ..files import atomic_write_bytes
    split = load_split(dataset)
    users = np.flatnonzero(split.has_eval)
    top = {name: top_lists(load_model(cfgs[s], root), split, users) for name, s in (("SASRec", "uniform"),
                                                                                      ("UFNRec", "ufn"))}
    mined = replay(cfgs["ufn"], root)
    buf = io.BytesIO()
    np.savez_compressed(buf, users=users.astype(np.int32), top_sasrec=top["SASRec"], top_ufnrec=top["UFNRec"],
                        mined_users=mined.users.astype(np.int32), mined_items=mined.items.astype(np.int32),
                        mined_times=mined.times.astype(np.int32), rnd_users=mined.rnd_users.astype(np.int32),
                        rnd_items=mined.rnd_items.astype(np.int32),
                        counts=np.array([mined.passes, mined.positions], dtype=np.int64),
                        runs=np.array(stamp(records)), commit=np.array(GIT_AT_IMPORT["commit"]))
    atomic_write_bytes(path(records, root), buf.getvalue())
    return load(records, root)


def load(records: dict, root=None) -> CaseArtefacts | None:
    """The artefacts of the runs ``records`` ({"uniform": record, "ufn": record}), or None when
    there are none or they were computed from other runs of the same configs (stale)."""
    p = path(records, root)
    if not p.is_file():
        return None
    with np.load(p) as z:
        if z["runs"].tolist() != stamp(records):
            return None
        passes, positions = (int(x) for x in z["counts"])
        mined = Mined(z["mined_users"].astype(np.int64), z["mined_items"].astype(np.int64),
                      z["mined_times"].astype(np.int64), z["rnd_users"].astype(np.int64),
                      z["rnd_items"].astype(np.int64), passes, positions)
        return CaseArtefacts(z["users"].astype(np.int64), {"SASRec": z["top_sasrec"], "UFNRec": z["top_ufnrec"]},
                             mined, {s: records[s]["key"] for s in ("uniform", "ufn")}, str(z["commit"]))
