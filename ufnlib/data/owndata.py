"""Bring your own data: a dataset FILE wherever a registry name is accepted.

A Config ``dataset`` (and ``table1 --datasets``, ``grid --dataset``) may be a file path:

  PATH            format detected (``detect_format``)
  PATH#s3rec      ``user item item ...``, one line per user, oldest item first (integer ids)
  PATH#pairs      ``user item``, one interaction per line, chronological per user (integer ids)
  PATH#csv        an interaction log: ``user,item,timestamp`` (comma, tab or semicolon; header
                  detected; any ids), read by ``logs.parse_log``
  PATH#inter      RecBole's atomic ``.inter`` file (typed header, tab-separated)
  PATH#csv:k=v,.. a log with options (``logs.OPTIONS_HELP``): duplicates, short users, columns

A string is taken as a path when it is neither a registry name nor ``synthetic[...]`` and holds a
``/``, a ``.`` or a ``#`` (write ``./mydata`` for a bare file name). docs/own_data.md has the rules.

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

from . import logs
from .registry import PROJECT_ROOT, REGISTRY
from .sequences import DataError, Sequences, git_blob_sha1, parse

FORMATS = ("s3rec", "pairs", *logs.LOG_FORMATS)
FORMAT_HELP = ("one line per user 'user item item ...' (oldest first), one 'user item' pair "
               "per line in chronological order, a 'user,item,timestamp' CSV/TSV log, or a RecBole "
               ".inter file")
_RECORDED = re.compile(r"^file:(?P<name>.+)#(?P<fmt>s3rec|pairs|csv|inter)(?::(?P<opts>[^@#]*))?"
                       r"@(?P<sha1>[0-9a-f]{40}),(?P<size>\d+)$")


@dataclass(frozen=True)
class FileIdentity:
    name: str        # the file name (no folder)
    git_sha1: str    # git blob SHA-1 of the bytes
    size: int        # bytes
    fmt: str         # s3rec | pairs | csv | inter
    fmt_from: str    # given (#suffix) | detected | recorded
    where: str       # project-relative path, the relative path given, or a note; never absolute
    options: str = ""  # a log's non-default options, "k=v,..." in a fixed order (logs.options_text)

    def key(self) -> dict:
        """What the cache key holds for this file: content, format and a log's non-default options."""
        k = {"git_sha1": self.git_sha1, "bytes": self.size, "format": self.fmt}
        return {"file": {**k, "options": self.options} if self.options else k}

    def recorded(self) -> str:
        opts = f":{self.options}" if self.options else ""
        return f"file:{self.name}#{self.fmt}{opts}@{self.git_sha1},{self.size}"

    def parse_options(self) -> dict:
        return logs.parse_options(self.options, self.recorded(), self.fmt)


def is_recorded(name: str) -> bool:
    return bool(_RECORDED.match(name))


def is_file_spec(name: str) -> bool:
    """Does ``name`` name a user file (or the record of one), rather than a registry name or a
    synthetic spec?"""
    if name in REGISTRY or name.split(":")[0] == "synthetic":
        return False
    return is_recorded(name) or any(c in name for c in "/.#\\")


def split_spec(spec: str) -> tuple[str, str | None, str]:
    """``PATH[#FORMAT[:OPTIONS]]`` -> (PATH, FORMAT or None, OPTIONS text)."""
    path, sep, suffix = spec.rpartition("#")
    fmt, _, opts = suffix.partition(":")
    if sep and fmt in FORMATS and path:
        if opts and fmt not in logs.LOG_FORMATS:
            raise DataError(f"dataset '{spec}': #{fmt} takes no options (only the logs #csv and "
                            f"#inter do). Fix: drop ':{opts}'.")
        return path, fmt, opts
    if sep and "/" not in suffix and "." not in fmt and not Path(spec).expanduser().is_file():
        raise DataError(f"dataset '{spec}': unknown format suffix '#{suffix}'. Fix: end the path with "
                        f"#s3rec, #pairs, #csv or #inter (a log may add options, e.g. #csv:dups=keep,min_events=5), "
                        f"or leave the suffix off to detect the format.")
    return spec, None, ""


def _is_int(token: bytes) -> bool:
    return token.removeprefix(b"-").isdigit()   # a negative id stays an integer format's error


def detect_format(data: bytes) -> str:
    """The format of a file's bytes (docs/own_data.md). ``inter`` if the first line is a RecBole
    header (every field ``name:type``); ``csv`` if the first line holds a comma or a semicolon or
    a field that is not an integer (a header, string ids), or if every line has the same 3 or more
    fields and a user repeats (a log with integer ids); else the integer formats: ``pairs`` if
    every non-empty line has exactly 2 fields and some user repeats, else ``s3rec``. A file that
    reads as s3rec or pairs is never called a log: those readings are as before logs existed."""
    lines = [l for l in data.splitlines() if l.strip()]
    if not lines:
        return "s3rec"
    first = lines[0].lstrip(b"\xef\xbb\xbf")
    if all(f.count(b":") == 1 and f.split(b":")[1].decode(errors="replace") in logs.INTER_TYPES
           for f in first.split(b"\t")):
        return "inter"
    if b"," in first or b";" in first or not all(_is_int(t) for t in first.split()):
        return "csv"
    users, repeated, widths = set(), False, set()
    for raw in lines:
        tokens = raw.split()
        widths.add(len(tokens))
        u = tokens[0].lstrip(b"0")
        repeated = repeated or u in users
        users.add(u)
    if repeated and len(widths) == 1 and widths.pop() >= 3:
        return "csv"
    return "pairs" if repeated and all(len(l.split()) == 2 for l in lines) else "s3rec"


def _existing(spec: str) -> tuple[Path, str, str | None, str]:
    given, fmt, opts = split_spec(spec)
    p = Path(given).expanduser()
    if p.is_dir():
        raise DataError(f"{p}: is a folder, not a dataset file. Fix: give the path of the file "
                        f"itself ({FORMAT_HELP}).")
    if not p.is_file():
        raise DataError(f"{p}: no such file (dataset '{spec}'). Fix: check the path (a relative "
                        f"path is read from the current folder, {Path.cwd()}), or use a registry "
                        f"name: {sorted(REGISTRY)}.")
    return p, given, fmt, opts


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


def _identify(data: bytes, p: Path, given: str, fmt: str | None, opts: str = "") -> FileIdentity:
    if not data.strip():
        raise DataError(f"{p}: the file is empty. Fix: write the interactions into it, "
                        f"{FORMAT_HELP}.")
    fmt_from = "given" if fmt else "detected"
    fmt = fmt or detect_format(data)
    if fmt in logs.LOG_FORMATS:     # checked here, so that a config with bad options fails at once
        opts = logs.options_text(logs.parse_options(opts, f"{p}#{fmt}:{opts}", fmt))
    return FileIdentity(p.name, git_blob_sha1(data), len(data), fmt, fmt_from, _where(p, given), opts)


_CACHE: dict[tuple, FileIdentity] = {}


def identity(spec: str) -> FileIdentity:
    """The identity of a file dataset (read once per resolved path, size, mtime and inode), or
    the one stored in a ``recorded`` name."""
    m = _RECORDED.match(spec)
    if m:
        return FileIdentity(m["name"], m["sha1"], int(m["size"]), m["fmt"], "recorded", "recorded",
                            m["opts"] or "")
    p, given, fmt, opts = _existing(spec)
    st = p.stat()
    ck = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, fmt, given, opts)
    if ck not in _CACHE:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[ck] = _identify(_read(p), p, given, fmt, opts)
    return _CACHE[ck]


def same_data(a: str, b: str) -> bool:
    """Do two file dataset names (paths or recorded names) hold the same content and format?"""
    return is_file_spec(a) and is_file_spec(b) and identity(a).key() == identity(b).key()


def load(spec: str) -> Sequences:
    """Parse a file dataset. Its ``Sequences`` are named by the file name, ``source`` is the
    recorded name (no path) and ``extra["identity"]`` the identity of the bytes parsed."""
    if is_recorded(spec):
        raise DataError(f"dataset '{spec}': this is the record of a user file, not the file. Fix: "
                        f"pass the file's path (PATH, or PATH#FORMAT as first given) to use it again.")
    p, given, fmt, opts = _existing(spec)
    data = _read(p)
    ident = _identify(data, p, given, fmt, opts)
    if ident.fmt in logs.LOG_FORMATS:
        seqs = logs.parse_log(data, ident.fmt, ident.parse_options(), path=p, name=ident.name)
        seqs.source = ident.recorded()
        seqs.extra["identity"] = ident
        return seqs
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
