"""Sequences and their parsing: the data type every dataset becomes, the error every bad input
raises, and the checksum files are identified by. Imports nothing of ufnlib, so that the dataset
sources (``data``: the registry and downloads; ``owndata``: user files; ``synthetic``: the
generator) can all build on it without importing each other in a loop.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


class DataError(ValueError):
    """Bad or missing input data. The message names the file, the line (if any) and the fix."""


def git_blob_sha1(data: bytes) -> str:
    """SHA-1 of ``blob <len>\\0<data>``: what ``git hash-object FILE`` prints."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


@dataclass
class Sequences:
    """Chronological interactions: ``items[offsets[u]:offsets[u+1]]`` is user u's sequence.

    Users are re-indexed 0..n_users-1 in file order (``user_ids`` holds the original ids); item
    ids are kept as in the file (1-based, 0 is padding), so ``n_items`` is the largest item id.
    """
    name: str
    items: np.ndarray          # int64 [n_actions]
    offsets: np.ndarray        # int64 [n_users + 1]
    user_ids: np.ndarray       # int64 [n_users], original ids
    n_items: int
    source: str = ""
    extra: dict = field(default_factory=dict)   # e.g. synthetic ground truth

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def seq(self, u: int) -> np.ndarray:
        return self.items[self.offsets[u]:self.offsets[u + 1]]


def _int_tokens(tokens: list[bytes], path, lineno: int) -> list[int]:
    out = []
    for t in tokens:
        try:
            if not t.removeprefix(b"-").isdigit():   # int() would also take b"1_0", b"+5"
                raise ValueError
            v = int(t)
        except ValueError:
            raise DataError(f"{path}, line {lineno}: '{t.decode(errors='replace')}' is not an "
                            f"integer id. Fix: every field must be a positive integer.") from None
        if v <= 0:
            raise DataError(f"{path}, line {lineno}: id {v} is not positive (ids are 1-based, 0 "
                            f"is padding). Fix: re-index the file from 1.")
        out.append(v)
    return out


def parse(data: bytes, fmt: str, path="<bytes>", name: str = "") -> Sequences:
    """Parse a dataset file's bytes. ``fmt``: "s3rec" (``user item item ...`` per line, one line
    per user) or "pairs" (``user item`` per line, chronological per user)."""
    lines = data.splitlines()
    if not any(l.strip() for l in lines):
        raise DataError(f"{path}: the file is empty. Fix: download it again or point "
                        f"UFN_DATA_DIR to a complete copy.")
    seqs: dict[int, list[int]] = {}
    first_line: dict[int, int] = {}
    for i, raw in enumerate(lines, start=1):
        tokens = raw.split()
        if not tokens:
            continue
        vals = _int_tokens(tokens, path, i)
        if fmt == "s3rec":
            if len(vals) < 2:
                raise DataError(f"{path}, line {i}: expected 'user item [item ...]', got a user "
                                f"with no items. Fix: drop the line or add the user's items.")
            u = vals[0]
            if u in seqs:
                raise DataError(f"{path}, line {i}: user {u} appears again (first on line "
                                f"{first_line[u]}); this format holds one line per user. Fix: "
                                f"merge the two lines in chronological order.")
            seqs[u] = vals[1:]
            first_line[u] = i
        elif fmt == "pairs":
            if len(vals) != 2:
                raise DataError(f"{path}, line {i}: expected 'user item', got {len(vals)} "
                                f"fields. Fix: one interaction per line.")
            seqs.setdefault(vals[0], []).append(vals[1])
        else:
            raise DataError(f"unknown file format '{fmt}' (known: s3rec, pairs)")
    users = np.fromiter(seqs.keys(), dtype=np.int64, count=len(seqs))
    lens = np.fromiter((len(s) for s in seqs.values()), dtype=np.int64, count=len(seqs))
    offsets = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    items = np.fromiter((v for s in seqs.values() for v in s), dtype=np.int64, count=int(offsets[-1]))
    return Sequences(name or str(path), items, offsets, users, int(items.max()), source=str(path))
