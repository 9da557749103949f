"""Datasets: parsing and its error messages, verification, download, Table 1, leave-one-out."""
from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import data_dir

import ufnlib
from ufnlib.data.datasets import REGISTRY, DataError, leave_one_out, parse, resolve, statistics
from ufnlib.data.synthetic import false_negative_mask, false_negative_sets


# ------------------------------------------------------------------------------ parsing
def test_parse_s3rec_format():
    s = parse(b"3 5 6 7\n1 2\n\n8 9 9 4\n", "s3rec")
    assert s.n_users == 3
    assert s.user_ids.tolist() == [3, 1, 8]                 # file order, original ids kept
    assert [s.seq(u).tolist() for u in range(3)] == [[5, 6, 7], [2], [9, 9, 4]]
    assert s.n_items == 9
    assert s.lengths.tolist() == [3, 1, 3]
    assert s.offsets.tolist() == [0, 3, 4, 7]


def test_parse_pairs_format_keeps_order_per_user():
    s = parse(b"1 5\n2 7\n1 6\n2 3\n1 4\n", "pairs")
    assert s.user_ids.tolist() == [1, 2]
    assert s.seq(0).tolist() == [5, 6, 4]
    assert s.seq(1).tolist() == [7, 3]


def test_parse_accepts_crlf_and_tabs():
    s = parse(b"1\t2 3\r\n2 4\t5\r\n", "s3rec")
    assert [s.seq(u).tolist() for u in range(2)] == [[2, 3], [4, 5]]


def _error(data: bytes, fmt="s3rec", path="data/Beauty.txt") -> str:
    with pytest.raises(DataError) as e:
        parse(data, fmt, path=path)
    return str(e.value)


def test_non_integer_token_names_file_and_line():
    msg = _error(b"1 2 3\n2 3 x4\n", path="some/dir/Beauty.txt")
    assert "some/dir/Beauty.txt" in msg
    assert "line 2" in msg
    assert "x4" in msg
    assert "Fix" in msg


def test_float_token_is_rejected():
    msg = _error(b"1 2 3.5\n")
    assert "line 1" in msg and "3.5" in msg


@pytest.mark.parametrize("token", [b"1_0", b"+5", b"0x1f", b"\xff"])
def test_tokens_python_int_would_accept_or_garble(token):
    msg = _error(b"1 2 3\n2 " + token + b" 4\n")
    assert "line 2" in msg and "not an integer" in msg


def test_line_numbers_count_blank_lines():
    msg = _error(b"1 2\n\n\n1 3\n")
    assert "line 4" in msg


@pytest.mark.parametrize("data, bad", [(b"1 2 3\n2 0 4\n", "0"), (b"1 2 3\n2 -4 5\n", "-4"),
                                        (b"1 2\n0 3\n", "0")])
def test_non_positive_id(data, bad):
    msg = _error(data)
    assert "line 2" in msg and f"id {bad} " in msg and "positive" in msg and "Fix" in msg


def test_duplicate_user_in_s3rec_format():
    msg = _error(b"1 2 3\n2 3 4\n1 5 6\n")
    assert "line 3" in msg and "first on line 1" in msg and "user 1" in msg and "Fix" in msg


@pytest.mark.parametrize("data", [b"", b"\n", b"  \n\t\n"])
def test_empty_file(data):
    msg = _error(data, path="x/Empty.txt")
    assert "x/Empty.txt" in msg and "empty" in msg and "Fix" in msg


def test_pairs_with_three_fields():
    msg = _error(b"1 2\n1 2 3\n", fmt="pairs")
    assert "line 2" in msg and "3 fields" in msg and "Fix" in msg


def test_pairs_with_one_field():
    msg = _error(b"1 2\n7\n", fmt="pairs")
    assert "line 2" in msg and "1 fields" in msg


def test_user_with_no_items():
    msg = _error(b"1 2 3\n5\n")
    assert "line 2" in msg and "no items" in msg and "Fix" in msg


def test_unknown_format():
    with pytest.raises(DataError, match="unknown file format"):
        parse(b"1 2\n", "csv")


def test_data_error_is_one_exception_type():
    # callers catch one type: a ValueError subclass
    assert issubclass(DataError, ValueError)


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="unknown dataset 'beuaty'"):
        ufnlib.load("beuaty")


def test_unknown_synthetic_option():
    with pytest.raises(DataError, match="unknown synthetic option 'userz'"):
        ufnlib.load("synthetic:userz=5")


# --------------------------------------------------------------------- verification / resolve
def test_checksum_mismatch_in_data_dir(tmp_path, shared_data_or_fake):
    good = shared_data_or_fake
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 1
    (tmp_path / "s3rec").mkdir()
    (tmp_path / "s3rec" / "Beauty.txt").write_bytes(bytes(bad))
    with pytest.raises(DataError) as e:
        resolve("beauty", data_dir=tmp_path, cache_dir=tmp_path / "cache",
                mirror=_closed_port_url())
    msg = str(e.value)
    assert "checksum" in msg
    assert str(tmp_path / "s3rec" / "Beauty.txt") in msg
    assert REGISTRY["beauty"].git_sha1 in msg


def test_checksum_mismatch_via_env_var(tmp_path, monkeypatch):
    (tmp_path / "s3rec").mkdir()
    (tmp_path / "s3rec" / "Beauty.txt").write_bytes(b"1 2 3\n")
    monkeypatch.setenv("UFN_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="checksum"):
        ufnlib.load("beauty", cache_dir=tmp_path / "cache", mirror=_closed_port_url())


def test_corrupt_cached_copy_is_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("UFN_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    (cache / "s3rec").mkdir(parents=True)
    (cache / "s3rec" / "Yelp.txt").write_bytes(b"truncated")
    with pytest.raises(DataError, match="checksum"):
        resolve("yelp", cache_dir=cache, mirror=_closed_port_url())


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                   # nothing listens there now
    return f"http://127.0.0.1:{port}"


def test_missing_file_without_network(tmp_path, monkeypatch):
    monkeypatch.delenv("UFN_DATA_DIR", raising=False)
    monkeypatch.delenv("UFN_DATA_MIRROR", raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        resolve("sports", data_dir=tmp_path / "empty", cache_dir=cache, mirror=_closed_port_url())
    msg = str(e.value)
    assert "UFN_DATA_DIR" in msg and "sports" in msg and "Sports_and_Outdoors.txt" in msg
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_missing_file_mirror_from_env(tmp_path, monkeypatch):
    monkeypatch.delenv("UFN_DATA_DIR", raising=False)
    url = _closed_port_url()
    monkeypatch.setenv("UFN_DATA_MIRROR", url)
    with pytest.raises(DataError) as e:
        resolve("beauty", cache_dir=tmp_path / "cache")
    assert url in str(e.value)                  # the mirror, not the public address, was tried
    assert "UFN_DATA_DIR" in str(e.value)


def test_no_download_when_disabled(tmp_path, monkeypatch):
    monkeypatch.delenv("UFN_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="download=False"):
        resolve("beauty", cache_dir=tmp_path / "cache", download=False)


def test_resolve_prefers_data_dir(shared_data, tmp_path):
    p = resolve("beauty", data_dir=shared_data, cache_dir=tmp_path / "cache",
                mirror=_closed_port_url())
    assert p.parent.parent == shared_data and p.name == "Beauty.txt"


def test_resolve_flat_data_dir_layout(shared_data, tmp_path):
    (tmp_path / "Beauty.txt").symlink_to(shared_data / "s3rec" / "Beauty.txt")
    p = resolve("beauty", data_dir=tmp_path, cache_dir=tmp_path / "cache",
                mirror=_closed_port_url())
    assert p == tmp_path / "Beauty.txt"


# ------------------------------------------------------------------------------ download
class _Server:
    """A local static HTTP server in a thread; counts the requests it answers."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):          # keep test output clean
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def close(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)
            self.running = False


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(files: dict[str, bytes | Path]) -> _Server:
        root = tmp_path / f"www{len(servers)}"
        for rel, content in files.items():
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, dest)
            else:
                dest.write_bytes(content)
        s = _Server(root)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


def test_download_verifies_and_caches(shared_data, tmp_path, monkeypatch, serve):
    monkeypatch.delenv("UFN_DATA_DIR", raising=False)
    monkeypatch.delenv("UFN_DATA_MIRROR", raising=False)
    src = shared_data / "s3rec" / "Beauty.txt"
    server = serve({"s3rec/Beauty.txt": src})
    cache = tmp_path / "cache"
    p = resolve("beauty", data_dir=None, cache_dir=cache, mirror=server.url + "/")
    assert p == cache / "s3rec" / "Beauty.txt"
    assert p.read_bytes() == src.read_bytes()
    assert server.requests == ["/s3rec/Beauty.txt"]
    assert sorted(x.name for x in cache.rglob("*") if x.is_file()) == ["Beauty.txt"]  # no .part
    # second call: served from the cache, the server is gone
    server.close()
    assert resolve("beauty", cache_dir=cache, mirror=server.url) == p
    s = ufnlib.load("beauty", cache_dir=cache, mirror=server.url)
    assert s.n_users == REGISTRY["beauty"].users


def test_download_of_corrupt_file_leaves_nothing(tmp_path, monkeypatch, serve, shared_data_or_fake):
    monkeypatch.delenv("UFN_DATA_DIR", raising=False)
    bad = bytearray(shared_data_or_fake)
    bad[-2] ^= 1
    server = serve({"s3rec/Beauty.txt": bytes(bad)})
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        resolve("beauty", cache_dir=cache, mirror=server.url)
    assert "checksum" in str(e.value)
    assert server.url in str(e.value)
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_download_404_is_a_data_error(tmp_path, monkeypatch, serve):
    monkeypatch.delenv("UFN_DATA_DIR", raising=False)
    server = serve({"s3rec/Other.txt": b"1 2 3\n"})
    with pytest.raises(DataError, match="UFN_DATA_DIR"):
        resolve("yelp", cache_dir=tmp_path / "cache", mirror=server.url)
    assert server.requests == ["/s3rec/Yelp.txt"]


@pytest.fixture
def shared_data_or_fake() -> bytes:
    """Bytes of a plausible Beauty file: the real one if present (so that a one-byte change is a
    realistic corruption), else a small stand-in (its checksum is wrong either way)."""
    p = data_dir() / "s3rec" / "Beauty.txt"
    return p.read_bytes() if p.is_file() else b"1 2 3 4 5\n2 3 4 5 6\n"


# ------------------------------------------------------------------------------ Table 1
README_COUNTS = {  # /work/shared/data/README.md
    "beauty": (22_363, 12_101, 198_502, "8.88", 6, 204),
    "sports": (35_598, 18_357, 296_337, "8.32", 6, 296),
    "yelp": (30_431, 20_033, 316_354, "10.40", 7, 350),
}


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_table1_statistics(shared_data, name):
    users, items, actions, avg, median, max_len = README_COUNTS[name]
    st = statistics(ufnlib.load(name, data_dir=shared_data))
    assert (st["users"], st["items"], st["actions"]) == (users, items, actions)
    assert f"{st['avg']:.2f}" == avg
    assert st["median_len"] == median and st["max_len"] == max_len
    assert st["density"] == pytest.approx(actions / (users * items))
    info = REGISTRY[name]
    assert (info.users, info.items, info.actions) == (users, items, actions)


def test_statistics_by_hand():
    st = statistics(parse(b"1 4 2\n2 4 4 9\n3 7\n", "s3rec", name="toy"))
    assert st["dataset"] == "toy"
    assert (st["users"], st["items"], st["max_item_id"], st["actions"]) == (3, 4, 9, 6)
    assert st["avg"] == pytest.approx(2.0)
    assert st["density"] == pytest.approx(6 / 12)
    assert (st["median_len"], st["max_len"]) == (2.0, 3)


# --------------------------------------------------------------------------- leave-one-out
def test_leave_one_out_by_hand():
    sp = leave_one_out(parse(b"1 5 6\n2 7 8 9 10\n3 1 2 3\n4 11\n", "s3rec"))
    assert [sp.train_seq(u).tolist() for u in range(4)] == [[5, 6], [7, 8], [1], [11]]
    assert sp.valid.tolist() == [0, 9, 2, 0]
    assert sp.test.tolist() == [0, 10, 3, 0]
    assert sp.has_eval.tolist() == [False, True, True, False]
    assert sp.train_offsets.tolist() == [0, 2, 4, 5, 6]
    assert sp.n_users == 4 and sp.n_items == 11


def test_leave_one_out_matches_per_user_definition(tiny_seqs, tiny_split):
    for u in range(tiny_seqs.n_users):
        s = tiny_seqs.seq(u).tolist()
        if len(s) >= 3:
            assert (tiny_split.train_seq(u).tolist(), tiny_split.valid[u], tiny_split.test[u]) \
                == (s[:-2], s[-2], s[-1])
        else:
            assert tiny_split.train_seq(u).tolist() == s
            assert tiny_split.valid[u] == 0 and tiny_split.test[u] == 0


def test_leave_one_out_on_beauty(shared_data):
    seqs = ufnlib.load("beauty", data_dir=shared_data)
    sp = leave_one_out(seqs)
    n_eval = int(sp.has_eval.sum())
    assert n_eval == seqs.n_users                       # every S3-Rec user has >= 5 items
    assert len(sp.train_items) + int((sp.valid > 0).sum()) + int((sp.test > 0).sum()) \
        == len(seqs.items)
    assert (np.diff(sp.train_offsets) == seqs.lengths - 2).all()
    for u in (0, 1, seqs.n_users // 2, seqs.n_users - 1):
        s = seqs.seq(u)
        assert sp.test[u] == s[-1] and sp.valid[u] == s[-2]
        assert (sp.train_seq(u) == s[:-2]).all()


# ------------------------------------------------------------------------------ synthetic
def test_synthetic_is_seeded():
    a, b = ufnlib.load("synthetic:users=40,items=60"), ufnlib.load("synthetic:users=40,items=60")
    c = ufnlib.load("synthetic:users=40,items=60,seed=3")
    assert (a.items == b.items).all() and (a.offsets == b.offsets).all()
    assert not (len(a.items) == len(c.items) and (a.items == c.items).all())


def test_synthetic_ground_truth_is_consistent(tiny_seqs):
    s = tiny_seqs
    assert s.n_users == 60 and s.n_items == 50
    assert s.items.min() >= 1 and s.items.max() <= 50
    fns = false_negative_sets(s)
    for u in range(s.n_users):
        seen = set(s.seq(u).tolist())
        assert len(seen) == len(s.seq(u))               # no repeated interactions
        assert not (fns[u] & seen)                      # a false negative was never interacted
    users = np.repeat(np.arange(s.n_users), s.lengths)
    assert not false_negative_mask(s, users, s.items).any()
    fu = [(u, i) for u in range(s.n_users) for i in sorted(fns[u])]
    assert fu, "the tiny synthetic set should have some false negatives"
    fu = np.array(fu)
    assert false_negative_mask(s, fu[:, 0], fu[:, 1]).all()
