"""Crash safety for real: SIGKILL a process in the middle of an import or a feature build, then reopen.

Whatever moment the kill lands on, the workspace must reopen, every dataset
stored before must be intact and readable, and nothing half-written may be
listed as complete.

The child process announces each step it starts on stdout (the library's
progress messages, or a line per build); the test kills it a short seeded delay
after the announcement of a chosen step. So every kill lands inside the work,
in a known step, on a fast machine as on a slow one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from sample_data.generate import generate, write_csv
from tests.helpers import ROOT, SAMPLE_LOG

pytestmark = pytest.mark.slow

CHECK = """
import json, sys
from analytics.workspace import Workspace
ws = Workspace(sys.argv[1])
out = []
for ds in ws.datasets():
    cur = ws.cursor()
    ev = f'"{ds.events_table}"'
    n = cur.execute(f"SELECT count(*) FROM {ev}").fetchone()[0]
    tables = cur.execute("SELECT table_name, json_extract_string(meta, '$.as_of') FROM results "
                         "WHERE dataset_id = ? AND kind = 'features' ORDER BY table_name", [ds.id]).fetchall()
    complete = []
    for t, as_of in tables:  # a registered feature table has one row per user seen up to its date
        got = cur.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        want = cur.execute(f"SELECT count(DISTINCT user_id) FROM {ev} WHERE ts <= CAST(? AS TIMESTAMP)",
                           [as_of]).fetchone()[0]
        complete.append(got == want)
    out.append({"id": ds.id, "name": ds.name, "rows": ds.rows, "events": n, "users": ds.users,
                "features": len(tables),
                "features_complete": all(complete)})
print(json.dumps(out))
"""


def env(ws) -> dict:
    return {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MARKETLENS_WORKSPACE": str(ws)}


def check(ws) -> list[dict]:
    res = subprocess.run([sys.executable, "-c", CHECK, str(ws)], cwd=ROOT, capture_output=True, text=True,
                         env=env(ws), timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def kill_at(cmd: list[str], ws, step: int, delay: float) -> str:
    """Start ``cmd``, SIGKILL it ``delay`` seconds after it announces its ``step``-th step (0-based).

    Returns the announcement the kill followed; fails the test if the child ended before.
    """
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(ws), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line.strip())
        if len(seen) > step:
            break
    time.sleep(delay)
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert alive and len(seen) > step, f"the child finished before the kill (steps seen: {seen})"
    return seen[-1]


IMPORT = """
import sys
from analytics.workspace import Workspace
Workspace(sys.argv[1]).import_file(sys.argv[2], progress=lambda f, msg: print(msg, flush=True))
"""


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash") / "big.csv"
    events, _ = generate(1_500_000, seed=9)
    write_csv(events, path)
    return path


def intact(before: list[dict], after: list[dict]) -> None:
    after_by_id = {d["id"]: d for d in after}
    for d in before:
        assert after_by_id[d["id"]] == d, "a dataset stored before the kill changed"
    for d in after:
        assert d["events"] == d["rows"], "a listed dataset is incomplete"
        assert d["features_complete"], "a listed feature table is incomplete"


def test_kill_during_imports(tmp_path, big_log):
    ws = tmp_path / "ws"
    subprocess.run([sys.executable, "-m", "analytics", "import", str(SAMPLE_LOG)], cwd=ROOT, env=env(ws),
                   check=True, capture_output=True, timeout=300)
    before = check(ws)
    assert len(before) == 1
    rng = random.Random(4)
    steps = []
    # One kill in each step of the import: reading, converting, the cleaning steps, profiling,
    # the feature table (the last step, whose transaction comes after the dataset's).
    for step in range(7):
        steps.append(kill_at([sys.executable, "-c", IMPORT, str(ws), str(big_log)], ws, step, rng.uniform(0, 0.2)))
        after = check(ws)
        intact(before, after)
        before = after
    assert len(set(steps)) == 7, steps
    print(f"survived kills during: {steps}")
    # The workspace still works: a clean import after all that.
    subprocess.run([sys.executable, "-m", "analytics", "import", str(big_log), "--name", "final"], cwd=ROOT,
                   env=env(ws), check=True, capture_output=True, timeout=600)
    final = check(ws)
    intact(before, final)
    assert {d["rows"] for d in final} >= {before[0]["rows"]}


BUILD = """
import sys
from datetime import datetime
from analytics.workspace import Workspace
ws = Workspace(sys.argv[1])
ds = [d for d in ws.datasets() if d.name == "big"][0]
for day in range(1, 28):
    print(day, flush=True)
    ws.features_table(ds.id, ws.feature_params(ds.id, as_of=datetime(2025, 5, day), top_events=5))
"""


def test_kill_during_feature_builds(tmp_path, big_log):
    ws = tmp_path / "ws"
    subprocess.run([sys.executable, "-m", "analytics", "import", str(big_log), "--name", "big"], cwd=ROOT,
                   env=env(ws), check=True, capture_output=True, timeout=600)
    before = check(ws)
    rng = random.Random(7)
    for step in (1, 3, 5, 7):
        kill_at([sys.executable, "-c", BUILD, str(ws)], ws, step, rng.uniform(0, 0.5))
        after = check(ws)
        assert all(d["features_complete"] for d in after)
        assert [(d["id"], d["events"]) for d in after] == [(d["id"], d["events"]) for d in before]
    assert check(ws)[0]["features"] > before[0]["features"]  # builds that committed before a kill stay


TRAIN = """
import sys
from analytics import models
from analytics.models import TargetDefinition, build_training_set
from analytics.workspace import Workspace
ws = Workspace(sys.argv[1])
ds = [d for d in ws.datasets() if d.name == "big"][0]
for i in range(20):
    print("train", i, flush=True)
    training = build_training_set(ws, ds.id, TargetDefinition(horizon_days=10 + i))
    results = list(models.iter_train(training, ["lr", "rf"], n_folds=3))
    print("store run", i, flush=True)
    ws.put_result(ds.id, "training", f"run{i}", {"n": i}, {"scores": models.ModelReport(
        results, training.summary(), 3, 0).scores_frame(training)})
    model = models.fit_model(training, "lr")
    print("save model", i, flush=True)
    ws.save_model_files(ds.id, f"model{i}", lambda folder: models.save_model(model, folder), {"n": i})
"""

MODELS_CHECK = """
import json, sys
from analytics import models
from analytics.workspace import Workspace
ws = Workspace(sys.argv[1])
ds = [d for d in ws.datasets() if d.name == "big"][0]
runs = [ws.result(ds.id, "training", r.key).frames["scores"].shape[0] for r in ws.results(ds.id, "training")]
saved = []
for m in ws.results(ds.id, "model"):
    models.load_model(ws.model_path(ds.id, m.key))  # every listed model loads
    saved.append(m.key)
home = ws.root / "models" / ds.id
folders = sorted(p.name for p in home.iterdir()) if home.exists() else []
print(json.dumps({"runs": runs, "saved": sorted(saved), "folders": folders}))
"""


def test_kill_during_training_and_model_saving(tmp_path, big_log):
    ws = tmp_path / "ws"
    subprocess.run([sys.executable, "-m", "analytics", "import", str(big_log), "--name", "big"], cwd=ROOT,
                   env=env(ws), check=True, capture_output=True, timeout=600)
    rng = random.Random(11)
    # Kills in training, while a run is stored and while a model folder is written.
    for step in (0, 1, 2, 4, 5):
        kill_at([sys.executable, "-c", TRAIN, str(ws)], ws, step, rng.uniform(0, 0.3))
        res = subprocess.run([sys.executable, "-c", MODELS_CHECK, str(ws)], cwd=ROOT, env=env(ws),
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        state = json.loads(res.stdout)
        assert all(n > 0 for n in state["runs"])  # every listed run has its scores
        assert state["folders"] == state["saved"]  # no half-written model folder survives a restart
