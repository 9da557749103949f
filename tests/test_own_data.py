"""Bring your own data: a dataset file wherever a registry name goes (``ufnlib.data.owndata``)."""
from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
from conftest import PROJECT_ROOT

import ufnlib
from ufnlib import Config, DataError, config_key
from ufnlib.__main__ import main as cli_main
from ufnlib.data import owndata
from ufnlib.data.datasets import git_blob_sha1, table1
from ufnlib.experiments import profiles

TINY = ["--set", "max_epochs=2", "--set", "hidden=8", "--set", "n_neg=5", "--set", "eval_neg=20",
        "--set", "maxlen=10", "--quiet"]


def make_sequences(seed=0, users=60):
    r = random.Random(seed)
    return {u: [r.randint(1, 40) for _ in range(r.randint(6, 12))] for u in range(1, users + 1)}


def write_s3rec(path, seqs):
    path.write_text("".join(f"{u} {' '.join(map(str, s))}\n" for u, s in seqs.items()))
    return path


def write_pairs(path, seqs):
    path.write_text("".join(f"{u} {i}\n" for u, s in seqs.items() for i in s))
    return path


@pytest.fixture
def seqs():
    return make_sequences()


# ------------------------------------------------------------------------- names and formats
@pytest.mark.parametrize("name, is_file", [
    ("beauty", False), ("beauty_sasrec", False), ("synthetic", False),
    ("synthetic:users=60,exposure=0.5", False), ("beuaty", False),
    ("data.txt", True), ("./data", True), ("a/b", True), ("x#pairs", True),
    ("file:x.txt#pairs@" + "0" * 40 + ",12", True)])
def test_what_is_a_file(name, is_file):
    assert owndata.is_file_spec(name) is is_file


def test_format_detection(tmp_path, seqs):
    assert owndata.detect_format(write_pairs(tmp_path / "p.txt", seqs).read_bytes()) == "pairs"
    assert owndata.detect_format(write_s3rec(tmp_path / "s.txt", seqs).read_bytes()) == "s3rec"
    # two fields per line but no user repeats: one item per user, read as s3rec (same sequences)
    one = {u: s[:1] for u, s in seqs.items()}
    p1 = write_pairs(tmp_path / "one.txt", one)
    assert owndata.detect_format(p1.read_bytes()) == "s3rec"
    assert owndata.identity(str(p1)).fmt_from == "detected"
    a, b = ufnlib.load(str(p1)), ufnlib.load(str(p1) + "#pairs")
    assert np.array_equal(a.items, b.items) and np.array_equal(a.offsets, b.offsets)
    assert owndata.identity(str(p1) + "#pairs").fmt_from == "given"


def test_both_formats_give_the_same_sequences(tmp_path, seqs):
    a = ufnlib.load(str(write_s3rec(tmp_path / "s.txt", seqs)))
    b = ufnlib.load(str(write_pairs(tmp_path / "p.txt", seqs)))
    assert a.name == "s.txt" and b.name == "p.txt"
    assert list(a.user_ids) == list(seqs) == list(b.user_ids)
    assert [list(a.seq(u)) for u in range(a.n_users)] == list(seqs.values())
    assert np.array_equal(a.items, b.items) and np.array_equal(a.offsets, b.offsets)
    assert str(tmp_path) not in a.source and a.source.startswith("file:s.txt#s3rec@")


def test_table1_equals_hand_count(tmp_path, seqs, capsys):
    s, p = write_s3rec(tmp_path / "s.txt", seqs), write_pairs(tmp_path / "p.txt", seqs)
    actions = sum(len(v) for v in seqs.values())
    items = len({i for v in seqs.values() for i in v})
    df = table1([str(s), str(p) + "#pairs", "synthetic:users=60,items=50"])
    for row in ("s.txt", "p.txt"):
        got = df.loc[row]
        assert (got.users, got["items"], got.actions) == (60, items, actions)
        assert got.avg == pytest.approx(actions / 60)
        assert got.density == pytest.approx(actions / (60 * items))
    assert df.loc["synthetic:users=60,items=50"].users == 60          # mixed with a generated set
    assert cli_main(["table1", "--datasets", str(s), str(p)]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("p.txt"))
    assert line.split()[1:] == [str(60), str(items), str(actions), f"{actions / 60:.2f}",
                                f"{actions / (60 * items):.3%}"]


# ---------------------------------------------------------------------------- identity + key
def test_checksum_is_cached_per_stat(tmp_path, seqs, monkeypatch):
    p = write_s3rec(tmp_path / "s.txt", seqs)
    reads = []
    real = owndata._read
    monkeypatch.setattr(owndata, "_read", lambda path: reads.append(path) or real(path))
    cfg = Config(dataset=str(p))
    k1 = config_key(cfg)
    assert config_key(cfg) == k1 and len(reads) == 1                 # the second key: no read
    assert owndata.identity(str(p)).git_sha1 == git_blob_sha1(p.read_bytes())
    with p.open("a") as f:
        f.write("61 1 2 3\n")                                        # new size: read again
    assert config_key(cfg) != k1 and len(reads) == 2


def test_key_follows_content_not_path(tmp_path, seqs):
    p = write_s3rec(tmp_path / "s.txt", seqs)
    (tmp_path / "elsewhere").mkdir()
    q = tmp_path / "elsewhere" / "s.txt"
    shutil.copyfile(p, q)
    key = config_key(Config(dataset=str(p)))
    assert config_key(Config(dataset=str(q))) == key
    assert config_key(Config(dataset=str(p) + "#s3rec")) == key       # detected == given
    assert config_key(Config(dataset=str(p), seed=2)) != key
    rec_name = owndata.identity(str(p)).recorded()
    assert config_key(Config(dataset=rec_name)) == key                # without the file
    assert str(tmp_path) not in rec_name


def test_cached_record_keys_unchanged():
    """Every record in results/runs recomputes to its stored key (registry and synthetic names
    are hashed exactly as before file datasets existed)."""
    recs = [json.loads(p.read_text()) for p in sorted((PROJECT_ROOT / "results" / "runs").glob("*.json"))]
    if not recs:
        pytest.skip("no cached records in results/runs")
    bad = [r["key"] for r in recs if config_key(Config.from_dict(r["config"])) != r["key"]]
    assert bad == [], f"{len(bad)} of {len(recs)} records no longer match their key"
    assert config_key(Config()) == "d4ca9604853992e2"


# ------------------------------------------------------------------------------------- train
def train(path, root, capsys):
    rc = cli_main(["train", "--dataset", str(path), "--results", str(root), "--json", *TINY])
    out = json.loads(capsys.readouterr().out)
    assert rc == (3 if out["failed"] else 0)           # two epochs may leave the model at chance
    key = out["key"]
    return key, root / "runs" / f"{key}.json"


def test_train_on_a_file_records_and_caches_by_content(tmp_path, seqs, capsys):
    root = tmp_path / "results"
    (tmp_path / "data").mkdir()
    p = write_pairs(tmp_path / "data" / "p.txt", seqs)
    key, rpath = train(p, root, capsys)
    text = rpath.read_text()
    rec = json.loads(text)
    assert str(tmp_path) not in text and "data/p.txt" not in text    # no path in the record
    ds = rec["dataset"]
    assert (ds["name"], ds["format"], ds["format_from"]) == ("p.txt", "pairs", "detected")
    assert (ds["git_sha1"], ds["bytes"]) == (git_blob_sha1(p.read_bytes()), p.stat().st_size)
    assert ds["users"] == 60 and "absolute path not recorded" in ds["where"]
    assert config_key(Config.from_dict(rec["config"])) == key          # what grid import checks

    (tmp_path / "moved").mkdir()
    q = tmp_path / "moved" / "p.txt"
    shutil.copyfile(p, q)
    assert train(q, root, capsys)[0] == key
    assert rpath.read_text() == text                                  # reused, not recomputed

    lines = p.read_text().splitlines()
    u, i = lines[3].split()
    lines[3] = f"{u} {int(i) % 40 + 1}"                               # one interaction changed
    p.write_text("\n".join(lines) + "\n")
    key2, rpath2 = train(p, root, capsys)
    assert key2 != key and rpath2.is_file() and rpath.read_text() == text
    assert json.loads(rpath2.read_text())["dataset"]["git_sha1"] == git_blob_sha1(p.read_bytes())


def test_grid_dataset_override(tmp_path, seqs, capsys):
    a, b = write_s3rec(tmp_path / "a.txt", seqs), write_pairs(tmp_path / "b.txt", seqs)
    runs = profiles.profile_runs("smoke", ["01", "02"], datasets=[str(a), str(b)])
    assert {c.dataset for c in runs} == {str(a), str(b)}
    per_ds = len(profiles.profile_runs("smoke", ["02"]))
    assert len(profiles.profile_runs("smoke", ["02"], datasets=[str(a), str(b)])) == 2 * per_ds
    assert cli_main(["grid", "--profile", "smoke", "--notebook", "02", "--dataset", str(a),
                     "--dry-run", "--results", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert f"datasets {a}: {per_ds} runs, {per_ds} not cached" in out
    assert "a.txt/sasrec/uniform/s1" in out


# -------------------------------------------------------------------------------- bad inputs
def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.txt: no such file.*Fix:"):
        ufnlib.load(str(tmp_path / "nope.txt"))
    with pytest.raises(SystemExit) as e:
        cli_main(["train", "--dataset", str(tmp_path / "nope.txt"), "--results", str(tmp_path), *TINY])
    assert str(e.value.code).startswith("error: ") and "nope.txt: no such file" in str(e.value.code)
    assert not (tmp_path / "runs").exists()


def test_empty_file(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(DataError, match=r"empty\.txt: the file is empty\. Fix: "):
        config_key(Config(dataset=str(tmp_path / "empty.txt")))


def test_non_integer_token_names_file_and_line(tmp_path, seqs):
    p = write_s3rec(tmp_path / "bad.txt", seqs)
    lines = p.read_text().splitlines()
    lines[2] = "u x y"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad\.txt, line 3: 'u' is not an integer id\. Fix:"):
        ufnlib.load(str(p))


def test_three_fields_under_explicit_pairs(tmp_path, seqs):
    p = write_pairs(tmp_path / "p3.txt", seqs)
    lines = p.read_text().splitlines()
    lines[4] += " 7"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"p3\.txt, line 5: expected 'user item', got 3 fields\. Fix:"):
        ufnlib.load(str(p) + "#pairs")
    # without the suffix it is read as s3rec, which fails on the repeated user, with a hint
    with pytest.raises(DataError, match=r"p3\.txt, line \d+: user \d+ appears again.*append #pairs"):
        ufnlib.load(str(p))


def test_unknown_suffix_and_folder_and_record_name(tmp_path, seqs):
    p = write_s3rec(tmp_path / "s.txt", seqs)
    with pytest.raises(DataError, match=r"unknown format suffix '#xlsx'\. Fix: "):
        ufnlib.load(str(p) + "#xlsx")
    with pytest.raises(DataError, match=r"is a folder, not a dataset file\. Fix: "):
        ufnlib.load(str(tmp_path) + "/")
    with pytest.raises(DataError, match=r"the record of a user file, not the file\. Fix: "):
        ufnlib.load(owndata.identity(str(p)).recorded())
