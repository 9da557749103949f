"""In-process caches of what runs of one dataset share: its split and its evaluator (the
sampled-100 candidates are drawn once per dataset, maxlen and seed). A file dataset is cached by
its checksum, so a changed file is read again."""
from __future__ import annotations

import functools

from ..data import owndata
from ..data.datasets import DataError, leave_one_out, load
from ..training.evaluate import Evaluator


def _content(dataset: str) -> str | None:
    """A file dataset's checksum (so the in-process caches below see a changed file), else None."""
    return owndata.identity(dataset).git_sha1 if owndata.is_file_spec(dataset) else None


def load_split(dataset: str):
    return _load_split(dataset, _content(dataset))


@functools.lru_cache(maxsize=8)
def _load_split(dataset: str, content: str | None):
    split = leave_one_out(load(dataset))
    got = split.seqs.extra.get("identity")
    if content and got.git_sha1 != content:
        raise DataError(f"{dataset}: the file changed while it was read (git blob SHA-1 {got.git_sha1}, "
                        f"{content} a moment before). Fix: run again once nothing writes to it.")
    return split


def evaluator(dataset: str, maxlen: int, eval_neg: int, eval_seed: int) -> Evaluator:
    return _cached_evaluator(dataset, _content(dataset), maxlen, eval_neg, eval_seed)


@functools.lru_cache(maxsize=8)
def _cached_evaluator(dataset: str, content, maxlen: int, eval_neg: int, eval_seed: int) -> Evaluator:
    return Evaluator(_load_split(dataset, content), maxlen, eval_neg, eval_seed)
