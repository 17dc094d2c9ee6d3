"""python -m analytics recommend: recommenders compared on a log, each user's top K written, one-line errors."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from analytics.cli import main
from analytics.cli import recommend as cli_recommend
from analytics.recommend import DEFAULT_MODELS, DEFAULT_WEIGHTS, MODELS
from tests.helpers import write
from tests.test_cli_models import cli


def test_last_n_with_json_and_the_list(tmp_path, sample_log):
    out = tmp_path / "recs.csv"
    res = cli("recommend", sample_log, "--models", "pop,ease", "--json", "-o", out)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    proto = summary["protocol"]
    assert (proto["name"], proto["n_holdout"], proto["k"], proto["split_date"]) == ("last-n", 5, [10, 20], None)
    assert "the 5 products they came to last are hidden" in proto["description"]
    assert set(summary["models"]) == {"pop", "ease"} and summary["best"] == "ease"
    for m in summary["models"].values():
        assert {"recall@10", "ndcg@10", "hit_rate@10", "coverage@10", "recall@20", "ndcg@20"} <= set(m)
    assert summary["models"]["ease"]["ndcg@20"] > summary["models"]["pop"]["ndcg@20"]
    assert summary["interactions"]["item_column"] == "item_id" and summary["interactions"]["items"] == 300
    assert summary["output_model"] == "ease"
    recs = pd.read_csv(out)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert recs["user_id"].nunique() == summary["interactions"]["users"] == summary["output_users"]
    assert recs.groupby("user_id")["rank"].max().eq(20).all()


def test_time_split_and_its_date(sample_log):
    res = cli("recommend", sample_log, "--evaluate", "time-split", "--split-date", "2025-06-01", "--k", "10",
              "--models", "pop", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert (summary["protocol"]["name"], summary["protocol"]["split_date"], summary["protocol"]["k"]) == (
        "time-split", "2025-06-01", [10])
    assert "Time split at 2025-06-01" in summary["protocol"]["description"] and "output" not in summary


LOG = "customer;when;action;sku;unit_price;amount\n" + "".join(
    f"c{u};2025-01-{1 + (u + j) % 28:02d} 1{j % 10}:00;{'buy' if j % 3 == 0 else 'look'};s{(u * 7 + j * 3) % 12};"
    f"{(u % 5) + 0.99};{'10' if j % 3 == 0 else ''}\n" for u in range(40) for j in range(8))


def run(capsys, *args) -> tuple[int, str, str]:
    """The command in this process (the subprocess tests above cover the real entry point)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_role_flags_item_column_and_weights(tmp_path, capsys):
    log = write(tmp_path / "shop.csv", LOG)
    out = tmp_path / "recs.csv"
    code, stdout, stderr = run(capsys, "recommend", log, "--user-col", "customer", "--time-col", "when", "--event-col",
                               "action", "--item-col", "sku", "--weights", "look=1,buy=5", "--evaluate", "none",
                               "--models", "itemknn", "--k", "3", "-o", out, "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["interactions"]["weights"] == {"look": 1.0, "buy": 5.0} and summary["models"] == {}
    assert summary["output_model"] == "itemknn"
    recs = pd.read_csv(out)
    assert recs["user_id"].nunique() == 40 and recs["rank"].max() == 3


@pytest.mark.parametrize("args, says", [
    (["--item-col", "unit_price"], "numbers with decimals"),
    (["--item-col", "nope"], "'nope' is not in the file.*sku"),
    (["--item-col", "sku", "--models", "pop,magic"], "Unknown recommender 'magic'"),
    (["--item-col", "sku", "--weights", "look"], "event=weight"),
    (["--item-col", "sku", "--split-date", "2025-01-05"], "--split-date goes with --evaluate time-split"),
    (["--item-col", "sku", "--n", "8"], "No user has more than 8 products"),
    (["--item-col", "sku", "--evaluate", "none"], "Nothing to do"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, says):
    log = write(tmp_path / "shop.csv", LOG)
    code, _, stderr = run(capsys, "recommend", log, "--user-col", "customer", "--time-col", "when", "--event-col",
                          "action", *args)
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and re.search(says, stderr), stderr


def test_logs_without_products_or_with_one(tmp_path, capsys):
    code, _, stderr = run(capsys, "recommend", write(tmp_path / "plain.csv", "user,time,event,channel\n"
                                                     "a,2025-01-01,view,email\nb,2025-01-02,buy,ads\n"))
    assert code == 2 and "need an item column" in stderr and "'channel'" in stderr
    one = "user,time,event,item_id\n" + "".join(f"u{i},2025-01-0{1 + i % 5},purchase,p1\n" for i in range(20))
    code, _, stderr = run(capsys, "recommend", write(tmp_path / "one.csv", one))
    assert code == 2 and "Only one product" in stderr and "Traceback" not in stderr


def test_the_help_lists_what_the_library_has():
    assert cli_recommend.MODEL_NAMES == tuple(MODELS)
    assert cli_recommend.DEFAULT_MODELS == ",".join(DEFAULT_MODELS)
    assert cli_recommend.parse_weights(cli_recommend.DEFAULT_WEIGHTS) == DEFAULT_WEIGHTS
