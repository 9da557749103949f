"""The sentences saying which cells (Table 2) and columns (Tables 3, 4) each protocol decides."""
import pandas as pd

from ufnlib.analysis import protocol_verdicts as pv


def test_cells_text_names_the_cells_each_protocol_decides_and_where_they_differ():
    def cells(*words):
        return pd.DataFrame([dict(dataset=d, backbone=b, effect=w)
                             for (d, b), w in zip((("beauty", "SASRec"), ("yelp", "SASRec"), ("beauty", "BERT4Rec")),
                                                  words)])
    text = pv.cells_text(cells("no clear difference", "no clear difference", "hurts"),
                         cells("no clear difference", "helps", "hurts"))
    assert "under sampled-100, helps in 0; hurts in 1 (BERT4Rec on beauty)" in text
    assert "under full ranking, helps in 1 (SASRec on yelp); hurts in 1 (BERT4Rec on beauty)" in text
    assert "Decided under one protocol only: SASRec on yelp (full ranking: helps; sampled-100: no clear " \
           "difference). Decided opposite ways: none." in text
    assert "Decided opposite ways: BERT4Rec on beauty." in pv.cells_text(
        cells("no clear difference", "no clear difference", "hurts"), cells("no clear difference", "helps", "helps"))


def test_columns_text_names_the_metrics_decided_per_column_and_protocol():
    def long(verdicts):
        rows = [dict(metric=m, column="SASRec", verdict=None) for m in ("hr@10", "ndcg@10")]
        rows += [dict(metric=m, column=c, verdict=w) for (c, m), w in verdicts.items()]
        return pd.DataFrame(rows)
    s = long({("+SRNS", "hr@10"): "hurts", ("+SRNS", "ndcg@10"): "hurts", ("+UFN", "hr@10"): "no clear difference",
              ("+UFN", "ndcg@10"): "no clear difference"})
    f = long({("+SRNS", "hr@10"): "helps", ("+SRNS", "ndcg@10"): "no clear difference",
              ("+UFN", "hr@10"): "no clear difference", ("+UFN", "ndcg@10"): "no clear difference"})
    lines = pv.columns_text(s, f)
    assert lines[0] == "Under sampled-100: +SRNS hurts on HR@10, NDCG@10; no metric decided for +UFN."
    assert lines[1] == "Under full ranking: +SRNS helps on HR@10; no metric decided for +UFN."
    assert lines[2] == ("In NDCG@10 alone: sampled-100 decides 1 column (+SRNS (hurts)); full ranking decides "
                        "0 columns.")
    none = long({("+UFN", "ndcg@10"): "no clear difference"})
    assert pv.columns_text(none, none)[0] == "Under sampled-100: no metric of any column decided."
