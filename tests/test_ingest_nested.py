"""Nested exports: JSON events (Mixpanel, Amplitude, Segment shapes) and Parquet with structs (GA4), read like CSV."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from analytics.errors import EmptyFileError, ParseError
from analytics.ingest.nested import looks_like_json
from tests.apptest_helpers import app, button, no_traceback, read, upload
from tests.helpers import write

EVENTS = [(f"u{i % 7}", 1740823200 + 3600 * i, ["view", "add_to_cart", "purchase"][i % 3],
           round(5 + i % 11 * 1.5, 2) if i % 3 == 2 else None, ["DE", "FR", "US"][i % 4 % 3]) for i in range(90)]


def mixpanel_lines() -> str:
    """Mixpanel's export: one object per line, the time, user and attributes inside ``properties``."""
    return "".join(json.dumps({"event": event, "properties": {
        "time": ts, "distinct_id": user, "$insert_id": f"i{n}", "price": amount, "mp_country_code": country}}) + "\n"
        for n, (user, ts, event, amount, country) in enumerate(EVENTS))


def same_events_as_csv() -> str:
    return "user_id,time,event,price,mp_country_code\n" + "".join(
        f"{user},{ts},{event},{'' if amount is None else amount},{country}\n"
        for user, ts, event, amount, country in EVENTS)


def test_a_gzipped_mixpanel_export_imports_like_the_same_events_as_csv(workspace, tmp_path):
    path = tmp_path / "export.json.gz"
    path.write_bytes(gzip.compress(mixpanel_lines().encode()))
    ds = workspace.import_file(path)
    m = ds.mapping
    assert (m.user_id, m.timestamp, m.event, m.amount) == ("distinct_id", "time", "event", "price")
    assert ds.source_format.startswith("JSON events") and ds.rows == 90 and ds.users == 7
    assert any("'properties.time'" in n and "'properties.distinct_id'" in n for n in ds.report.notes)
    csv = workspace.import_file(write(tmp_path / "same.csv", same_events_as_csv()))
    cols = ["user_id", "ts", "event", "amount"]
    from_json = workspace.events(ds.id, limit=None)
    pd.testing.assert_frame_equal(from_json[cols], workspace.events(csv.id, limit=None)[cols])
    assert from_json["mp_country_code"].tolist() == [country for *_, country in EVENTS]
    pd.testing.assert_frame_equal(workspace.features(ds.id), workspace.features(csv.id))


def test_an_amplitude_array_with_mixed_ids_lists_and_a_shared_key(workspace, tmp_path):
    rows = [{"user_id": 12 if i % 2 else f"x{i}", "event_type": "view", "event_time": f"2025-03-0{1 + i} 10:00:00",
             "time": i, "event_properties": {"time": f"t{i}", "tags": ["a", "b"], "price": None},
             "user_properties": {"plan": {"tier": "gold"}}} for i in range(6)]
    ds = workspace.import_file(write(tmp_path / "amplitude.json", json.dumps(rows, indent=1)))
    events = workspace.events(ds.id, limit=None)
    # Ids read as text, without JSON's quotes; a list as its JSON text; a key two fields share gets its path.
    assert sorted(events["user_id"].unique()) == ["12", "x0", "x2", "x4"]
    assert set(events["tags"]) == {'["a","b"]'}
    assert {"time", "event_properties_time", "tier"} <= set(events.columns)
    assert ds.mapping.timestamp == "event_time"


def test_a_segment_export_finds_the_campaign_inside_its_context(workspace, tmp_path):
    rows = [{"type": "track", "event": ["Product Viewed", "Order Completed"][i % 2], "anonymousId": f"a{i % 9}",
             "timestamp": f"2025-03-0{1 + i % 9}T10:00:00.000Z", "properties": {"revenue": 12.5 if i % 2 else None},
             "context": {"campaign": {"name": ["spring", "summer"][i % 2], "source": "google"},
                         "library": {"name": "analytics.js"}}} for i in range(40)]
    ds = workspace.import_file(write(tmp_path / "segment.jsonl", "\n".join(json.dumps(r) for r in rows)))
    m = ds.mapping
    assert (m.user_id, m.timestamp, m.event, m.amount, m.campaign) == (
        "anonymousId", "timestamp", "event", "revenue", "campaign_name")
    assert "library_name" in m.attributes and "'context.campaign.name'" in " ".join(ds.report.notes)
    assert set(workspace.events(ds.id, limit=None)["campaign"]) == {"spring", "summer"}


def test_a_value_of_another_type_far_down_the_file_drops_that_row_only(workspace, tmp_path):
    lines = [json.dumps({"user": f"u{i % 50}", "time": 1740823200 + i, "event": "view"}) for i in range(25_000)]
    lines.append(json.dumps({"user": "u1", "time": "yesterday", "event": "view"}))
    ds = workspace.import_file(write(tmp_path / "late.jsonl", "\n".join(lines) + "\n"))
    assert ds.rows == 25_000 and ds.report.dropped == {"bad_time": 1}
    assert ds.report.examples["bad_time"][0]["line"] == 25_001


def test_broken_json_is_refused_with_its_line_and_nothing_stored(workspace, tmp_path):
    lines = mixpanel_lines().splitlines()
    lines.insert(10, '{"event": "view", "properties": {"time": 17408')
    with pytest.raises(ParseError, match=r"line 1[12]\b") as caught:  # where DuckDB saw the object break off
        workspace.import_file(write(tmp_path / "broken.json", "\n".join(lines) + "\n"))
    assert str(tmp_path) not in str(caught.value)  # named as the user knows it, not by a server path
    assert workspace.datasets() == []
    with pytest.raises(EmptyFileError, match="empty JSON array"):
        workspace.import_file(write(tmp_path / "none.json", "[ ]"))
    with pytest.raises(ParseError, match="values are not objects"):
        workspace.import_file(write(tmp_path / "numbers.json", "[1, 2, 3]"))


@pytest.mark.parametrize("head, is_json", [
    (b'{"event": "x"}\n', True), (b'\xef\xbb\xbf  [\n {"a": 1}]', True), (b"[]", True), (b"[1, 2]", True),
    (b"[Date],[User],[Event]\n", False), (b"user_id,time\n", False), (b'"{json}",x\n', False)])
def test_json_is_told_from_csv_by_its_first_characters(head, is_json):
    assert looks_like_json(head) is is_json


def test_a_json_upload_on_the_data_page(workspace):
    at = upload(app(), "events.jsonl", mixpanel_lines().encode(), "application/json")
    assert any("Nested fields became columns: 'properties.time'" in read(c.value) for c in at.caption)
    assert at.selectbox(key="role_user_id").value == "distinct_id"
    assert at.selectbox(key="role_timestamp").value == "time"
    button(at, "Import").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert (ds.name, ds.rows) == ("events", 90)


def ga4_parquet(path, n: int = 60) -> None:
    """GA4's BigQuery export as Parquet: structs for device, geo and traffic source, key/value event params."""
    import duckdb

    duckdb.connect().execute(f"""COPY (
        SELECT strftime(TIMESTAMP '2025-03-01' + INTERVAL (i) HOUR, '%Y%m%d') AS event_date,
               epoch_us(TIMESTAMP '2025-03-01' + INTERVAL (i) HOUR) AS event_timestamp,
               ['page_view', 'add_to_cart', 'purchase'][1 + i % 3] AS event_name,
               [{{'key': 'page_location', 'value': {{'string_value': 'https://shop/' || (i % 4), 'int_value': NULL}}}},
                {{'key': 'ga_session_id', 'value': {{'string_value': NULL, 'int_value': 1000 + i // 10}}}}]
                   AS event_params,
               'pu' || (i % 7) AS user_pseudo_id,
               {{'category': ['mobile', 'desktop'][1 + i % 2], 'operating_system': 'Android'}} AS device,
               {{'country': ['Germany', 'France'][1 + i % 2]}} AS geo,
               {{'name': 'spring_sale', 'source': 'google', 'medium': 'cpc'}} AS traffic_source,
               {{'manual_campaign_id': 'c' || (i % 2), 'manual_campaign_name': ['spring', 'summer'][1 + i % 2]}}
                   AS collected_traffic_source,
               {{'id': 'com.shop', 'version': '2.1'}} AS app_info,
               {{'purchase_revenue': CASE WHEN i % 3 = 2 THEN 19.5 END}} AS ecommerce
        FROM range({n}) t(i)) TO '{path}' (FORMAT parquet)""")


def test_a_ga4_export_in_parquet_finds_users_times_sessions_and_revenue(workspace, tmp_path):
    ga4_parquet(tmp_path / "ga4.parquet")
    ds = workspace.import_file(tmp_path / "ga4.parquet")
    m = ds.mapping
    # The time of day wins over the date; the session comes from the event parameters.
    assert (m.user_id, m.timestamp, m.event, m.amount, m.session_id) == (
        "user_pseudo_id", "event_timestamp", "event_name", "purchase_revenue", "ga_session_id")
    events = workspace.events(ds.id, limit=None)
    assert set(events["page_location"]) == {f"https://shop/{i}" for i in range(4)}
    assert set(events["country"]) == {"Germany", "France"} and events["amount"].sum() == 19.5 * 20
    features = workspace.features(ds.id).set_index("user_id")
    sessions = {f"pu{u}": len({1000 + i // 10 for i in range(60) if i % 7 == u}) for u in range(7)}
    assert features["n_sessions"].to_dict() == sessions
    assert "top_country" in features.columns and "avg_event_date" not in features.columns  # a date, not a number
    # Vague keys keep their parent's name: the device's category is not a product category, traffic_source.name
    # (the campaign that first brought the user) is not a "name"; the event's campaign is the campaign.
    assert m.campaign == "manual_campaign_name" and set(events["campaign"]) == {"spring", "summer"}
    assert {"device_category", "traffic_source_name", "app_info_id", "app_info_version"} <= set(m.attributes)
    assert not {"category", "name", "id", "version"} & set(events.columns)
    assert "top_device_category" in features.columns


def test_a_parquet_preview_reads_only_the_rows_it_shows(tmp_path):
    import duckdb

    from analytics.ingest.recognise import open_source
    from analytics.ingest.relation import preview

    ga4_parquet(tmp_path / "ga4.parquet", n=5_000)
    with open_source(tmp_path / "ga4.parquet") as src:
        assert len(preview(duckdb.connect(), src, n=50)) == 50
