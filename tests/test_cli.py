"""The command line: same pipeline, readable one-line errors, machine-readable summaries."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import ROOT, write


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})},
                          timeout=300)


def test_features_csv_with_json_summary(tmp_path, sample_log):
    out = tmp_path / "f.csv"
    res = cli("features", sample_log, "-o", out, "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["rows_read"] == summary["rows_kept"] > 50_000
    assert summary["roles"] == {"user_id": "user_id", "timestamp": "event_time", "event": "event",
                                "amount": "amount", "session_id": None, "item_id": "item_id"}
    assert summary["dropped"] == {} and summary["purchase_event"] == "purchase"
    assert summary["warnings"] == [] and "warning:" not in res.stderr
    df = pd.read_csv(out)
    assert len(df) == summary["users"] == summary["feature_users"]
    assert {"recency_days", "frequency", "monetary", "n_sessions", "top_channel"} <= set(df.columns)


def test_features_parquet_with_role_flags(tmp_path):
    text = "cust;when;qty;val\nc1;2025-01-01;1;9,5\nc2;2025-01-02;2;3,0\nc1;2025-02-01;1;1,0\n"
    log = write(tmp_path / "tx.csv", text)
    out = tmp_path / "f.parquet"
    res = cli("features", log, "-o", out, "--user-col", "cust", "--time-col", "when", "--amount-col", "val",
              "--no-event-col", "--event-name", "order", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["roles"]["event"] is None and summary["event_name_if_no_event_column"] == "order"
    df = pd.read_parquet(out).set_index("user_id")
    assert df.loc["c1", "frequency"] == 2 and df.loc["c1", "monetary"] == pytest.approx(10.5)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"%PDF-1.4 junk", "PDF"),
    (b"user,time\n", "single line"),
    (b"a,b\n1,2\n3,4\n", "none looks like dates or times"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, content, words):
    log = tmp_path / "bad.csv"
    log.write_bytes(content)
    res = cli("features", log, "-o", tmp_path / "f.csv")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ") and words in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "f.csv").exists()


def test_ragged_rows_flag(tmp_path):
    log = write(tmp_path / "r.csv", "user,time,event\nu1,2025-01-01,view\nu2,2025-01-02\nu3,2025-01-03,view\n")
    assert cli("features", log, "-o", tmp_path / "f.csv").returncode == 2
    res = cli("features", log, "-o", tmp_path / "f.csv", "--skip-bad-rows", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["rejected_rows"] == 1


def test_unknown_purchase_event_and_output_suffix(tmp_path, sample_log):
    res = cli("features", sample_log, "-o", tmp_path / "f.csv", "--purchase-event", "nope")
    assert res.returncode == 2 and "no event 'nope'" in res.stderr
    res = cli("features", sample_log, "-o", tmp_path / "f.xlsx")
    assert res.returncode == 2 and ".csv or .parquet" in res.stderr


def test_import_into_workspace_is_idempotent_with_if_new(tmp_path, sample_log):
    env = {"MARKETLENS_WORKSPACE": str(tmp_path / "ws")}
    first = cli("import", sample_log, "--name", "Sample", "--if-new", "--json", env=env)
    assert first.returncode == 0, first.stderr
    second = cli("import", sample_log, "--if-new", "--json", env=env)
    assert json.loads(second.stdout)["skipped"] is True
    listing = json.loads(cli("datasets", "--json", env=env).stdout)
    assert [d["name"] for d in listing] == ["Sample"]


def test_paths_that_cannot_be_used_are_input_errors_not_bugs(tmp_path):
    log = write(tmp_path / "log.csv", "user,time,event\nu1,2025-01-01,view\nu2,2025-01-02,buy\nu1,2025-01-03,buy\n")
    folder = tmp_path / "out.csv"
    folder.mkdir()
    for args in (("features", log, "-o", folder),  # DuckDB writes it
                 ("funnel", log, "--steps", "view,buy", "-o", folder),  # pandas writes it
                 ("features", log, "-o", log / "f.csv")):  # a folder that is a file
        res = cli(*args, env={"MARKETLENS_WORKSPACE": str(tmp_path / "ws")})
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.startswith("error: ") and "could not use the path" in res.stderr
        assert "unexpected" not in res.stderr and res.stderr.count("\n") == 1
    res = cli("datasets", env={"MARKETLENS_WORKSPACE": str(log)})  # the workspace setting names a file
    assert res.returncode == 2 and "MARKETLENS_WORKSPACE must name a folder" in res.stderr


@pytest.mark.parametrize("command", [
    ["features", "log.csv"], ["segment", "log.csv"], ["embed", "log.csv"], ["funnel", "log.csv", "--steps", "a,b"],
    ["retention", "log.csv"], ["attribution", "log.csv"], ["score", "model", "log.csv"], ["recommend", "log.csv"],
    ["clv", "log.csv"],
])
def test_every_table_output_takes_csv_or_parquet_and_refuses_other_suffixes_before_any_work(capsys, command):
    """Parsed, not run: a wrong suffix stops the command before it reads the (here missing) log."""
    from analytics.cli import build_parser, main

    for suffix in (".csv", ".parquet", ".PARQUET"):
        args = build_parser().parse_args([*command, "-o", f"out{suffix}"])
        assert args.output.suffix == suffix
    with pytest.raises(SystemExit) as stop:
        main([*command, "-o", "out.xlsx"])
    assert stop.value.code == 2
    assert "'out.xlsx' must end in .csv or .parquet" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--event-col", "e", "--no-event-col"], ["--no-amount-col", "--amount-col", "a"],
                                   ["--item-col", "sku", "--no-item-col"]])
def test_a_role_named_and_cleared_at_once_is_refused(capsys, flags):
    from analytics.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["features", "log.csv", "-o", "f.csv", *flags])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_table_outputs_follow_their_suffix(tmp_path):
    """write_frame: the same rows as CSV or Parquet."""
    from analytics.cli.common import write_frame

    frame = pd.DataFrame({"user_id": ["u1", "=cmd"], "score": [0.9, 0.1]})
    write_frame(frame, tmp_path / "a" / "s.parquet")
    write_frame(frame, tmp_path / "s.csv")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "s.parquet"), frame)
    assert pd.read_csv(tmp_path / "s.csv")["user_id"].tolist() == ["u1", "'=cmd"]  # formula-safe CSV


def test_import_warnings_reach_stderr_and_the_json(tmp_path):
    rows = "".join(f"u{i},2025-01-0{1 + i % 9} 10:00,purchase,{'€' if i % 3 else '£'}{10 + i}.00\n" for i in range(30))
    log = write(tmp_path / "mixed.csv", "user_id,event_time,event,amount\n" + rows)
    res = cli("features", log, "-o", tmp_path / "f.csv", "--json")
    assert res.returncode == 0, res.stderr
    [warning] = json.loads(res.stdout)["warnings"]  # stdout stays one JSON document
    assert "2 currencies (€ on 20 rows, £ on 10 rows)" in warning
    assert res.stderr.strip() == f"warning: {warning}"


def test_sigterm_stops_a_command_and_removes_its_scratch_workspace(tmp_path):
    """A scheduler's timeout sends SIGTERM: exit 143 like a shell, and no copy of the log left in the temp folder."""
    import os
    import signal
    import time

    from sample_data.generate import generate, write_csv

    log = tmp_path / "log.csv"
    write_csv(generate(400_000, seed=5)[0], log)
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "analytics", "features", str(log), "-o", str(tmp_path / "f.csv")],
                            cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TMPDIR": str(scratch)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(scratch.glob("marketlens-*/workspace.duckdb")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the command ended before its scratch workspace was seen"
    time.sleep(0.3)  # inside the import
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and not (tmp_path / "f.csv").exists()
    assert list(scratch.glob("marketlens-*")) == []


def test_a_scratch_workspace_left_by_a_killed_process_is_removed_by_the_next_one(tmp_path, monkeypatch):
    import os
    import tempfile

    from analytics.workspace import temporary_workspace

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folders = {}
    for name, pid, age in (("orphan", int(dead.stdout), 3600), ("alive", os.getpid(), 3600),
                           ("young", int(dead.stdout), 0)):
        folders[name] = tmp_path / f"marketlens-{name}"
        folders[name].mkdir()
        (folders[name] / "owner.pid").write_text(str(pid))
        os.utime(folders[name], (os.path.getmtime(folders[name]) - age,) * 2)
    (tmp_path / "marketlens-export-x").mkdir()  # a download being written: no owner file, not touched
    with temporary_workspace(in_memory=True) as ws:
        assert (ws.root / "owner.pid").read_text() == str(os.getpid())
    assert not folders["orphan"].exists()
    assert folders["alive"].exists() and folders["young"].exists() and (tmp_path / "marketlens-export-x").exists()


def test_import_reads_local_times_in_the_given_time_zone(tmp_path):
    env = {"MARKETLENS_WORKSPACE": str(tmp_path / "ws")}
    log = write(tmp_path / "log.csv", "user,time,event\nu1,2025-07-01 10:00,view\nu2,2025-07-01 11:00,buy\n")
    res = cli("import", log, "--timezone", "America/New_York", "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["ts_min"].startswith("2025-07-01T14:00")  # EDT is UTC-4
    bad = cli("import", log, "--timezone", "Nowhere/Land", env=env)
    assert bad.returncode == 2 and "Time zone 'Nowhere/Land' is unknown" in bad.stderr
