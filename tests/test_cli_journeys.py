"""python -m analytics funnel / retention: the library's numbers, from a log or a stored dataset; readable errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from analytics.journeys import funnel, retention
from tests.helpers import ROOT

SHOP = ["page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"]


def cli(*args, workspace=None):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    if workspace is not None:
        env["MARKETLENS_WORKSPACE"] = str(workspace)
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=300)


def library(workspace, ds, compute):
    """A library result on the stored sample, with the workspace closed afterwards (the CLI opens it next)."""
    from analytics.workspace import close_all

    result = compute(workspace.cursor(), ds.events_table)
    close_all()
    return result


def test_funnel_of_a_log_is_the_library_funnel(tmp_path, workspace, sample_dataset, sample_log):
    expected = library(workspace, sample_dataset, lambda con, t: funnel(con, t, SHOP, 7, by="channel"))
    out = tmp_path / "funnel.csv"
    res = cli("funnel", sample_log, "--steps", ",".join(SHOP), "--window-days", 7, "--by", "channel", "--json",
              "-o", out)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == expected.to_dict()
    assert [s["users"] for s in doc["steps"]] == [949, 801, 364, 226, 157]
    assert doc["steps"][0]["event"] == "page_view" and len(doc["breakdown"]) == 6
    table = pd.read_csv(out)
    overall = table[table["group"] == "(all users)"]
    assert list(overall["users"]) == [s.users for s in expected.steps]
    email = table[table["group"] == "email"]
    assert list(email["users"]) == [s.users for s in next(g for g in expected.groups if g.value == "email").steps]


def test_funnel_options_and_the_readable_summary(workspace, sample_dataset):
    expected = library(workspace, sample_dataset, lambda con, t: funnel(
        con, t, ["view_item", "purchase", "view_item"], 2.5, exclude="search", any_order=True))
    res = cli("funnel", "--dataset", "Sample shop", "--steps", "view_item,purchase,view_item", "--window-days", 2.5,
              "--exclude", "search", "--any-order", workspace=workspace.root)
    assert res.returncode == 0, res.stderr
    first = res.stdout.splitlines()[0]
    assert first.startswith("Funnel view_item > purchase > view_item, in any order within 2.5 days, without search")
    assert f"{expected.users:,} users entering, {expected.steps[-1].users:,} completed" in first
    assert len(res.stdout.splitlines()) == 4


def test_retention_of_a_stored_dataset_by_name(tmp_path, workspace, sample_dataset):
    expected = library(workspace, sample_dataset, lambda con, t: retention(
        con, t, "month", cohort_event="purchase", return_event="purchase", by="platform"))
    out = tmp_path / "retention.csv"
    res = cli("retention", "--dataset", "sample SHOP", "--period", "month", "--start-event", "purchase",
              "--event", "purchase", "--by", "platform", "--json", "-o", out, workspace=workspace.root)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == expected.to_dict()
    m = expected.matrix
    assert [c["start"] for c in doc["cohorts"]] == [str(c) for c in m.cohort_starts]
    assert [c["retained"] for c in doc["cohorts"]] == m.counts
    table = pd.read_csv(out)
    overall = table[table["group"] == "(all users)"]
    assert list(overall["cohort"]) == [str(c) for c in m.cohort_starts] and list(overall["users"]) == m.sizes
    assert [int(v) for v in overall["1"].dropna()] == [row[1] for row in m.counts if len(row) > 1]
    # By id, without --json: the matrix as text; nothing was stored in the workspace by the command.
    res = cli("retention", "--dataset", sample_dataset.id, workspace=workspace.root)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "949 users in 26 cohorts" in lines[0] and lines[2].startswith("  2024-12-30      305   100%")
    from analytics.workspace import Workspace

    assert Workspace(workspace.root).results(sample_dataset.id, "journey") == []


DS = ["--dataset", "DS"]  # the sample dataset's id


@pytest.mark.parametrize("args,message", [
    (["funnel", *DS, "--steps", "page_view,purchse"], "Never occurs in this dataset: step 2 'purchse'"),
    (["funnel", *DS, "--steps", "page_view,purchase", "--window-days", "0"], "more than 0 and at most 366 days"),
    (["funnel", *DS, "--steps", "page_view"], "A funnel needs 2 to 10 steps, got 1"),
    (["funnel", *DS, "--steps", "page_view,purchase", "--by", "colour"], "Cannot break down by 'colour'"),
    (["retention", *DS, "--start-event", "signup"], "Never occurs in this dataset: starting event 'signup'"),
    (["retention", "--dataset", "nope"], "There is no dataset 'nope'"),
    (["retention", "sample.csv", *DS], "not both"),
    (["retention"], "Give a log file, or --dataset"),
])
def test_bad_input_is_one_line(workspace, sample_dataset, capsys, args, message):
    """In process (the exit code and the message are the command's; no interpreter to start per case)."""
    from analytics.cli import main

    assert main([sample_dataset.id if a == "DS" else a for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: "), err
