"""Shared fixtures for the ufnlib test-suite.

The real datasets are read from ``$UFN_DATA_DIR`` if set, else from ``../shared/data`` relative to
the project root; tests that need them are skipped (with the reason) where neither exists.
Everything else runs on tiny synthetic data in well under a second per test.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

import ufnlib

# The tests train tiny models: one thread avoids oversubscribing small machines (and keeps the
# in-process runs bit-identical to CLI runs started with ``--threads 1``).
torch.set_num_threads(1)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PYTHON = sys.executable

TINY = "synthetic:users=60,items=50"


def data_dir() -> Path:
    """Where the real dataset files are: $UFN_DATA_DIR, else ../shared/data."""
    env = os.environ.get("UFN_DATA_DIR")
    return Path(env) if env else SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if not (d / "s3rec" / "Beauty.txt").is_file() and not (d / "Beauty.txt").is_file():
        pytest.skip(f"real datasets not available (looked in {d}; set UFN_DATA_DIR to a folder "
                    f"holding s3rec/Beauty.txt etc.)")
    return d


@pytest.fixture(scope="session")
def tiny_seqs():
    return ufnlib.load(TINY)


@pytest.fixture(scope="session")
def tiny_split(tiny_seqs):
    return ufnlib.leave_one_out(tiny_seqs)


@pytest.fixture
def tiny_cfg():
    """A config that trains in a fraction of a second on the tiny synthetic set."""
    return ufnlib.Config(dataset=TINY, max_epochs=3, hidden=16, n_neg=5, maxlen=10, patience=50)


@pytest.fixture
def cli_env(tmp_path):
    """Environment for ``python -m ufnlib`` subprocesses: the project importable, no stray
    results or data folders picked up from the caller's environment."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("UFN_RESULTS_DIR", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


def reversed_batch(data, sp, maxlen):
    """A batch of every training user of ``data`` (users with 2+ training items, in reverse
    order, so that lengths are mixed), checked for what every backbone's batch shares: several
    length groups, inputs and scored positions of one shape, no row wider than ``maxlen``."""
    import numpy as np
    assert data.train_users.tolist() == np.flatnonzero(np.diff(sp.train_offsets) >= 2).tolist()
    users = torch.from_numpy(data.train_users[::-1].copy())
    b = data.batch(users)
    assert len(b.groups) >= 2
    assert all(g.inputs.shape == g.real.shape and g.inputs.shape[1] <= maxlen for g in b.groups)
    return users, b
