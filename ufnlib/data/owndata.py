"""Bring your own data: a dataset FILE wherever a registry name is accepted.

A Config ``dataset`` (and ``table1 --datasets``, ``grid --dataset``) may be a file path:

  PATH            format detected: ``pairs`` if every non-empty line has exactly two fields and
                  some user id repeats, else ``s3rec`` (on a file of two-field lines with no
                  repeated user both readings give the same sequences)
  PATH#s3rec      ``user item item ...``, one line per user, oldest item first
  PATH#pairs      ``user item``, one interaction per line, chronological per user

A string is taken as a path when it is neither a registry name nor ``synthetic[...]`` and holds a
``/``, a ``.`` or a ``#`` (write ``./mydata`` for a bare file name). Ids are positive integers.

A file's identity is its content: the git blob SHA-1 (``data.git_blob_sha1``), its size and its
format. That identity, not the path or the file name, goes into the cache key, so a changed
file never reuses old runs and a copy in another folder does. The checksum is cached per
(resolved path, size, mtime, inode). Records never hold the path: their config names the file
as ``file:NAME#FORMAT@SHA1,BYTES`` (``recorded``), from which the key can be recomputed without
the file (``grid.import_archive`` does), and ``where`` says where it was found in relative terms.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .registry import PROJECT_ROOT, REGISTRY
from .sequences import DataError, Sequences, git_blob_sha1, parse

FORMATS = ("s3rec", "pairs")
FORMAT_HELP = ("one line per user 'user item item ...' (oldest first), or one 'user item' pair "
               "per line in chronological order")
_RECORDED = re.compile(r"^file:(?P<name>.+)#(?P<fmt>s3rec|pairs)@(?P<sha1>[0-9a-f]{40}),(?P<size>\d+)$")


@dataclass(frozen=True)
class FileIdentity:
    name: str        # the file name (no folder)
    git_sha1: str    # git blob SHA-1 of the bytes
    size: int        # bytes
    fmt: str         # s3rec | pairs
    fmt_from: str    # given (#suffix) | detected | recorded
    where: str       # project-relative path, the relative path given, or a note; never absolute

    def key(self) -> dict:
        """What the cache key holds for this file: content and format only."""
        return {"file": {"git_sha1": self.git_sha1, "bytes": self.size, "format": self.fmt}}

    def recorded(self) -> str:
        return f"file:{self.name}#{self.fmt}@{self.git_sha1},{self.size}"


def is_recorded(name: str) -> bool:
    return bool(_RECORDED.match(name))


def is_file_spec(name: str) -> bool:
    """Does ``name`` name a user file (or the record of one), rather than a registry name or a
    synthetic spec?"""
    if name in REGISTRY or name.split(":")[0] == "synthetic":
        return False
    return is_recorded(name) or any(c in name for c in "/.#\\")


def split_spec(spec: str) -> tuple[str, str | None]:
    """``PATH[#FORMAT]`` -> (PATH, FORMAT or None)."""
    path, sep, fmt = spec.rpartition("#")
    if sep and fmt in FORMATS and path:
        return path, fmt
    if sep and "/" not in fmt and "." not in fmt and not Path(spec).expanduser().is_file():
        raise DataError(f"dataset '{spec}': unknown format suffix '#{fmt}'. Fix: end the path with "
                        f"#s3rec or #pairs, or leave the suffix off to detect the format.")
    return spec, None


def detect_format(data: bytes) -> str:
    """``pairs`` if every non-empty line has exactly 2 fields and some user repeats, else ``s3rec``."""
    users, repeated = set(), False
    for raw in data.splitlines():
        tokens = raw.split()
        if not tokens:
            continue
        if len(tokens) != 2:
            return "s3rec"
        u = tokens[0].lstrip(b"0")
        repeated = repeated or u in users
        users.add(u)
    return "pairs" if repeated else "s3rec"


def _existing(spec: str) -> tuple[Path, str, str | None]:
    given, fmt = split_spec(spec)
    p = Path(given).expanduser()
    if p.is_dir():
        raise DataError(f"{p}: is a folder, not a dataset file. Fix: give the path of the file "
                        f"itself ({FORMAT_HELP}).")
    if not p.is_file():
        raise DataError(f"{p}: no such file (dataset '{spec}'). Fix: check the path (a relative "
                        f"path is read from the current folder, {Path.cwd()}), or use a registry "
                        f"name: {sorted(REGISTRY)}.")
    return p, given, fmt


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot be read ({e.strerror}). Fix: check its permissions.") from None


def _where(p: Path, given: str) -> str:
    try:
        return "project:" + p.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        pass
    if not Path(given).is_absolute() and not given.startswith("~"):
        return "relative:" + Path(given).as_posix()
    return "outside the project (absolute path not recorded)"


def _identify(data: bytes, p: Path, given: str, fmt: str | None) -> FileIdentity:
    if not data.strip():
        raise DataError(f"{p}: the file is empty. Fix: write the interactions into it, "
                        f"{FORMAT_HELP}.")
    return FileIdentity(p.name, git_blob_sha1(data), len(data), fmt or detect_format(data),
                        "given" if fmt else "detected", _where(p, given))


_CACHE: dict[tuple, FileIdentity] = {}


def identity(spec: str) -> FileIdentity:
    """The identity of a file dataset (read once per resolved path, size, mtime and inode), or
    the one stored in a ``recorded`` name."""
    m = _RECORDED.match(spec)
    if m:
        return FileIdentity(m["name"], m["sha1"], int(m["size"]), m["fmt"], "recorded", "recorded")
    p, given, fmt = _existing(spec)
    st = p.stat()
    ck = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, fmt, given)
    if ck not in _CACHE:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[ck] = _identify(_read(p), p, given, fmt)
    return _CACHE[ck]


def same_data(a: str, b: str) -> bool:
    """Do two file dataset names (paths or recorded names) hold the same content and format?"""
    return is_file_spec(a) and is_file_spec(b) and identity(a).key() == identity(b).key()


def load(spec: str) -> Sequences:
    """Parse a file dataset. Its ``Sequences`` are named by the file name, ``source`` is the
    recorded name (no path) and ``extra["identity"]`` the identity of the bytes parsed."""
    if is_recorded(spec):
        raise DataError(f"dataset '{spec}': this is the record of a user file, not the file. Fix: "
                        f"pass the file's path (PATH, PATH#s3rec or PATH#pairs) to use it again.")
    p, given, fmt = _existing(spec)
    data = _read(p)
    ident = _identify(data, p, given, fmt)
    try:
        seqs = parse(data, ident.fmt, path=p, name=ident.name)
    except DataError as e:
        users = [l.split()[0] for l in data.splitlines() if l.strip()]
        if ident.fmt_from == "detected" and len(set(users)) < len(users):
            raise DataError(f"{e} (The format was detected as s3rec because not every line has "
                            f"exactly 2 fields; if the file holds 'user item' pairs, fix the longer "
                            f"lines and append #pairs to the path.)") from None
        raise
    seqs.source = ident.recorded()
    seqs.extra["identity"] = ident
    return seqs
