"""AppTest of the Data page: empty workspace, sample, uploads good and bad, mapping, rename, delete."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pytest

from tests.apptest_helpers import app, button, errors, no_traceback, upload

GOOD = b"user_id,event_time,event,amount\nu1,2025-01-01 10:00,view,\nu1,2025-01-02 10:00,purchase,9.5\n" \
       b"u2,2025-01-03 09:00,view,\n"


def test_empty_workspace_offers_the_sample(workspace):
    at = app()
    assert any("workspace is empty" in i.value for i in at.info)
    button(at, "Load the sample shop log").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert ds.name == "Sample shop" and ds.rows > 50_000
    assert any(m.label == "Rows kept" and m.value == f"{ds.rows:,}" for m in at.metric)


def test_upload_map_and_import(workspace):
    at = upload(app(), "shop.csv", GOOD)
    assert [s.label for s in at.selectbox if s.key.startswith("role_")] == [
        "User id (required)", "Time (required)", "Event", "Amount", "Session id", "Item / product id",
        "Content / post id", "Campaign"]
    assert at.selectbox(key="role_user_id").value == "user_id"
    at.text_input(key="ds_name").set_value("My shop").run()
    button(at, "Import").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert (ds.name, ds.rows, ds.users) == ("My shop", 3, 2)
    assert any("Imported 'My shop'" in s.value for s in at.success)


def test_mapping_can_be_changed_before_import(workspace):
    data = b"who,when,what,extra\na,2025-01-01,x,1\nb,2025-01-02,y,2\na,2025-01-03,x,3\n"
    at = upload(app(), "odd.csv", data)
    at.selectbox(key="role_event").set_value("(none)").run()
    at.text_input(key="event_name").set_value("order").run()
    button(at, "Import").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert ds.mapping.event is None and ds.profile.event_counts == {"order": 3}


def xlsx_bytes() -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"customer": ["a", "b"], "date": ["2025-01-01", "2025-01-02"], "value": [1.5, 2.0]}).to_excel(
        buf, index=False)
    return buf.getvalue()


BAD = {
    "empty.csv": (b"", "empty"),
    "header.csv": (b"user_id,event_time,event\n", "single line"),
    "random.csv": (bytes(range(256)) * 20, "not a text table"),
    "report.csv": (b"%PDF-1.6\n%\xe2\xe3 binary", "PDF"),
    "bomb.csv.gz": (gzip.compress(b"u,t\n" + b"u1,2025-01-01\n" * 200_000), "unpacks to more than"),
    "wide.csv": (",".join(f"c{i}" for i in range(700)).encode() + b"\n" + b"1," * 699 + b"1\n", "700 columns"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_upload_shows_a_message_and_keeps_data(workspace, sample_dataset, monkeypatch, name):
    existing = sample_dataset
    monkeypatch.setenv("MARKETLENS_MAX_UNPACKED_MB", "1")
    data, words = BAD[name]
    at = upload(app(), name, data)
    no_traceback(at)
    assert any(words in e for e in errors(at)), errors(at)
    assert [d.id for d in workspace.datasets()] == [existing.id]
    assert len(workspace.features(existing.id)) == existing.users


@pytest.mark.parametrize("data, words", [
    (b"a,b\n1,2\n3,4\n", "none looks like dates or times"),
    (b"user,time,event\nu1,soon,view\nu2,later,view\n", "looks like dates or times"),
])
def test_unusable_columns_are_explained_at_import(workspace, data, words):
    at = upload(app(), "x.csv", data)
    if not errors(at):
        button(at, "Import").click().run()
    no_traceback(at)
    assert any(words in e for e in errors(at)), errors(at)
    assert workspace.datasets() == []


def test_ragged_rows_need_consent(workspace):
    data = b"user,time,event\nu1,2025-01-01,view\nu2,2025-01-02\nu3,2025-01-03,view\n"
    at = upload(app(), "ragged.csv", data)
    button(at, "Import").click().run()
    no_traceback(at)
    assert any("cannot be read as rows" in e for e in errors(at))
    assert workspace.datasets() == []
    at.checkbox(key="allow_bad_rows").check().run()
    button(at, "Import").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert ds.report.rejected_rows == 1 and ds.rows == 2


@pytest.mark.parametrize("name, data", [
    ("dupes.csv", b"user,time,amount,amount\nu1,2025-01-01,1,2\nu2,2025-01-02,3,4\n"),
    ("junk.csv", b"user,time,event,amount\nu1,2025-01-01,buy,abc\nu2,2025-01-02,buy,12.5\nu3,2025-01-02,buy,7\n"),
    ("long.csv", b"user,time,note\nu1,2025-01-01," + b"x" * (2 * 1024 * 1024) + b"\nu2,2025-01-02,y\n"),
    ("html.csv", b"user,time,event\n<script>alert(1)</script>,2025-01-01,<b>buy</b>\nu2,2025-01-02,<i>x</i>\n"),
    ("one_user.csv", b"user,time,event\nu1,2025-01-01,view\nu1,2025-01-02,buy\n"),
    ("same.csv", b"user,time,event\n" + b"u1,2025-01-01,view\n" * 20),
    ("excel_renamed.csv", xlsx_bytes()),
    ("wide200.csv", (",".join(["user", "time"] + [f"a{i}" for i in range(210)]) + "\n"
                     + ",".join(["u1", "2025-01-01"] + ["v"] * 210) + "\n").encode() * 1),
])
def test_messy_but_usable_uploads_import(workspace, name, data):
    at = upload(app(), name, data)
    no_traceback(at)
    assert errors(at) == []
    button(at, "Import").click().run()
    no_traceback(at)
    assert errors(at) == [], errors(at)
    [ds] = workspace.datasets()
    assert ds.rows >= 1
    if name == "html.csv":
        # Shown as text: the value reaches the table data as it is, never as markup.
        assert "<script>alert(1)</script>" in set(workspace.events(ds.id)["user_id"])


def test_duplicate_upload_is_detected(workspace):
    at = upload(app(), "shop.csv", GOOD)
    button(at, "Import").click().run()
    at = upload(at, "same_again.csv", GOOD)
    assert any("already imported" in w.value for w in at.warning)
    assert button(at, "Import").disabled
    at.checkbox(key="import_again").check().run()
    button(at, "Import").click().run()
    assert len(workspace.datasets()) == 2


def test_rename_and_delete_with_confirmation(workspace, tmp_path):
    (tmp_path / "a.csv").write_bytes(GOOD)
    ds = workspace.import_file(tmp_path / "a.csv", name="Old")
    at = app()
    at.text_input(key=f"rename_{ds.id}").set_value("New <b>name</b>").run()
    button(at, "Rename").click().run()
    assert workspace.get(ds.id).name == "New <b>name</b>"
    button(at, "Delete dataset").click().run()
    assert workspace.datasets() and any("cannot be undone" in w.value for w in at.warning)
    button(at, "Cancel").click().run()
    assert workspace.datasets()
    button(at, "Delete dataset").click().run()
    button(at, "Yes, delete it").click().run()
    no_traceback(at)
    assert workspace.datasets() == []


def test_connect_a_large_log_by_path(workspace, tmp_path):
    log = tmp_path / "lake.csv"
    log.write_bytes(GOOD)
    at = app()
    at.text_input(key="connect_uri").set_value(str(log)).run()
    button(at, "Connect").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert ds.source_uri == str(log) and ds.rows == 3


def test_connect_reads_times_without_an_offset_in_the_chosen_zone(workspace, tmp_path):
    log = tmp_path / "local.csv"
    log.write_bytes(b"user,time,event\nu1,2025-07-01 10:00:00,view\nu2,2025-01-10 10:00:00,view\n")
    at = app()
    assert at.selectbox(key="connect_timezone").value == "UTC"
    at.text_input(key="connect_uri").set_value(str(log)).run()
    at.selectbox(key="connect_timezone").set_value("Europe/Berlin").run()
    button(at, "Connect").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert ds.mapping.timezone == "Europe/Berlin"
    # Summer time is UTC+2, winter time UTC+1.
    assert (str(ds.ts_min), str(ds.ts_max)) == ("2025-01-10 09:00:00", "2025-07-01 08:00:00")


def test_connect_a_missing_path_explains(workspace, tmp_path):
    at = app()
    at.text_input(key="connect_uri").set_value(str(tmp_path / "nope.csv")).run()
    button(at, "Connect").click().run()
    no_traceback(at)
    assert any("There is no file" in e for e in errors(at))


def test_upload_over_the_size_limit_is_refused(workspace, monkeypatch):
    monkeypatch.setenv("MARKETLENS_MAX_UPLOAD_MB", "1")
    big = b"user,time,event\n" + b"u1,2025-01-01 10:00:00,view\n" * 60_000  # about 1.7 MB
    at = upload(app(), "big.csv", big)
    no_traceback(at)
    assert any("over the 1 MB limit" in e for e in errors(at)), errors(at)
    assert workspace.datasets() == [] and not any((workspace.root / "tmp").glob("*/upload"))


def test_a_new_upload_starts_a_fresh_form(workspace):
    ragged = b"user,time,event\nu1,2025-01-01,view\nu2,2025-01-02\nu3,2025-01-03,view\n"
    at = upload(app(), "first.csv", ragged)
    at.text_input(key="ds_name").set_value("First file").run()
    button(at, "Import").click().run()  # stops to ask about the malformed row
    assert any("cannot be read as rows" in e for e in errors(at))
    at = upload(at, "second.csv", GOOD)
    assert at.text_input(key="ds_name").value == "second"
    assert not any("cannot be read as rows" in e for e in errors(at))
    button(at, "Import").click().run()
    no_traceback(at)
    assert [d.name for d in workspace.datasets()] == ["second"]


def test_an_import_moves_the_dataset_picker_and_a_stale_choice_cannot_switch_back(workspace, sample_dataset):
    at = app()
    picker = next(s for s in at.sidebar.selectbox if s.label == "Dataset")
    assert picker.value == sample_dataset.id
    at = upload(at, "shop.csv", GOOD)
    at.text_input(key="ds_name").set_value("New shop").run()
    button(at, "Import").click().run()
    no_traceback(at)
    new = next(d for d in workspace.datasets() if d.name == "New shop")
    moved = next(s for s in at.sidebar.selectbox if s.label == "Dataset")
    assert moved.value == new.id
    # The app changed the choice, so the box is a new widget: the old one's value (what a browser that has
    # not seen the rerun yet still sends) no longer belongs to anything that could switch back.
    assert moved.key != picker.key
    at.session_state[picker.key] = sample_dataset.id
    at.run()
    assert next(s for s in at.sidebar.selectbox if s.label == "Dataset").value == new.id
    # The user can still pick the old dataset with the new box.
    next(s for s in at.sidebar.selectbox if s.label == "Dataset").set_value(sample_dataset.id).run()
    assert next(s for s in at.sidebar.selectbox if s.label == "Dataset").value == sample_dataset.id


def test_an_import_warning_is_shown_not_hidden_in_the_notes(workspace):
    rows = "".join(f"u{i},2025-01-0{1 + i % 9} 10:00,purchase,{'€' if i % 2 else '$'}{10 + i}.00\n" for i in range(20))
    at = upload(app(), "mixed.csv", ("user_id,event_time,event,amount\n" + rows).encode())
    button(at, "Import").click().run()
    no_traceback(at)
    assert any("2 currencies" in w.value and "Convert the amounts" in w.value for w in at.warning)


def test_the_time_zone_of_local_times_is_chosen_on_the_data_page(workspace):
    at = upload(app(), "shop.csv", GOOD)
    assert at.selectbox(key="timezone").value == "UTC"
    at.selectbox(key="timezone").set_value("Europe/Berlin").run()
    button(at, "Import").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert ds.mapping.timezone == "Europe/Berlin" and str(ds.ts_min) == "2025-01-01 09:00:00"  # CET is UTC+1
