"""Notebook tests: every notebook in notebooks/ runs under the smoke profile and writes the
artifacts it promises; run_all.sh runs end to end; notebooks in git carry no outputs.

All output goes to a temporary UFN_RESULTS_DIR, so the committed results/ is never touched. The
kernel "ufnrec" is defined in a temporary JUPYTER_PATH to start this interpreter, so these tests
need no registered kernel. To add checks for a new notebook, add a function to CHECKS.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from ufnlib.analysis import comparison, detector_tables, heldout, protocol_report
from ufnlib.analysis import two_protocols_report as tpr

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL = "ufnrec"


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory):
    """os.environ with a JUPYTER_PATH whose kernel 'ufnrec' starts sys.executable, and this
    checkout first on PYTHONPATH (so the kernel imports this ufnlib)."""
    jp = tmp_path_factory.mktemp("jupyter")
    spec = jp / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (ufnrec, tests)", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(jp) + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
        mp.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        mp.setenv("MPLBACKEND", "Agg")
        yield dict(os.environ)


def _snapshot(folder: Path) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}


@pytest.fixture(scope="session")
def committed_results_untouched():
    """Fail if a test wrote into the committed results (any profile's report folder)."""
    before = {d: _snapshot(ROOT / "results" / d) for d in ("paper", "quick", "smoke", "runs")}
    yield
    after = {d: _snapshot(ROOT / "results" / d) for d in before}
    assert after == before, "a notebook test wrote into the committed results/ folder"


# -------------------------------------------------------------------- per-notebook checks
def check_00_data_prep(res: Path, nb) -> None:
    t = pd.read_csv(res / "tables" / "table1.csv", index_col="dataset")
    assert list(t.index) == ["synthetic"], "smoke profile must use the synthetic dataset only"
    row = t.loc["synthetic"]
    assert row["users"] > 0 and row["items"] > 0 and row["actions"] >= 5 * row["users"]
    assert row["avg_len"] >= 5 and row["max_len"] >= row["median_len"] >= 5
    assert 0 < row["density"] <= 1
    assert row["actions"] == pytest.approx(row["avg_len"] * row["users"])
    md = (res / "tables" / "table1.md").read_text()
    assert md.startswith("Table 1.") and "| synthetic |" in md
    for stem in ("00_sequence_lengths", "00_item_popularity"):
        assert (res / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (res / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    nums = json.loads((res / "tables" / "00_data_prep.json").read_text())
    assert nums["profile"] == "smoke"
    s = nums["datasets"]["synthetic"]
    assert s["users"] == row["users"] and s["actions"] == row["actions"]
    assert 0.2 <= s["top20_share"] <= 1.0  # the top 20% of items hold at least 20% of actions
    assert nums["sources"][0]["origin"] == "generated"


def _figure_ok(res: Path, stem: str) -> None:
    assert (res / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (res / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"


def check_07_teaching_false_negatives(res: Path, nb) -> None:
    g = pd.read_csv(res / "tables" / "07_false_negative_share.csv")
    assert len(g) == 4 and g["share_per_draw"].between(0, 1, inclusive="neither").all()
    for _, by_e in g.groupby("exposure"):       # a bigger catalogue dilutes the false negatives
        assert by_e.sort_values("items")["share_per_draw"].is_monotonic_decreasing
    assert (g["at_least_one_in_100"] >= g["share_per_draw"]).all()
    t = pd.read_csv(res / "tables" / "07_strategies.csv", index_col="strategy")
    assert list(t.index) == ["uniform", "removal", "fmr", "ufn"]
    assert t["test_hr10"].between(0, 1).all() and t["test_full_hr10"].between(0, 1).all()
    assert t.loc["uniform", ["mined", "random_precision"]].isna().all()   # uniform does not mine
    assert t.loc[["removal", "fmr", "ufn"], "random_precision"].between(0, 1).all()
    assert "Table 07b." in (res / "tables" / "07_strategies.md").read_text()
    sweep = pd.read_csv(res / "tables" / "07_m_sweep.csv", index_col="m")
    assert list(sweep.index) == [1]
    ra = pd.read_csv(res / "tables" / "07_runaway.csv", index_col="run")       # section 7: mining too early
    assert len(ra) == 3 and ra.loc["SASRec", "warmup_end"] != ra.loc["SASRec", "warmup_end"]   # NaN: no warm-up
    assert (res / "figures" / "07_runaway.png").is_file()
    nums = json.loads((res / "tables" / "07_teaching_false_negatives.json").read_text())
    assert nums["profile"] == "smoke"
    exact = nums["uniform_false_negative_rate"]["per_draw"]
    assert 0 < exact < 0.5
    # random negatives of a mining run are uniform draws: their measured precision is the exact rate
    assert nums["fmr_random_precision"] == pytest.approx(exact, rel=0.3)
    mp = nums["fmr_mined_precision"]
    assert mp is None or 0 <= mp <= 1
    for stem in ("07_false_negative_share", "07_mining_precision", "07_m_sweep"):
        _figure_ok(res, stem)
    if nums["srns"] is not None:
        _figure_ok(res, "07_srns_vs_fmr")
    # the exercises' solutions (cells tagged solution): compute=True, so each prints its computed reading
    sol = "".join(o.get("text", "") for c in nb.cells if "solution" in c.metadata.get("tags", [])
                  for o in c.get("outputs", []) if o.get("output_type") == "stream")
    for k in range(1, 6):
        assert f"Exercise {k} (means over seeds [1]," in sol, sol[-2000:]
    assert "not computed" not in sol


def check_08_walkthrough(res: Path, nb) -> None:
    L = pd.read_csv(res / "tables" / "08_toy_losses.csv", index_col="step")
    assert list(L.index) == [1, 2, 3, 4, 5]
    assert list(L.index[L["L_con"] > 0]) == [3, 5] and list(L.index[L["mined"] > 0]) == [3, 5]
    nums = json.loads((res / "tables" / "08_walkthrough.json").read_text())
    assert L["L_final"].tolist() == pytest.approx((L["L_basic"] + nums["alpha"] * L["L_con"]).tolist())
    assert (L.loc[[3, 5], "L_basic"] < L.loc[[3, 5], "L_basic_without_reversal"]).all()
    assert nums["memory_agrees_with_oracle"] is True and nums["reversed_at_steps"] == [3, 5]
    a3 = nums["item3_of_A"]
    assert [a3[str(t)]["source"] for t in (1, 2, 3)] == ["N_ran", "N_rec (re-fed)", "N_rec (re-fed)"]
    assert a3["3"]["label"] == 1.0 and 0.5 < a3["3"]["soft_label"] < 1 and not a3["3"]["recorded"]
    _figure_ok(res, "08_toy_logits")


# ------------------------------------------------- 01-06: the paper's tables and figures
VERDICTS = {"holds", "contradicted", "not shown", "partly computed", "not computed"}
WORDS = {"helps", "hurts", "no clear difference", "one seed, not decided"}
ORDERED = [("hr@1", "hr@5"), ("hr@5", "hr@10"), ("ndcg@5", "ndcg@10"), ("ndcg@5", "hr@5"), ("ndcg@10", "hr@10")]


def _metric_table(df: pd.DataFrame, group: list[str]) -> None:
    """Long table (one row per arm x metric): sane ranges, HR@k / NDCG@k orderings, consistent
    improvements and p-values."""
    assert set(df["metric"]) == {"hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10"}
    assert df["mean"].between(0, 1).all() and (df["std"].dropna() >= 0).all()
    for col in ("p_users", "p_seeds"):
        assert df[col].dropna().between(0, 1).all()
    for _, g in df.groupby(group):
        m = dict(zip(g["metric"], g["mean"]))
        for lo, hi in ORDERED:
            assert m[lo] <= m[hi] + 1e-12, (lo, hi, m)


def _improvements_consistent(df: pd.DataFrame, cell: list[str], arm_col: str, base: str) -> None:
    """Each comparison's change is the ratio of its two means over the seeds it compared, its
    interval holds the change, and its word is one of the comparison model's."""
    for _, g in df.groupby(cell + ["metric"]):
        b = g.loc[g[arm_col] == base, "mean"].iloc[0]
        for _, r in g[g[arm_col] != base].iterrows():
            assert r["rel_improv"] == pytest.approx(r["treat_mean"] / r["base_mean"] - 1)
            if r["n_compared"] == r["n"]:                 # every seed compared: the arms' own means
                assert r["rel_improv"] == pytest.approx((r["mean"] - b) / b)
            assert r["effect"] in WORDS
            if r["n_compared"] > 1:
                assert r["ci_low"] <= r["rel_improv"] <= r["ci_high"]


def _claims(res: Path, name: str, n: int) -> pd.DataFrame:
    c = pd.read_csv(res / "tables" / f"{name}.csv", index_col="source")
    assert len(c) == n and set(c["ours"]) <= VERDICTS
    assert (res / "tables" / f"{name}.md").read_text().startswith("Claims of the paper")
    return c


def _caption(res: Path, name: str, starts: str) -> str:
    md = (res / "tables" / f"{name}.md").read_text()
    cap = md.split("\n\n", 1)[0]
    assert cap.startswith(starts)
    assert "synthetic" in cap and "Profile: smoke" in cap and "seeds [1" in cap
    assert "chosen on validation" in cap
    return cap


def _numbers(res: Path, name: str) -> dict:
    nums = json.loads((res / "tables" / f"{name}.json").read_text())
    assert nums["profile"] == "smoke" and nums["runs"]["missing"] == [] and nums["runs"]["failed"] == {}
    return nums


def check_01_main_results(res: Path, nb) -> None:
    t = pd.read_csv(res / "tables" / "table2_data.csv")
    assert set(t["backbone"]) == {"SASRec", "BERT4Rec", "SSE-PT"} and set(t["arm"]) == {"backbone", "+UFN"}
    assert (t["n"] == 2).all() and (t["seeds"] == "1,2").all()
    assert t["paper"].isna().all()                       # synthetic data: no paper value beside it
    _metric_table(t, ["backbone", "arm"])
    _improvements_consistent(t, ["backbone"], "arm", "backbone")
    assert t.loc[t["arm"] == "+UFN", "p_users"].notna().all() and t.loc[t["arm"] == "+UFN", "p_seeds"].notna().all()
    full = pd.read_csv(res / "tables" / "table2_full_data.csv")
    _metric_table(full, ["backbone", "arm"])
    # the 100 sampled candidates are a subset of the full-ranking ones: full HR@k <= sampled HR@k
    j = t.merge(full, on=["dataset", "backbone", "arm", "metric"], suffixes=("_s", "_f"))
    assert len(j) == len(t) and (j["mean_f"] <= j["mean_s"] + 1e-12).all()
    cap = _caption(res, "table2", "Table 2. ")
    assert "sampled-100" in cap and "Wilcoxon" in cap and "Verdict, helps / hurts: the 95% interval" in cap
    assert "full ranking" in _caption(res, "table2_full", "Table 2 (full ranking).")
    c = _claims(res, "table2_claims", 4)
    assert c.loc["Table 2, observation 1", "paper"].startswith("holds")   # SSE-PT best in 13 of 15 printed cells
    nums = _numbers(res, "01_main_results")
    assert len(nums["rel_improvement_sampled"]) == 15


def check_02_ablation(res: Path, nb) -> None:
    t = pd.read_csv(res / "tables" / "table3_data.csv")
    assert list(dict.fromkeys(t["arm"])) == ["uniform", "fmr", "fcr", "ufn", "ema_eval", "ufn (student)"]
    _metric_table(t, ["arm"])
    _improvements_consistent(t, [], "arm", "uniform")
    paper = t[t["metric"] == "hr@10"].set_index("arm")["paper"]
    assert paper["uniform"] == 0.4765 and paper["ufn"] == 0.4953 and pd.isna(paper["ema_eval"])
    # the student column reads other weights than the teacher-reported UFN runs
    u = t[t["arm"] == "ufn"].set_index("metric")["mean"]
    s = t[t["arm"] == "ufn (student)"].set_index("metric")["mean"]
    assert u.index.equals(s.index)
    _caption(res, "table3", "Table 3. ")
    c = _claims(res, "table3_claims", 6)
    assert (c["paper"].dropna().str.startswith("holds")).all()    # the paper's own Table 3 satisfies its text
    _numbers(res, "02_ablation")


def check_03_srns_comparison(res: Path, nb) -> None:
    t = pd.read_csv(res / "tables" / "table4_data.csv")
    assert list(dict.fromkeys(t["arm"])) == ["uniform", "removal", "srns_rec_removal", "srns_removal",
                                              "ufn_srns_rec", "ufn_srns", "ufn"]
    assert set(t["group"]) == {"origin", "removal", "utilization"}
    _metric_table(t, ["arm"])
    _improvements_consistent(t, [], "arm", "uniform")
    _caption(res, "table4", "Table 4. ")
    c = _claims(res, "table4_claims", 4)
    # on its own printed numbers the paper's observation 1 fails (+SRNS^R HR@10 0.4744 < 0.4765); 2-4 hold
    assert c.loc["Table 4, observation 1", "paper"].startswith("does not hold")
    assert "+SRNS^R" in c.loc["Table 4, observation 1", "paper"]
    assert all(c.loc[f"Table 4, observation {k}", "paper"].startswith("holds") for k in (2, 3, 4))
    nums = _numbers(res, "03_srns_comparison")
    assert set(nums["observations"].values()) <= VERDICTS
    v = pd.read_csv(res / "tables" / "table4_vs_ufn_data.csv")          # +UFN as the baseline
    assert v.loc[v["arm"] == "ufn", "rel_improv"].isna().all()
    assert v.loc[v["arm"] != "ufn", "p_users"].between(0, 1).all()
    means = t.set_index(["arm", "metric"])["mean"]
    for r in v[v["arm"] != "ufn"].itertuples():
        assert r.rel_improv == pytest.approx(r.mean / means[("ufn", r.metric)] - 1)
    # the detectors: every mining column, with shares that are shares, on both data sets
    d = pd.read_csv(res / "tables" / "table4_detectors_data.csv")
    assert set(d["strategy"]) == {"removal", "srns_rec_removal", "srns_removal", "ufn_srns_rec", "ufn_srns", "ufn"}
    assert d["later_share"].dropna().between(0, 1).all() and (d["flagged_per_epoch"] > 0).any()
    assert d.loc[d["later_share"].isna(), "flagged_per_epoch"].eq(0).all()    # undefined only if none flagged
    assert (d["mining_epochs"] <= d["best_epoch"]).all()
    s = pd.read_csv(res / "tables" / "table4_detectors_synthetic_data.csv")
    assert set(s["strategy"]) == set(d["strategy"])
    assert s["mined_precision"].dropna().between(0, 1).all() and s["nfalse_recall"].dropna().between(0, 1).all()
    assert s["mined_precision"].notna().any()
    _figure_ok(res, "table4_detectors")
    _figure_ok(res, "table4_detectors_synthetic")
    found = detector_tables.detector_findings(d, s)               # what docs/results.md says from these tables
    assert any(f.startswith("Synthetic data: precision") for f in found) and "detector_findings" not in nums


def check_04_hyperparameters(res: Path, nb) -> None:
    d = pd.read_csv(res / "tables" / "figure3_data.csv")
    assert set(d["panel"]) == {"alpha", "m", "decay", "batch_size"}
    ufn = d[d["strategy"] == "ufn"]
    assert {p: sorted(g["value"]) for p, g in ufn.groupby("panel")} == \
        {"alpha": [0.1, 0.3], "batch_size": [32, 64], "decay": [0.9, 0.999], "m": [1, 2]}
    assert sorted(d.loc[(d["strategy"] == "uniform") & (d["panel"] == "batch_size"), "value"]) == [32, 64]
    for m in ("hr@10", "ndcg@10"):
        assert d[f"{m}_mean"].between(0, 1).all() and (d[f"{m}_count"] == 1).all()
    assert (d["ndcg@10_mean"] <= d["hr@10_mean"]).all()
    _figure_ok(res, "figure3_hyperparameters")
    _claims(res, "figure3_claims", 9)
    v = pd.read_csv(res / "tables" / "figure3_versus_data.csv", keep_default_na=False)
    swept = v[v["panel"] != "default"]
    assert set(swept["effect"]) <= WORDS and set(swept["effect_holm"]) <= WORDS
    assert "Holm's step-down correction" in (res / "tables" / "figure3_versus.md").read_text()
    nums = _numbers(res, "04_hyperparameters")
    assert len(nums["points"]) == len(d)


def check_05_training_curves(res: Path, nb) -> None:
    d = pd.read_csv(res / "tables" / "figure4_data.csv")
    rep = d[d["model"] == "reported"]
    assert set(rep["strategy"]) == {"uniform", "ufn"} and set(rep["seed"]) == {1, 2}
    for _, g in rep.groupby(["strategy", "seed"]):
        assert list(g["epoch"]) == list(range(1, 11))     # smoke: 10 epochs, validated every epoch
    assert (d.loc[d["strategy"] == "ufn", "warmup_end"] == 4).all()
    assert set(d.loc[d["model"] == "student", "epoch"]) == set(range(5, 11))   # the teacher exists after warm-up
    assert d[["hr@10", "ndcg@10"]].stack().between(0, 1).all()
    assert "validation split, not test" in (res / "tables" / "figure4_data.md").read_text()
    _figure_ok(res, "figure4_training_curves")
    c = _claims(res, "figure4_claims", 4)
    assert c.iloc[0]["ours"] == "holds"        # identical curves until warm-up ends (same seed)
    _numbers(res, "05_training_curves")


def check_06_case_study(res: Path, nb) -> None:
    case = pd.read_csv(res / "tables" / "figure5_case.csv")
    rows = set(case["row"])
    assert {"history", "next (valid, test)", "top-5 SASRec", "top-5 UFNRec"} <= rows
    assert (case["row"] == "top-5 UFNRec").sum() == 5 and (case["row"] == "next (valid, test)").sum() == 2
    assert case["categories"].str.startswith("cluster").all()        # synthetic: generator clusters
    hist = set(case.loc[case["row"] == "history", "item"])
    assert not hist & set(case.loc[case["row"].str.startswith("top-5"), "item"])   # history excluded
    assert not hist & set(case.loc[case["row"] == "mined false negative", "item"])  # negatives never in history
    agg = pd.read_csv(res / "tables" / "figure5_aggregate.csv", index_col="set")
    cols = ["dominant_category", "any_history_attribute", "later", "true_fn"]
    assert len(agg) == 2 and agg[cols].stack().between(0, 1).all()
    top = pd.read_csv(res / "tables" / "figure5_topk.csv", index_col="model")
    assert list(top.index) == ["SASRec", "UFNRec"] and top[["dominant_share", "next_hit"]].stack().between(0, 1).all()
    _figure_ok(res, "figure5_case_study")
    _claims(res, "figure5_claims", 5)
    nums = _numbers(res, "06_case_study")
    assert nums["status"].startswith("ready") and nums["mined_pairs"] > 0


def check_09_protocol(res: Path, nb) -> None:
    nums = _numbers(res, "09_protocol")
    c = _claims(res, "protocol_claims", 3 * 6)          # three statements under each of six readings
    assert set(c["ours"]) <= {"holds", "contradicted", "not shown"}  # every run there: each decided
    t = pd.read_csv(res / "tables" / "protocol_readings.csv")
    assert len(t) == 4 * 6 and set(t["strategy"]) == {"uniform", "ema_eval", "fmr", "ufn"}
    assert t["reading"].str.contains("test-selected, optimistic").sum() == 4 * 2
    w = pd.read_csv(res / "tables" / "protocol_warmup.csv")
    assert {"fixed 3", "fixed 6", "validation"} <= set(w["rule"])
    h = pd.read_csv(res / "tables" / "protocol_heldout.csv")
    assert set(h["split"]) == {"valid", "test"} and h["share"].between(0, 1).all()
    assert (res / "figures" / "09_protocol_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(protocol_report.verdict_lines(nums["verdict"])) >= 6      # words made from the stored numbers
    # the held-out intervention: the same readings with exclude_heldout runs, both settings side by side
    t_out = pd.read_csv(res / "tables" / "protocol_readings_heldout_out.csv")
    assert len(t_out) == 4 * 6 and set(t_out["strategy"]) == set(t["strategy"])
    sides = pd.read_csv(res / "tables" / "protocol_heldout_sides.csv")
    assert len(sides) == 4 * 6
    assert sides.loc[sides["strategy"] != "uniform"].filter(like="vs SASRec").notna().all().all()
    ho = pd.read_csv(res / "tables" / "protocol_heldout_out.csv")
    assert len(ho) and (ho.loc[ho["group"] == "reversed", "users"] == 0).all()   # none by construction
    hc = _claims(res, "protocol_heldout_claims", 3 * 6 + 2 * 4)
    assert set(hc["ours"]) <= {"holds", "contradicted", "not shown"}
    assert (res / "figures" / "09_heldout_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert heldout.verdict_lines(nums["heldout_verdict"])[0].startswith("With the held-out items out of reach")


def check_10_two_protocols(res: Path, nb) -> None:
    nums = _numbers(res, "10_two_protocols")
    ov = pd.read_csv(res / "tables" / "10_overall_data.csv")
    assert set(ov["protocol"]) == {"sampled-100", "full ranking"} and set(ov["word"]) <= set(comparison.WORDS)
    assert (ov["n_seeds"] >= 1).all() and ((ov["lo"] <= ov["hi"]) | (ov["n_seeds"] == 1)).all()
    assert ov["change"].to_numpy() == pytest.approx((ov["ufn"] / ov["sasrec"] - 1).to_numpy())
    # every UFN config of the plan: Table 2 (3 backbones), Figure 3 (4 smoke points), notebook 09 (6)
    assert ov["comparison"].nunique() == 13 and set(ov["source"]) == {"Table 2", "Figure 3", "notebook 09"}
    total = ov.set_index(["comparison", "protocol"])["change"]
    for kind in ("popularity", "sasrec_rank", "mined"):
        d = pd.read_csv(res / "tables" / f"10_by_{kind}_data.csv")
        assert len(d) and (res / "tables" / f"10_by_{kind}.md").read_text().startswith("UFN's change against SASRec")
        for (comp, prot), g in d.groupby(["comparison", "protocol"]):
            assert g["share"].sum() == pytest.approx(1.0)          # every evaluated user in one group
            assert g["contribution"].sum() == pytest.approx(total[(comp, prot)])   # the groups add up
    assert set(pd.read_csv(res / "tables" / "10_by_mined_data.csv")["comparison"]) == \
        {"SASRec + UFN, synthetic, fixed budget 10"}        # the only runs with held-out flags
    top = pd.read_csv(res / "tables" / "10_top10_popularity.csv", index_col="list")
    assert list(top.index) == ["SASRec top-10", "UFNRec top-10", "only in UFNRec's", "only in SASRec's", "test items"]
    shares = top.filter(like="share ")
    assert shares.loc[["SASRec top-10", "UFNRec top-10", "test items"]].sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert nums["top10_note"] == "" and nums["focus"] == "SASRec + UFN, synthetic"
    line = tpr.readme_line_of(nums["readme"])                     # the README's line, from the stored numbers
    assert line.startswith("- **Two protocols (notebook 10).**") and "\n" not in line
    assert any(a.startswith("Why they part ways") for a in tpr.answer_lines(nums["answer"]))   # numbers, not sentences
    _figure_ok(res, "10_two_protocols")


def check_11_findings(res: Path, nb) -> None:
    rows = pd.read_csv(res / "tables" / "findings_forest.csv")
    # smoke: Table 2 has one cell per backbone on the synthetic data; Tables 3/4 and 09 add theirs
    assert {"Table 2", "Table 3", "Table 4", "09 (held-out in reach)"} <= set(rows["source"])
    assert (rows["source"] == "Table 2").sum() == 3
    from ufnlib.analysis import comparison
    assert set(rows["word"]) <= set(comparison.WORDS)
    both = rows.dropna(subset=["low", "high"])
    assert ((both["low"] <= both["change"]) & (both["change"] <= both["high"])).all()
    nums = json.loads((res / "tables" / "11_findings.json").read_text())
    assert nums["profile"] == "smoke" and nums["rows"] == len(rows) and sum(nums["counts"].values()) == len(rows)
    _figure_ok(res, "findings_forest")


CHECKS = {"00_data_prep": check_00_data_prep,
          "01_main_results": check_01_main_results, "02_ablation": check_02_ablation,
          "03_srns_comparison": check_03_srns_comparison, "04_hyperparameters": check_04_hyperparameters,
          "05_training_curves": check_05_training_curves, "06_case_study": check_06_case_study,
          "07_teaching_false_negatives": check_07_teaching_false_negatives,
          "08_walkthrough": check_08_walkthrough, "09_protocol": check_09_protocol,
          "10_two_protocols": check_10_two_protocols, "11_findings": check_11_findings}


# ---------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean(path):
    """In git: no outputs, no execution counts, exactly one `parameters` cell defining profile."""
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{path.name} carries outputs; clear them (executed copies belong in results/)"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: expected one cell tagged 'parameters', got {len(params)}"
    assert "profile = " in params[0].source


def _cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", []))) for c in nb.cells]


def pairs_out_of_sync(folder: Path) -> list[str]:
    """Notebooks in ``folder`` whose jupytext pair (NN_name.py, percent format) is missing or
    holds other cells (type, source, tags) than the .ipynb."""
    import jupytext
    bad = []
    for ipynb in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        py = ipynb.with_suffix(".py")
        if not py.is_file():
            bad.append(f"{ipynb.name}: no {py.name}")
        elif _cells(jupytext.read(py)) != _cells(nbformat.read(str(ipynb), as_version=4)):
            bad.append(f"{ipynb.name} and {py.name} differ")
        elif nbformat.read(str(ipynb), as_version=4).metadata.get("jupytext", {}).get("formats") != "ipynb,py:percent":
            bad.append(f"{ipynb.name}: not paired (jupytext formats ipynb,py:percent)")
    return bad


def test_notebook_pairs_in_sync():
    """Each notebook is a .ipynb (what JupyterLab opens) paired with a jupytext .py (what diffs
    read); both hold the same cells. Fix: `jupytext --sync notebooks/NN_name.ipynb`."""
    assert pairs_out_of_sync(ROOT / "notebooks") == []


def test_a_notebook_edited_as_a_notebook_syncs_to_its_pair(tmp_path):
    """A contributor edits the .ipynb (as JupyterLab saves it) and runs the pairing sync: the pair
    is in sync again and the .py carries the edit; no generator is involved."""
    import shutil
    for f in ("02_ablation.ipynb", "02_ablation.py"):
        shutil.copy(ROOT / "notebooks" / f, tmp_path / f)
    ipynb = tmp_path / "02_ablation.ipynb"
    nb = json.loads(ipynb.read_text())
    md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    md["source"] = md["source"] + ["\n", "An added sentence with $\\alpha$ in it."]
    ipynb.write_text(json.dumps(nb, indent=1))
    assert pairs_out_of_sync(tmp_path) == ["02_ablation.ipynb and 02_ablation.py differ"]
    r = subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(ipynb)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert pairs_out_of_sync(tmp_path) == []
    assert "An added sentence with $\\alpha$ in it." in (tmp_path / "02_ablation.py").read_text()


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """One results folder for the notebook smoke tests, as run_all.sh has: a run computed for one
    notebook is reused by the next (01-06 share their SASRec and UFN runs); each notebook's own
    tables and figures are checked."""
    return tmp_path_factory.mktemp("smoke") / "results"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_smoke(path, tmp_path, kernel_env, committed_results_untouched, monkeypatch, smoke_results):
    import papermill as pm
    res = smoke_results
    monkeypatch.setenv("UFN_RESULTS_DIR", str(res))
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"profile": "smoke", "compute": True}, kernel_name=KERNEL,
                        language="python", cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = nbformat.read(str(out), as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    check = CHECKS.get(path.stem)
    if check is None:
        pytest.skip(f"{path.stem} ran; no artifact checks registered in CHECKS yet")
    check(res / "smoke", nb)     # the smoke profile's report folder


REPORT_NOTEBOOKS = [p for p in NOTEBOOKS if p.stem[:2] in ("01", "02", "03", "04", "05", "06", "09", "10")]
NO_CLAIMS = {"10_two_protocols"}     # reads the paper's claims' runs under a second protocol; decides no claim


@pytest.mark.parametrize("path", REPORT_NOTEBOOKS, ids=[p.stem for p in REPORT_NOTEBOOKS])
def test_notebook_lists_missing_runs(path, tmp_path, kernel_env, committed_results_untouched, monkeypatch):
    """compute=False on an empty cache: the notebook runs to its end, lists the missing runs and
    records them in its key numbers instead of failing."""
    import papermill as pm
    res = tmp_path / "results"
    monkeypatch.setenv("UFN_RESULTS_DIR", str(res))
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"profile": "smoke", "compute": False},
                        kernel_name=KERNEL, language="python", cwd=str(ROOT / "notebooks"), progress_bar=False)
    nb = nbformat.read(str(out), as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")
    assert "missing (not in the cache" in text and "0 of " in text
    assert not (res / "runs").is_dir() or not list((res / "runs").glob("*.json"))   # nothing computed
    nums = json.loads((res / "smoke" / "tables" / f"{path.stem}.json").read_text())
    assert nums["runs"]["available"] == 0 and nums["runs"]["missing"]
    claims = [f for f in (res / "smoke" / "tables").glob("*claims.csv")]
    assert (path.stem in NO_CLAIMS or claims) and all(set(pd.read_csv(f)["ours"]) == {"not computed"} for f in claims)


def test_run_all_smoke(tmp_path, committed_results_untouched, smoke_results):
    """bash run_all.sh --profile smoke runs every notebook and writes the executed copies, their
    HTML and index.html under UFN_RESULTS_DIR. Runs the notebook smoke tests already computed are
    copied in first (computing them is tested there)."""
    import shutil
    res = tmp_path / "results"
    for sub in ("runs", "models"):
        if (smoke_results / sub).is_dir():
            shutil.copytree(smoke_results / sub, res / sub)
    env = {**os.environ, "UFN_RESULTS_DIR": str(res), "MPLBACKEND": "Agg"}
    r = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--profile", "smoke"], cwd=tmp_path, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    index = (res / "index.html").read_text()
    run = json.loads((res / "smoke" / "run.json").read_text())
    assert [n["name"] for n in run["notebooks"]] == [p.stem for p in NOTEBOOKS]
    assert all(n["status"] == "ok" for n in run["notebooks"])
    for p in NOTEBOOKS:
        assert (res / "smoke" / "notebooks" / f"{p.stem}.ipynb").is_file()
        assert (res / "smoke" / "notebooks" / f"{p.stem}.html").stat().st_size > 1000
        assert f'href="smoke/notebooks/{p.stem}.ipynb"' in index
    assert run["git"]["commit"] in index or run["git"]["commit"][:12] in index
    assert (res / "smoke" / "tables" / "table1.csv").is_file()
    assert not (res / "tables").exists() and not (res / "quick").exists()   # only the profile's folder
    # quiet: one status line per notebook, then the claims' summary; the rest is in the log
    lines = r.stdout.splitlines()
    status = [l for l in lines if l.startswith("[") and "/" in l.split("]")[0]]
    assert len(status) == len(NOTEBOOKS) and all(l.split()[-3] == "ok" for l in status), status
    assert len(lines) < len(NOTEBOOKS) + 80, r.stdout[-3000:]
    assert "claims of the paper tested under profile 'smoke'" in r.stdout
    log = (res / "smoke" / "run_all.log").read_text()
    assert "papermill" in log.lower() or "Executing" in log
    summary = (res / "smoke" / "summary.md").read_text()
    assert "| claim | verdict | evidence |" in summary and "02_ablation.ipynb" in summary
    # no folder of this machine in what the run wrote into the report
    for f in (res / "smoke").rglob("*"):
        if f.suffix in (".json", ".md", ".csv"):
            assert str(tmp_path) not in f.read_text(), f


def test_describe_failure_names_the_cell(tmp_path):
    """run_all.sh's failure message points at the failing cell, not counting papermill's cells."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from ufnlib.analysis.runindex import describe_failure
    cells = [new_code_cell("profile = 'quick'"), new_code_cell("profile = 'smoke'"),
             new_code_cell("x = 1"), new_code_cell("1 / 0\ny = 2")]
    cells[1].metadata["tags"] = ["injected-parameters"]
    cells[3].outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                   traceback=[])]
    cells[3].execution_count = 4
    p = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=cells), str(p))
    msg = describe_failure(p)
    assert "code cell 3 " in msg and "1 / 0" in msg and "ZeroDivisionError: division by zero" in msg


def test_run_all_report_only_trains_nothing(tmp_path, committed_results_untouched):
    """run_all.sh --report-only on an empty cache: the notebook runs, lists its missing runs and
    trains nothing (papermill gets compute=False)."""
    res = tmp_path / "results"
    env = {**os.environ, "UFN_RESULTS_DIR": str(res), "MPLBACKEND": "Agg"}
    r = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--profile", "smoke", "--report-only", "--only", "01"],
                       cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert not list((res / "runs").glob("*.json")) if (res / "runs").is_dir() else True
    nb = nbformat.read(str(next((res / "smoke" / "notebooks").glob("01_*.ipynb"))), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")
    assert "missing (not in the cache" in text


def test_finish_tidies_and_renders_in_one_call(tmp_path):
    """run_all.sh's last step per run: every executed notebook loses its run-to-run times and gets
    its HTML page, in one process; a notebook that is not there is skipped."""
    import json
    import shutil

    from ufnlib.analysis.runindex import finish
    src = ROOT / "results" / "paper" / "notebooks" / "02_ablation.ipynb"
    nb = tmp_path / "02_ablation.ipynb"
    shutil.copy(src, nb)
    d = json.loads(nb.read_text())
    d["metadata"].setdefault("papermill", {})["start_time"] = "2026-01-01T00:00:00"
    d["cells"][0]["metadata"]["execution"] = {"iopub.status.busy": "x"}
    nb.write_text(json.dumps(d))
    assert finish([nb, tmp_path / "missing.ipynb"], tmp_path) == []
    d = json.loads(nb.read_text())
    assert "start_time" not in d["metadata"]["papermill"] and "execution" not in d["cells"][0]["metadata"]
    assert (tmp_path / "02_ablation.html").stat().st_size > 1000 and not (tmp_path / "missing.html").exists()
