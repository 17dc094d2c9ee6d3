"""python -m analytics attribution: the library's result as JSON, CSV outputs, --dataset, role flags, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from analytics.attribution import MODELS, attribute
from analytics.workspace import Workspace
from tests.helpers import ROOT, csv_bytes
from tests.social_helpers import SOCIAL_LOG, social_sample


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})},
                          timeout=300)


def run(capsys, *args):
    """The same command in this process (``main`` catches and prints exactly as the console script does)."""
    from analytics.cli import main

    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out, err)


def rounded(obj):
    return json.loads(json.dumps(obj), parse_float=lambda x: round(float(x), 9))


def one_line_error(res, *words: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


def write_log(path, rows, columns=("user", "time", "event", "channel")):
    path.write_bytes(csv_bytes(pd.DataFrame(rows, columns=list(columns))))
    return path


def test_json_is_the_library_result_and_click_through_credits_facebook(tmp_path):
    res = cli("attribution", SOCIAL_LOG, "--conversion", "purchase", "--lookback-days", 30, "--by", "channel",
              "--touch-events", "click", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    with social_sample(tmp_path / "ws") as (con, table, _events, _truth):
        expected = attribute(con, table, "purchase", by="channel", lookback_days=30, touch_events=["click"]).to_dict()
    assert out.pop("outputs") == {"credits": None, "paths": None}
    assert rounded(out) == rounded(expected)  # sums in the engine may add in another order
    for m in MODELS:
        assert sum(c[m]["conversions"] for c in out["credits"]) == pytest.approx(out["attributed_conversions"])
    assert out["credits"][0]["channel"] == "facebook" and out["credits"][0]["markov"]["share"] > 0.5
    assert out["top_paths"][0]["path"] == ["facebook"] and "not how many conversions" in out["note"]


def test_csv_outputs_are_formula_safe_and_role_flags_apply(tmp_path):
    rows = []
    for u in range(6):
        rows += [(f"c{u}", f"2025-01-0{1 + u % 3} 10:00", "visit", "=HYPERLINK(1)" if u % 2 else "email"),
                 (f"c{u}", f"2025-01-0{1 + u % 3} 11:00", "visit", "search")]
        if u < 4:
            rows.append((f"c{u}", f"2025-01-0{1 + u % 3} 12:00", "Order", None))
    log = write_log(tmp_path / "log.csv", rows, ("customer", "when", "action", "source"))
    credits, paths = tmp_path / "out" / "credits.csv", tmp_path / "paths.csv"
    res = cli("attribution", log, "--user-col", "customer", "--time-col", "when", "--event-col", "action",
              "--conversion", "Order", "--by", "source", "-o", credits, "--paths-output", paths)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("4 of 4 'Order' conversions attributed to 3 source values") and str(credits) in \
        res.stdout
    table = pd.read_csv(credits)
    assert list(table.columns[:6]) == ["source", *MODELS] and "removal_effect" in table.columns
    assert "'=HYPERLINK(1)" in set(table["source"]) and table["first_touch"].sum() == pytest.approx(4)
    assert "'=HYPERLINK(1) > search" in set(pd.read_csv(paths)["path"])


def test_a_dataset_of_the_workspace_by_name_and_the_result_is_stored(workspace, capsys):
    ds = workspace.import_file(SOCIAL_LOG, name="Sample social", features=False)
    workspace.close()
    res = run(capsys, "attribution", "--dataset", "sample SOCIAL", "--by", "campaign", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["by"] == "campaign"
    ws = Workspace(workspace.root)
    [stored] = ws.results(ds.id, "attribution")
    assert stored.meta["settings"]["by"] == "campaign" and stored.meta["conversion"] == "purchase"
    ws.close()
    one_line_error(run(capsys, "attribution", "--dataset", "nope"), "no dataset 'nope'", "'Sample social'")
    one_line_error(run(capsys, "attribution", SOCIAL_LOG, "--dataset", ds.id), "a log file or --dataset, not both")
    one_line_error(run(capsys, "attribution"), "Give a log file, or --dataset NAME_OR_ID")


def test_bad_input_in_one_line(tmp_path, capsys):
    one_line_error(run(capsys, "attribution", SOCIAL_LOG, "--conversion", "refund"), "no 'refund' events",
                   "'impression'")
    one_line_error(run(capsys, "attribution", SOCIAL_LOG, "--by", "country"), "no column 'country'", "'campaign'")
    one_line_error(run(capsys, "attribution", SOCIAL_LOG, "--lookback-days", 0), "lookback_days", "above 0")
    one_line_error(run(capsys, "attribution", SOCIAL_LOG, "--touch-events", " , "), "--touch-events is empty")
    no_conversion = write_log(tmp_path / "views.csv", [("a", "2025-01-01", "view", "email"),
                                                       ("b", "2025-01-02", "view", "search")])
    one_line_error(run(capsys, "attribution", no_conversion), "No event looks like a conversion", "--conversion")
    untouched = write_log(tmp_path / "untouched.csv", [("a", "2025-01-01", "view", None),
                                                       ("a", "2025-01-02", "purchase", None),
                                                       ("b", "2025-01-02", "view", "email")])
    one_line_error(run(capsys, "attribution", untouched, "--lookback-days", 0.5), "has a touch",
                   "Lengthen the lookback")


def test_one_channel_and_long_paths_are_noted(tmp_path, capsys):
    rows = [("a", f"2025-01-01 10:{m:02d}", "visit" if m % 2 else "view", "email") for m in range(60)]
    rows += [("a", "2025-01-01 11:30", "purchase", None)]
    res = run(capsys, "attribution", write_log(tmp_path / "one.csv", rows), "--keep-repeats")
    assert res.returncode == 0, res.stderr
    assert "Only one channel has touches" in res.stdout and "more than 50 touches" in res.stdout
