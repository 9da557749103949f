"""Provenance: what every record says about where and how it was computed (git commit, package
versions, hardware, device) and what the data was (checksum or, for generated data, a fingerprint)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import torch

from ..data.datasets import PROJECT_ROOT, REGISTRY


def git_commit() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "HEAD")
    if not commit and os.environ.get("UFN_GIT_COMMIT"):
        # a copy of the working tree without .git (e.g. sent to a GPU machine): the sender
        # states the commit it copied, and that its ufnlib/ had no uncommitted changes
        return {"commit": os.environ["UFN_GIT_COMMIT"], "dirty": False, "source": "UFN_GIT_COMMIT"}
    return {"commit": commit or "unknown",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "ufnlib"))}


# the code a run executes is the code imported at start-up: record its commit then, not at the end
GIT_AT_IMPORT = git_commit()


def resolve_device(device=None) -> torch.device:
    """The device a run trains on: ``device``, else ``$UFN_DEVICE``, else the CPU. A device is
    an execution setting like the thread count, not part of the config key: its record says
    where it ran (``env.device``), and only CPU runs are bit-for-bit repeatable."""
    name = device or os.environ.get("UFN_DEVICE") or "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device '{name}' (from {'UFN_DEVICE' if not device else 'device='}): {e}. "
                         f"Fix: use cpu or cuda[:N].") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' was asked for but this torch ({torch.__version__}) sees no "
                         f"CUDA GPU. Fix: unset UFN_DEVICE / pass device='cpu'.")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device '{name}' is not supported. Fix: use cpu or cuda[:N].")
    return dev


def environment(device=None) -> dict:
    import pandas
    dev = torch.device(device or "cpu")
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    return {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pandas.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": dev.type,
            **({"gpu": gpu, "cuda": torch.version.cuda} if gpu else {})}


def data_fingerprint(split) -> str:
    """Hash of a dataset's sequences: generated data changes when its generator does, and a
    record made on other data must not be returned for it (real files are checksum-verified)."""
    import hashlib
    s = split.seqs
    return hashlib.sha1(np.ascontiguousarray(s.items).tobytes()
                        + np.ascontiguousarray(s.offsets).tobytes()).hexdigest()[:16]


def dataset_record(dataset: str, split) -> dict:
    """The record's ``dataset`` entry: what the data was (for a file: its name, checksum, size,
    format and where it was found, never its absolute path)."""
    info = REGISTRY.get(dataset)
    common = {"users": split.n_users, "fingerprint": data_fingerprint(split), "items": split.n_items}
    ident = split.seqs.extra.get("identity")
    if ident is None:
        return {"name": dataset, "git_sha1": info.git_sha1 if info else None,
                "note": info.note if info else "generated", **common}
    log = split.seqs.extra.get("log")          # a log: how it was read (logs.parse_log)
    return {"name": ident.name, "git_sha1": ident.git_sha1, "bytes": ident.size, "format": ident.fmt,
            "format_from": ident.fmt_from, "where": ident.where, "note": "user file", **common,
            **({"options": ident.options, "read": log} if log is not None else {})}
