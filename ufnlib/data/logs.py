"""Interaction logs -> ``Sequences``: ``user,item,timestamp`` CSV/TSV files and RecBole's atomic
``.inter`` files, with string ids mapped to 1-based integers (the maps kept in
``extra["id_maps"]``). The rules (header, columns, time order, duplicates, short users, options)
are written out in docs/own_data.md; ``owndata`` decides when a file is a log.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import math

import numpy as np

from .sequences import DataError, Sequences

LOG_FORMATS = ("csv", "inter")
DEFAULTS = {"dups": "first", "min_events": 3, "user": "", "item": "", "time": ""}
DUPS = ("first", "last", "keep")
OPTIONS_HELP = ("dups=first|last|keep (a user's repeated item: its first event kept, its last, or "
                "all), min_events=N (users with fewer events are dropped; default 3), user=COL, "
                "item=COL, time=COL (a column name or 1-based number; time=none: file order)")
# header names, compared lower-case with everything but letters and digits removed
ALIASES = {
    "user": {"user", "userid", "uid", "visitorid", "customerid", "reviewerid", "clientid", "memberid"},
    "item": {"item", "itemid", "iid", "movieid", "productid", "asin", "businessid", "trackid",
             "articleid", "bookid", "isbn", "songid", "sku"},
    "time": {"timestamp", "time", "ts", "datetime", "date", "eventtime", "createdat", "unixtimestamp",
             "unixreviewtime", "clicktime", "timestampms"},
}
INTER_TYPES = ("token", "float", "token_seq", "float_seq")


# ----------------------------------------------------------------------------------- options
def parse_options(text: str, spec: str, fmt: str) -> dict:
    """``"dups=keep,min_events=5"`` -> the full options dict (defaults filled in)."""
    out = dict(DEFAULTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        k, v = k.strip(), v.strip()
        if not sep or k not in DEFAULTS:
            raise DataError(f"dataset '{spec}': unknown option '{part}' for #{fmt}. Fix: use "
                            f"{OPTIONS_HELP}, separated by commas.")
        if k == "dups" and v not in DUPS:
            raise DataError(f"dataset '{spec}': dups={v} is not one of {'|'.join(DUPS)}. Fix: "
                            f"write dups=first (default), dups=last or dups=keep.")
        if k == "min_events":
            if not v.isdigit() or int(v) < 1:
                raise DataError(f"dataset '{spec}': min_events={v} is not an integer >= 1. Fix: "
                                f"e.g. min_events=5.")
            v = int(v)
        if k in ("user", "item", "time") and (not v or any(c in v for c in "@#,=")):
            raise DataError(f"dataset '{spec}': {k}={v!r} is not a column name or number (no "
                            f"'@', '#', ',' or '=' in it). Fix: name the column as its header does, "
                            f"or give its 1-based number.")
        out[k] = v
    return out


def non_default(opts: dict) -> dict:
    return {k: v for k, v in opts.items() if v != DEFAULTS[k]}


def options_text(opts: dict) -> str:
    """Non-default options as ``k=v,...`` in a fixed order (empty when all are defaults)."""
    return ",".join(f"{k}={v}" for k, v in non_default(opts).items())


# ------------------------------------------------------------------------------------- rows
def _decode(data: bytes, path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: bytes that are not UTF-8 text ({data[e.start:e.start + 4]!r}). "
                        f"Fix: save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8).") from None


def delimiter(first_line: str) -> str | None:
    """Tab, comma or semicolon, whichever the first line holds (in that order); None: whitespace."""
    return next((d for d in "\t,;" if d in first_line), None)


def _rows(text: str, delim: str | None, path):
    """(line number, stripped fields) of every non-blank row."""
    if delim is None:
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield i, line.split()
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        for row in reader:
            if any(f.strip() for f in row):
                yield reader.line_num, [f.strip() for f in row]
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: not readable as {_dname(delim)}-separated "
                        f"text ({e}). Fix: close the quote opened on or before that line, or remove the "
                        f"stray byte.") from None


def _dname(delim):
    return {"\t": "tab", ",": "comma", ";": "semicolon", None: "whitespace"}[delim]


def _norm(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


# ------------------------------------------------------------------------------------ times
def _time(s: str):
    """-> (kind, seconds): kind 'number', 'date' (naive, read as UTC) or 'zoned'; None if neither."""
    try:
        v = float(s)
        return ("number", v) if math.isfinite(v) else None
    except ValueError:
        pass
    try:
        d = _dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        return "date", d.replace(tzinfo=_dt.timezone.utc).timestamp()
    return "zoned", d.timestamp()


KIND_TEXT = {"number": "a number", "date": "a date without time zone", "zoned": "a date with a time zone"}


# ---------------------------------------------------------------------------------- columns
def _column(want: str, header: list[str] | None, role: str, path, line: int) -> int:
    """The index of the column an option names (a header name or a 1-based number)."""
    if want.isdigit():
        j = int(want) - 1
        width = len(header) if header else None
        if j < 0 or (width is not None and j >= width):
            raise DataError(f"{path}, line {line}: {role}={want} but the header has {width} columns. "
                            f"Fix: give a column number from 1 to {width}.")
        return j
    names = [_norm(h.split(":")[0]) for h in header or []]
    if _norm(want) not in names:
        raise DataError(f"{path}, line {line}: {role}={want} names no column of the header "
                        f"({', '.join(header or ['(no header)'])}). Fix: use one of those names or a "
                        f"1-based column number.")
    return names.index(_norm(want))


def _by_alias(header: list[str], role: str) -> int | None:
    names = [_norm(h.split(":")[0]) for h in header]
    hits = [j for j, n in enumerate(names) if n in ALIASES[role]]
    return hits[0] if hits else None


def _inter_header(fields: list[str], path, line: int) -> None:
    for f in fields:
        name, sep, typ = f.partition(":")
        if not sep or not name or typ not in INTER_TYPES:
            raise DataError(f"{path}, line {line}: header field '{f}' is not 'name:type' with a type "
                            f"among {', '.join(INTER_TYPES)} (RecBole atomic file). Fix: write the header "
                            f"as RecBole does, e.g. user_id:token<TAB>item_id:token<TAB>timestamp:float.")


def _looks_like_header(rows) -> bool:
    """Is the first row a header the aliases do not know? Some column holds a time in the second
    row but not in the first (``when`` above ``2024-03-01``)."""
    if len(rows) < 2:
        return False
    (_, r1), (_, r2) = rows[0], rows[1]
    return any(_time(r2[j]) is not None and _time(r1[j]) is None for j in range(min(len(r1), len(r2))))


def _columns(rows, fmt: str, opts: dict, path):
    """-> (header fields or None, {role: index or None}, rows after the header)."""
    first_line, first = rows[0]
    if fmt == "inter":
        _inter_header(first, path, first_line)
        header = first
    else:
        known = _by_alias(first, "user") is not None and _by_alias(first, "item") is not None
        by_name = any(opts[r] and not opts[r].isdigit() and opts[r].lower() != "none" for r in ("user", "item", "time"))
        header = first if known or by_name or _looks_like_header(rows) else None
    body = rows[1:] if header else rows
    cols = {}
    for role in ("user", "item", "time"):
        want = opts[role]
        if role == "time" and want.lower() == "none":
            cols[role] = None
        elif want:
            cols[role] = _column(want, header, role, path, first_line)
        elif header is not None:
            cols[role] = _by_alias(header, role)
            if cols[role] is None and role != "time":
                raise DataError(f"{path}, line {first_line}: the header ({', '.join(header)}) names no {role} "
                                f"column (known names: {', '.join(sorted(ALIASES[role]))}). Fix: rename it "
                                f"or add {role}=COL to the dataset: PATH#{fmt}:{role}=COL.")
        else:
            width = len(first)
            if width > 3 and not (opts["user"] and opts["item"] and opts["time"]):
                raise DataError(f"{path}, line {first_line}: {width} fields and no header, so which column is "
                                f"which is unknown. Fix: add a header line naming the columns (user, item, "
                                f"timestamp; other columns are ignored), or name all three by number: "
                                f"PATH#csv:user=1,item=2,time=4 (time=none: file order).")
            cols[role] = {"user": 0, "item": 1, "time": 2 if width >= 3 else None}[role]
    return header, cols, body


# ------------------------------------------------------------------------------------ parse
def parse_log(data: bytes, fmt: str, opts: dict, path="<bytes>", name: str = "") -> Sequences:
    """Parse a CSV/TSV log (``fmt="csv"``) or a RecBole ``.inter`` file into sequences: each
    user's events in time order (ties in file order), duplicates and short users handled by
    ``opts``, users and items numbered 1.. in order of first appearance."""
    text = _decode(data, path)
    lines = text.splitlines()
    head = next((l for l in lines if l.strip()), "")
    delim = "\t" if fmt == "inter" else delimiter(head)
    rows = list(_rows(text, delim, path))
    if not rows or (fmt == "inter" and len(rows) < 2):
        raise DataError(f"{path}: no interactions in the file. Fix: one event per line, "
                        f"user, item and timestamp.")
    header, cols, body = _columns(rows, fmt, opts, path)
    if not body:
        raise DataError(f"{path}: only a header, no interactions. Fix: add one event per line below it.")
    need = max(c for c in cols.values() if c is not None) + 1
    uc, ic, tc = cols["user"], cols["item"], cols["time"]
    users, items, times, kind, kind_line = [], [], [], None, 0
    for line, f in body:
        if len(f) < need:
            raise DataError(f"{path}, line {line}: {len(f)} field{'s' * (len(f) != 1)}, expected at least {need} "
                            f"({_dname(delim)}-separated{', as the header' if header else ''}). Fix: give every "
                            f"line its user, item{' and timestamp' if tc is not None else ''}.")
        u, i = f[uc], f[ic]
        if not u or not i:
            raise DataError(f"{path}, line {line}: empty {'user' if not u else 'item'} id. Fix: fill it in "
                            f"or drop the line.")
        users.append(u)
        items.append(i)
        if tc is not None:
            t = _time(f[tc])
            if t is None:
                raise DataError(f"{path}, line {line}: timestamp '{f[tc]}' is neither a number nor an ISO 8601 "
                                f"date (2024-05-01 or 2024-05-01T13:45:00). Fix: correct it, or read the file "
                                f"in file order with PATH#{fmt}:time=none.")
            if kind is None:
                kind, kind_line = t[0], line
            elif t[0] != kind:
                raise DataError(f"{path}, line {line}: timestamp '{f[tc]}' is {KIND_TEXT[t[0]]}, but line "
                                f"{kind_line}'s is {KIND_TEXT[kind]}. Fix: write every timestamp the same way.")
            times.append(t[1])
    return _sequences(users, items, times if tc is not None else None, opts, path, name,
                      dict(format=fmt, delimiter=_dname(delim), header=header is not None,
                           time_column=(header[tc] if header else tc + 1) if tc is not None else None,
                           time_kind=kind))


def _codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes 0.. in order of first appearance, and the values in code order."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(index)


def _sequences(users, items, times, opts, path, name, info) -> Sequences:
    n = len(users)
    u, u_names = _codes(users)
    i, i_names = _codes(items)
    row = np.arange(n)
    t = np.asarray(times, dtype=np.float64) if times is not None else np.zeros(n)
    order = np.lexsort((row, t, u))                          # by user, then time, ties in file order
    keep = np.ones(n, dtype=bool)
    if opts["dups"] != "keep":
        pair = (u * len(i_names) + i)[order]
        seq = pair if opts["dups"] == "first" else pair[::-1]
        _, first = np.unique(seq, return_index=True)
        mask = np.zeros(n, dtype=bool)
        mask[first] = True
        keep = mask if opts["dups"] == "first" else mask[::-1]
    order, dups = order[keep], int(n - keep.sum())
    counts = np.bincount(u[order], minlength=len(u_names))
    ok_user = counts >= opts["min_events"]
    short = int(((counts > 0) & ~ok_user).sum())
    order = order[ok_user[u[order]]]
    if not len(order):
        raise DataError(f"{path}: no user has {opts['min_events']} or more events (after dups={opts['dups']}). "
                        f"Fix: lower the threshold, e.g. PATH#{info['format']}:min_events=3.")
    # renumber the kept users and items 1.. in order of first appearance in the file
    kept_rows = np.sort(order)
    new_u = _renumber(u, kept_rows, len(u_names))
    new_i = _renumber(i, kept_rows, len(i_names))
    user_col, item_col = new_u[u[order]], new_i[i[order]]
    # users in order of first appearance: a stable sort of the (user, time) order by new user id
    by_user = np.argsort(user_col, kind="stable")
    item_seq, user_seq = item_col[by_user], user_col[by_user]
    n_users = int(user_seq.max())
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(user_seq - 1, minlength=n_users), out=offsets[1:])
    id_maps = {"user": _names(u_names, new_u), "item": _names(i_names, new_i)}
    info = dict(info, rows=n, events=int(len(order)), duplicates_dropped=dups, users_dropped=short,
                dups=opts["dups"], min_events=opts["min_events"])
    return Sequences(name or str(path), item_seq.astype(np.int64), offsets, np.arange(1, n_users + 1),
                     int(item_seq.max()), source=str(path), extra={"id_maps": id_maps, "log": info})


def _renumber(codes: np.ndarray, kept_rows: np.ndarray, n_codes: int) -> np.ndarray:
    """code -> new 1-based id (0 for a code no kept row holds), in order of first appearance."""
    _, first = np.unique(codes[kept_rows], return_index=True)
    appear = codes[kept_rows][np.sort(first)]
    new = np.zeros(n_codes, dtype=np.int64)
    new[appear] = np.arange(1, len(appear) + 1)
    return new


def _names(names: list[str], new: np.ndarray) -> list[str]:
    out = [""] * int(new.max())
    for code, k in enumerate(new):
        if k:
            out[k - 1] = names[code]
    return out
