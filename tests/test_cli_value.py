"""python -m analytics clv: holdout validation as JSON, per-customer values as safe CSV, --dataset, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from analytics.value.simulate import simulate_transaction_log
from tests.helpers import ROOT


def cli(*args, workspace=None):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    if workspace is not None:
        env["MARKETLENS_WORKSPACE"] = str(workspace)
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def transactions(tmp_path_factory):
    """A transaction log (no event column): customer_id, order date, value; one customer id is a formula."""
    log = simulate_transaction_log(300, {"r": 0.8, "alpha": 20.0, "a": 0.6, "b": 3.0}, random_state=4)
    log["user_id"] = log["user_id"].replace({"c7": "=HYPERLINK(1)"})
    frame = pd.DataFrame({"customer_id": log["user_id"], "order_date": log["ts"].dt.strftime("%Y-%m-%d"),
                          "value": log["amount"]})
    path = tmp_path_factory.mktemp("clv") / "orders.csv"
    frame.to_csv(path, index=False)
    return path


def test_holdout_json_has_every_model_its_parameters_and_scores(tmp_path, sample_log):
    out = tmp_path / "holdout.csv"
    res = cli("clv", sample_log, "--calibration-end", "2025-04-15", "--holdout-days", 60, "--json", "-o", out)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["time_unit"] == "days" and d["calibration_end"] == "2025-04-15T00:00:00" and d["holdout_days"] == 60
    assert d["purchase_event"] == "purchase" and d["customers"] > 200
    assert set(d["models"]) == {"bgnbd", "paretonbd", "ml"}
    for key in ("bgnbd", "paretonbd"):
        m = d["models"][key]
        assert set(m["params"]) == set(m["std_errors"]) and len(m["params"]) == 4
        assert m["holdout_actual_total"] > 0 and m["holdout_predicted_total"] > 0
        assert m["mae"] > 0 and 0.5 < m["auc"] <= 1
    assert d["models"]["ml"]["train_customers"] > 50 and d["spend_model"]["model"] == "gamma_gamma"
    per_customer = pd.read_csv(out)
    assert list(per_customer.columns) == ["user_id", "frequency", "holdout_actual", "holdout_bgnbd",
                                          "holdout_paretonbd", "holdout_ml"]
    assert len(per_customer) == d["customers"]
    assert per_customer["holdout_actual"].sum() == d["models"]["bgnbd"]["holdout_actual_total"]


def test_without_holdout_every_customer_is_valued_in_a_formula_safe_csv(tmp_path, transactions):
    out = tmp_path / "per_user.csv"
    res = cli("clv", transactions, "--horizon-days", 180, "--time-unit", "weeks", "-o", out)
    assert res.returncode == 0, res.stderr
    assert "(time unit: weeks)" in res.stdout and "in the next 180 days" in res.stdout and str(out) in res.stdout
    per_user = pd.read_csv(out)
    assert list(per_user.columns) == ["user_id", "frequency", "recency", "T", "monetary_value", "p_alive",
                                      "expected_purchases", "expected_spend", "clv"]
    assert len(per_user) == 300 and per_user["p_alive"].between(0, 1).all() and (per_user["clv"] > 0).all()
    assert "=HYPERLINK(1)" not in set(per_user["user_id"]) and "'=HYPERLINK(1)" in set(per_user["user_id"])


def test_a_dataset_in_the_workspace_by_name(tmp_path, transactions):
    ws = tmp_path / "ws"
    assert cli("import", transactions, "--name", "Orders", workspace=ws).returncode == 0
    res = cli("clv", "--dataset", "orders", "--json", "--model", "paretonbd", workspace=ws)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["dataset"] == "Orders" and d["time_unit"] == "days" and set(d["models"]) == {"paretonbd",
                                                                                         "gamma_gamma"}
    assert d["expected_purchases_total"] > 0 and d["clv_total"] > 0 and "output" not in d
    res = cli("clv", "--dataset", "nope", "--json", workspace=ws)
    assert res.returncode == 2 and "no dataset 'nope'" in res.stderr and "Orders" in res.stderr


@pytest.mark.parametrize("args,message", [
    (["--calibration-end", "2026-01-01", "--holdout-days", 30], "is after the data"),
    (["--calibration-end", "2024-12-01", "--holdout-days", 60], "would run past the end of the data"),
    (["--purchase-event", "refund", "-o", "x.csv"], "No event in the log is called 'refund'"),
    ([], "Give -o per_user.csv"),
])
def test_bad_input_is_one_readable_line(transactions, args, message):
    res = cli("clv", transactions, *args)
    assert res.returncode == 2 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_one_purchase_per_customer_says_repeat_buying_cannot_be_learned(tmp_path, transactions):
    once = pd.read_csv(transactions).drop_duplicates("customer_id")
    path = tmp_path / "once.csv"
    once.to_csv(path, index=False)
    res = cli("clv", path, "-o", tmp_path / "out.csv")
    assert res.returncode == 2 and "two different days" in res.stderr and "Traceback" not in res.stderr
    res = cli("clv", "--dataset", "x", path, "-o", tmp_path / "out.csv")
    assert res.returncode == 2 and "not both" in res.stderr
