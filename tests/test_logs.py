"""Interaction logs as datasets (``ufnlib.data.logs``): CSV/TSV with string ids and timestamps and
RecBole's atomic ``.inter`` files; every malformed input is one error naming file, line and fix."""
from __future__ import annotations

import gzip
import json

import pytest

import ufnlib
from ufnlib import Config, DataError, config_key
from ufnlib.__main__ import main as cli_main
from ufnlib.data import owndata
from ufnlib.data.datasets import git_blob_sha1
from ufnlib.data.synthetic import from_spec, write_file

TINY = ["--set", "max_epochs=2", "--set", "hidden=8", "--set", "n_neg=5", "--set", "eval_neg=20",
        "--set", "maxlen=10", "--quiet", "--threads", "1"]

# alice: m2 (t=10), m3 (20), m1 (30), m1 again (40: a repeat); bob: m1 (5), then m2 and m3 tied
# at t=10 (file order: m2 first); carol has one event
LOG = [("alice", "m1", "30"), ("bob", "m2", "10"), ("alice", "m2", "10"), ("alice", "m1", "40"),
       ("bob", "m3", "10"), ("bob", "m1", "5"), ("alice", "m3", "20"), ("carol", "m1", "1")]


def write_log(path, rows=LOG, header="user,item,timestamp", sep=","):
    path.write_text((header + "\n" if header else "") + "".join(sep.join(r) + "\n" for r in rows))
    return path


def readable(seqs):
    """{user id: [item ids]} in the file's own ids."""
    m = seqs.extra["id_maps"]
    return {m["user"][u]: [m["item"][i - 1] for i in seqs.seq(u)] for u in range(seqs.n_users)}


# ------------------------------------------------------------------------------ reading logs
def test_csv_sorted_by_time_ties_in_file_order_repeats_and_short_users(tmp_path):
    p = write_log(tmp_path / "log.csv")
    s = ufnlib.load(str(p))
    assert owndata.identity(str(p)).fmt == "csv"
    assert readable(s) == {"alice": ["m2", "m3", "m1"], "bob": ["m1", "m2", "m3"]}   # carol: < 3 events
    assert s.extra["id_maps"] == {"user": ["alice", "bob"], "item": ["m1", "m2", "m3"]}  # first appearance
    assert (s.extra["log"]["duplicates_dropped"], s.extra["log"]["users_dropped"]) == (1, 1)
    keep = ufnlib.load(str(p) + "#csv:dups=keep,min_events=1")
    assert readable(keep) == {"alice": ["m2", "m3", "m1", "m1"], "bob": ["m1", "m2", "m3"], "carol": ["m1"]}
    assert readable(ufnlib.load(str(p) + "#csv:dups=last"))["alice"] == ["m2", "m3", "m1"]
    assert readable(ufnlib.load(str(p) + "#csv:dups=last,min_events=1"))["carol"] == ["m1"]
    with pytest.raises(DataError, match=r"no user has 5 or more events.*Fix: lower the threshold"):
        ufnlib.load(str(p) + "#csv:min_events=5")


def test_dups_last_moves_the_repeated_item_to_its_last_time(tmp_path):
    rows = [("u", "a", "1"), ("u", "b", "2"), ("u", "a", "3"), ("u", "c", "4")]
    p = write_log(tmp_path / "r.csv", rows)
    assert readable(ufnlib.load(str(p)))["u"] == ["a", "b", "c"]
    assert readable(ufnlib.load(str(p) + "#csv:dups=last"))["u"] == ["b", "a", "c"]


@pytest.mark.parametrize("sep, header", [("\t", "user_id\titem_id\ttimestamp"), (";", "userId;movieId;timestamp"),
                                         (",", None), ("\t", None), (" ", None)])
def test_separators_and_headers(tmp_path, sep, header):
    p = write_log(tmp_path / "log.tsv", header=header, sep=sep)
    assert readable(ufnlib.load(str(p) + "#csv")) == {"alice": ["m2", "m3", "m1"], "bob": ["m1", "m2", "m3"]}


def test_integer_log_without_header_is_detected_and_other_columns_ignored(tmp_path):
    p = tmp_path / "ints.txt"          # user item timestamp, integer ids, users repeat: a log
    p.write_text("7 3 200\n7 4 100\n9 3 5\n9 5 6\n7 5 300\n9 4 1\n")
    assert owndata.detect_format(p.read_bytes()) == "csv"
    assert readable(ufnlib.load(str(p))) == {"7": ["4", "3", "5"], "9": ["4", "3", "5"]}
    ml = tmp_path / "ratings.csv"      # MovieLens' layout: the rating column is not read
    ml.write_text("userId,movieId,rating,timestamp\n1,10,4.0,300\n1,20,5.0,100\n1,30,1.0,200\n")
    assert readable(ufnlib.load(str(ml))) == {"1": ["20", "30", "10"]}


def test_iso_dates_and_columns_named_in_options(tmp_path):
    p = tmp_path / "clicks.csv"
    p.write_text("when,visitor,product\n2024-03-02T10:00:00,v1,p9\n2024-03-01,v1,p8\n"
                 "2024-03-02 09:00:00,v1,p7\n")
    with pytest.raises(DataError, match=r"clicks\.csv, line 1: the header \(when, visitor, product\) names no "
                                        r"user column.*Fix: .*user=COL"):
        ufnlib.load(str(p))
    s = ufnlib.load(str(p) + "#csv:user=visitor,item=3,time=when")
    assert readable(s) == {"v1": ["p8", "p7", "p9"]}
    nt = ufnlib.load(str(p) + "#csv:user=visitor,item=product,time=none")     # file order
    assert readable(nt) == {"v1": ["p9", "p8", "p7"]}


def test_recbole_inter(tmp_path):
    p = tmp_path / "shop.inter"
    p.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                 + "".join(f"{u}\t{i}\t1\t{t}\n" for u, i, t in LOG))
    assert owndata.detect_format(p.read_bytes()) == "inter"
    assert readable(ufnlib.load(str(p))) == {"alice": ["m2", "m3", "m1"], "bob": ["m1", "m2", "m3"]}


def test_generated_log_reads_back_the_generators_sequences(tmp_path):
    spec = "synthetic:users=80,items=60,clusters=4"
    s = ufnlib.load(str(write_file(spec, tmp_path / "g.csv", "csv")))
    g = from_spec(spec)
    back = readable(s)
    assert len(back) == g.n_users
    for k, u in enumerate(g.user_ids):
        assert back[f"user-{u}"] == [f"sku-{i}" for i in g.seq(k)]


def test_options_are_part_of_the_key_defaults_are_not(tmp_path):
    p = write_log(tmp_path / "log.csv")
    k = config_key(Config(dataset=str(p)))
    assert config_key(Config(dataset=str(p) + "#csv")) == k
    assert config_key(Config(dataset=str(p) + "#csv:dups=first,min_events=3")) == k
    k2 = config_key(Config(dataset=str(p) + "#csv:min_events=1"))
    assert k2 != k
    ident = owndata.identity(str(p) + "#csv:min_events=1")
    assert ident.recorded().startswith("file:log.csv#csv:min_events=1@")
    assert config_key(Config(dataset=ident.recorded())) == k2                  # without the file


# ------------------------------------------------------------------------------ a log trains
def test_csv_log_trains_records_by_content_and_saves_id_maps(tmp_path, capsys):
    from ufnlib.experiments.recommend import recommend
    data = write_file("synthetic:users=60,items=40,clusters=4", tmp_path / "clicks.csv", "csv")
    root = tmp_path / "res"
    rc = cli_main(["train", "--dataset", str(data), "--results", str(root), "--json", *TINY])
    out = json.loads(capsys.readouterr().out)
    assert rc == (3 if out["failed"] else 0)           # two epochs may leave the model at chance
    rec = json.loads((root / "runs" / f"{out['key']}.json").read_text())
    ds = rec["dataset"]
    assert (ds["name"], ds["format"], ds["git_sha1"]) == ("clicks.csv", "csv", git_blob_sha1(data.read_bytes()))
    assert rec["config"]["dataset"].startswith(f"file:clicks.csv#csv@{ds['git_sha1']},")
    assert str(tmp_path) not in json.dumps(rec)
    assert ds["read"]["time_column"] == "timestamp" and rec["preset"]["name"] == "new_data"
    maps = json.loads(gzip.decompress((root / "runs" / f"{out['key']}.ids.json.gz").read_bytes()))
    assert maps["user"][0].startswith("user-") and all(i.startswith("sku-") for i in maps["item"])
    cfg = Config.from_dict({**rec["config"], "dataset": str(data)})
    recs = recommend(cfg, k=3, users=["user-5"], root=root)
    assert list(recs["user"]) == ["user-5"] * 3 and list(recs["rank"]) == [1, 2, 3]
    seen = set(readable(ufnlib.load(str(data)))["user-5"])
    assert all(i.startswith("sku-") and i not in seen for i in recs["item"])
    # the maps travel with the run through a grid archive
    from ufnlib.experiments import grid
    grid.archive(tmp_path / "a.tar.gz", [cfg], root=root)
    assert grid.import_archive(tmp_path / "a.tar.gz", root=tmp_path / "b")["imported"] == 1
    assert (tmp_path / "b" / "runs" / f"{out['key']}.ids.json.gz").read_bytes() == \
        (root / "runs" / f"{out['key']}.ids.json.gz").read_bytes()


# ---------------------------------------------------------------------------------- bad input
BAD = [
    ("header.csv", "user,item,timestamp\n", r"header\.csv: only a header, no interactions\. Fix: "),
    ("short.csv", "user,item,timestamp\na,b,1\nc,d\n", r"short\.csv, line 3: 2 fields, expected at least 3.*Fix: "),
    ("empty_id.csv", "user,item,timestamp\na,b,1\n,d,2\n", r"empty_id\.csv, line 3: empty user id\. Fix: "),
    ("time.csv", "user,item,timestamp\na,b,1\na,c,yesterday\n",
     r"time\.csv, line 3: timestamp 'yesterday' is neither a number nor an ISO 8601 date.*Fix: .*time=none"),
    ("mixed.csv", "user,item,timestamp\na,b,1700000000\na,c,2024-01-01\n",
     r"mixed\.csv, line 3: timestamp '2024-01-01' is a date without time zone, but line 2's is a number\. Fix: "),
    ("wide.csv", "1,2,3,4\n1,3,4,5\n", r"wide\.csv, line 1: 4 fields and no header.*Fix: add a header line"),
    ("names.csv", "who,what,when\na,b,1\n",
     r"names\.csv, line 1: the header \(who, what, when\) names no user column.*Fix: "),
    ("quote.csv", 'user,item,timestamp\na,"b,1\nc,d,2\n', r"quote\.csv, line \d+: not readable.*Fix: close the quote"),
    ("latin1.csv", b"user,item,timestamp\na,caf\xe9,1\n", r"latin1\.csv, line 2: bytes that are not UTF-8.*Fix: "),
    ("bad.inter", "user_id:token\titem_id\ttimestamp:float\na\tb\t1\na\tc\t2\na\td\t3\n", None),  # csv, by alias
    ("typed.inter#inter", "user_id:token\titem_id\ttimestamp:float\na\tb\t1\n",
     r"typed\.inter, line 1: header field 'item_id' is not 'name:type'.*Fix: "),
    ("nouser.inter", "session_id:token\titem_id:token\ttimestamp:float\ns\tb\t1\n",
     r"nouser\.inter, line 1: the header \(session_id:token, item_id:token, timestamp:float\) names no user column.*"
     r"Fix: .*user=COL"),
]


@pytest.mark.parametrize("name, content, error", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_clear_error(tmp_path, name, content, error):
    fname, _, fmt = name.partition("#")
    p = tmp_path / fname
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    spec = str(p) + (f"#{fmt}" if fmt else "")
    if error is None:
        ufnlib.load(spec)
        return
    with pytest.raises(DataError, match=error):
        ufnlib.load(spec)


@pytest.mark.parametrize("opts, error", [
    ("dups=twice", r"dups=twice is not one of first\|last\|keep\. Fix: "),
    ("min_events=0", r"min_events=0 is not an integer >= 1\. Fix: "),
    ("sort=time", r"unknown option 'sort=time' for #csv\. Fix: "),
    ("user=9", r"line 1: user=9 but the header has 3 columns\. Fix: "),
    ("item=product", r"line 1: item=product names no column of the header.*Fix: ")])
def test_bad_options(tmp_path, opts, error):
    p = write_log(tmp_path / "log.csv")
    with pytest.raises(DataError, match=error):
        ufnlib.load(f"{p}#csv:{opts}")


def test_headerless_wide_file_needs_every_column_named(tmp_path):
    p = tmp_path / "u.data"            # MovieLens 100k: user item rating timestamp, tab-separated
    p.write_text("1\t10\t5\t300\n1\t20\t1\t100\n1\t30\t3\t200\n")
    with pytest.raises(DataError, match=r"u\.data, line 1: 4 fields and no header.*name all three"):
        ufnlib.load(f"{p}#csv:user=1,item=2")       # time would silently be the rating
    assert readable(ufnlib.load(f"{p}#csv:user=1,item=2,time=4")) == {"1": ["20", "30", "10"]}


def test_options_on_an_integer_format_and_cli_error(tmp_path):
    p = write_log(tmp_path / "log.csv")
    with pytest.raises(DataError, match=r"#s3rec takes no options.*Fix: drop"):
        ufnlib.load(f"{p}#s3rec:dups=keep")
    with pytest.raises(SystemExit) as e:       # bad options fail before anything trains
        cli_main(["train", "--dataset", f"{p}#csv:dups=twice", "--results", str(tmp_path / "r"), *TINY])
    assert str(e.value.code).startswith("error: ") and "Fix:" in str(e.value.code)
    assert not (tmp_path / "r").exists()
