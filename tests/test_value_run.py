"""A value run (fit on all data + holdout validation) survives the workspace; warnings quote the numbers shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.charts import value as value_charts
from analytics.errors import InvalidParameterError
from analytics.value import ValueRun, run_dataset_value, run_value
from analytics.value._mle import maximise
from analytics.value.simulate import simulate_transaction_log


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return simulate_transaction_log(400, {"r": 0.8, "alpha": 20.0, "a": 0.6, "b": 3.0}, random_state=3)


def test_a_run_is_stored_and_read_back_unchanged(workspace, tmp_path, log):
    path = tmp_path / "orders.csv"
    log.to_csv(path, index=False)
    ds = workspace.import_file(path, name="orders")
    steps = []
    run = run_dataset_value(workspace, ds.id, "purchase", holdout_days=60, time_unit="weeks",
                            progress=lambda f, m: steps.append(f))
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
    assert run.summary.calibration_end == ds.ts_max and run.validation.summary.holdout_days == 60
    assert set(run.report.fits) == {"bgnbd", "paretonbd", "gamma_gamma"}
    assert list(run.scores()["model"]) == ["BG/NBD", "Pareto/NBD", "Gradient boosting"]

    meta, frames = run.to_stored()
    key = workspace.put_result(ds.id, "value", "fit", meta, frames)
    stored = workspace.result(ds.id, "value", key)
    back = ValueRun.from_stored(stored.meta, stored.frames)
    assert back.settings == run.settings and back.time_unit == "weeks" and back.warnings == run.warnings
    pd.testing.assert_frame_equal(back.parameters(), run.parameters())
    pd.testing.assert_frame_equal(back.scores(), run.scores(), atol=1e-3)
    pd.testing.assert_frame_equal(back.predictions(horizon_days=90, margin=0.3),
                                  run.predictions(horizon_days=90, margin=0.3), check_dtype=False)
    np.testing.assert_allclose(back.validation.challenger.predictions, run.validation.challenger.predictions)
    for a, b in ((back.validation.by_frequency, run.validation.by_frequency),
                 (back.validation.tracking, run.validation.tracking)):
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    for chart in (value_charts.frequency_chart, value_charts.tracking_chart):
        assert chart(back.validation).to_json() == chart(run.validation).to_json()


def test_without_a_holdout_there_is_no_validation_and_a_lone_calibration_end_is_refused(log):
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE ev AS SELECT * FROM log")
    run = run_value(con, "ev", "purchase", as_of="2024-10-01")
    assert run.validation is None and run.scores().empty and run.summary.calibration_end.month == 10
    with pytest.raises(InvalidParameterError, match="calibration end only makes sense with a holdout"):
        run_value(con, "ev", "purchase", calibration_end="2024-10-01")


def test_warnings_quote_parameters_in_the_units_of_the_data():
    # A flat likelihood in a rescaled parameter: the warning must quote the estimate and standard
    # error the user sees (scaled back), not the optimiser's internal numbers.
    def objective(theta):
        return float(1e-6 * (theta[0] - 1.0) ** 2 + (theta[1] - 0.5) ** 2)

    fit = maximise(objective, [np.array([0.5, 0.0])], ["gamma", "p"], 1.0, model="x", label="X", has_grad=False,
                   scale={"gamma": 1000.0})
    assert fit.params["gamma"] == pytest.approx(1000 * np.e, rel=1e-3)
    [poor] = [w for w in fit.warnings if "gamma" in w]
    assert f"for an estimate of {fit.params['gamma']:.3g})" in poor
    assert f"standard error {fit.std_errors['gamma']:.3g} " in poor
