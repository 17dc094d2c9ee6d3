"""Cleaning through the workspace: what is kept, fixed, dropped and reported (with line numbers)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from analytics.errors import MappingError, NoDataError, RaggedRowsError
from analytics.ingest.roles import ColumnMapping
from analytics.sql import quote_ident
from tests.helpers import write

MESSY = """user_id,event_time,event,amount,channel
u1,2025-03-01 10:00:00,page_view,,email
,2025-03-01 10:01:00,page_view,,email
u2,not a date,page_view,,seo
u2,2025-03-01 10:03:00,purchase,abc,seo
u3,2025-03-01 10:04:00,purchase,19.90,ads
u3,2025-03-01 10:04:00,purchase,19.90,ads
u4,1960-01-01 00:00:00,page_view,,ads
u4,2025-03-01 10:06:00,,,ads
u5,,page_view,,seo
"""


def events(ws, ds) -> pd.DataFrame:
    return ws.events(ds.id, limit=None)


def test_report_counts_every_change_with_line_numbers(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "messy.csv", MESSY))
    r = ds.report
    assert r.rows_read == 9
    assert r.dropped == {"no_user": 1, "bad_time": 1, "no_time": 1, "no_event": 1, "implausible_time": 1}
    assert r.coerced == {"bad_amount": 1}
    assert r.duplicates_removed == 1
    assert r.rows_kept == 9 - 5 - 1
    # Line numbers count the header as line 1.
    assert [e["line"] for e in r.examples["no_user"]] == [3]
    assert [e["line"] for e in r.examples["bad_time"]] == [4]
    assert r.examples["bad_time"][0]["values"]["event_time"] == "not a date"
    assert [e["line"] for e in r.examples["bad_amount"]] == [5]
    assert r.examples["bad_amount"][0]["values"]["amount"] == "abc"
    assert [e["line"] for e in r.examples["duplicate"]] == [7]
    assert r.examples["duplicate"][0]["values"]["copy of line"] == 6
    assert [e["line"] for e in r.examples["implausible_time"]] == [8]
    kept = events(workspace, ds)
    assert sorted(kept["user_id"]) == ["u1", "u2", "u3"]
    assert kept.loc[kept.user_id == "u2", "amount"].isna().all()  # 'abc' became empty, row kept
    assert {row["issue"] for row in r.rows()} >= {"no user id", "exact duplicate of an earlier row"}


def test_event_names_differing_only_in_case_are_one_event(workspace, tmp_path):
    text = ("user,time,event\n" + "".join(f"u{i},2025-03-0{1 + i % 5} 10:00,purchase\n" for i in range(6))
            + "u1,2025-03-09 10:00, PURCHASE \nu2,2025-03-09 11:00,Purchase\nu3,2025-03-09 12:00,view\n"
            + "u0,2025-03-01 10:00,PURCHASE\n")  # becomes a copy of the first row once merged
    ds = workspace.import_file(write(tmp_path / "case.csv", text))
    assert ds.profile.event_counts == {"purchase": 8, "view": 1}
    assert ds.purchase_event == "purchase" and ds.report.duplicates_removed == 1
    [note] = [n for n in ds.report.notes if "upper/lower case" in n]
    assert "'PURCHASE' (2 rows) into 'purchase'" in note and "'Purchase' (1 row) into 'purchase'" in note


def test_offsets_are_converted_to_utc(workspace, tmp_path):
    text = ("user,time,event\nu1,2025-03-01T10:00:00+02:00,view\nu1,2025-03-01T10:00:00Z,view\n"
            "u2,2025-03-01T10:00:00-05:30,x\n")
    ds = workspace.import_file(write(tmp_path / "tz.csv", text))
    ts = sorted(events(workspace, ds)["ts"])
    assert ts == [pd.Timestamp("2025-03-01 08:00"), pd.Timestamp("2025-03-01 10:00"), pd.Timestamp("2025-03-01 15:30")]


def test_epoch_milliseconds_and_decimal_commas(workspace, tmp_path):
    text = "kunde;zeit;aktion;betrag\nk1;1740823200000;kauf;1.234,50\nk2;1740826800000;kauf;12,99\n"
    ds = workspace.import_file(write(tmp_path / "de.csv", text, "cp1252"))
    df = events(workspace, ds).sort_values("user_id")
    assert df["amount"].tolist() == [1234.5, 12.99]
    assert df["ts"].iloc[0] == pd.Timestamp("2025-03-01 10:00")


def test_date_order_decided_from_all_rows_not_just_the_sample(workspace, tmp_path):
    lines = [f"u{i % 50},0{i % 9 + 1}/0{i % 9 + 1}/2025,view" for i in range(3000)]
    lines.append("u1,13/02/2025,view")  # beyond the preview: only day-first fits
    ds = workspace.import_file(write(tmp_path / "dates.csv", "user,date,event\n" + "\n".join(lines) + "\n"))
    assert ds.report.dropped == {}
    assert pd.Timestamp("2025-02-13") in set(events(workspace, ds)["ts"])
    assert any("day-first" in n for n in ds.report.notes)


def test_ambiguous_dates_say_so_and_can_be_forced(workspace, tmp_path):
    path = write(tmp_path / "amb.csv", "user,date,event\nu1,01/02/2025,view\nu2,03/04/2025,view\n")
    ds = workspace.import_file(path)
    assert any("assumed" in n for n in ds.report.notes)
    forced = workspace.import_file(path, ColumnMapping("user", "date", "event", date_order="dmy"))
    assert sorted(events(workspace, forced)["ts"])[0] == pd.Timestamp("2025-02-01")


def test_transaction_log_imports_as_purchases(workspace, tmp_path):
    text = "customer_id,date,quantity,value\nc1,2025-01-03,2,19.90\nc2,2025-01-04,1,5.00\nc1,2025-02-01,1,7.50\n"
    ds = workspace.import_file(write(tmp_path / "tx.csv", text))
    df = events(workspace, ds)
    assert set(df["event"]) == {"purchase"} and ds.purchase_event == "purchase"
    f = workspace.features(ds.id).set_index("user_id")
    assert f.loc["c1", "frequency"] == 2 and f.loc["c1", "monetary"] == pytest.approx(27.4)
    assert f.loc["c1", "avg_quantity"] == pytest.approx(1.5)  # numeric attribute -> mean


def test_ragged_rows_need_consent(workspace, tmp_path):
    text = "user,time,event\nu1,2025-01-01,view\nu2,2025-01-02\nu3,2025-01-03,view,extra\nu4,2025-01-04,buy\n"
    path = write(tmp_path / "ragged.csv", text)
    with pytest.raises(RaggedRowsError) as err:
        workspace.import_file(path)
    assert err.value.n_bad == 2 and [e["line"] for e in err.value.examples] == [3, 4]
    assert workspace.datasets() == []  # nothing stored
    ds = workspace.import_file(path, allow_bad_rows=True)
    assert ds.rows == 2 and ds.report.rejected_rows == 2 and ds.report.rows_read == 4


def test_unparseable_dates_store_nothing(workspace, tmp_path):
    before = set(workspace.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall())
    path = write(tmp_path / "bad.csv", "user,time,event\nu1,2025-01-01,view\nu2,2025-01-02,view\n")
    workspace.import_file(path)
    with pytest.raises((NoDataError, MappingError)):
        workspace.import_file(write(tmp_path / "worse.csv", "user,time,event\nu1,soon,view\nu2,later,view\n"),
                              ColumnMapping("user", "time", "event"))
    cur = workspace.cursor()
    after = set(cur.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    [first] = workspace.datasets()
    # Only the first import's tables: its events, feature table and session marks.
    owned = {first.events_table, *(t for (t,) in cur.execute("SELECT table_name FROM results WHERE dataset_id = ?",
                                                            [first.id]).fetchall())}
    assert len(owned) == 3 and {t for (t,) in after - before} == owned


def test_every_row_dropped_explains_why(workspace, tmp_path):
    text = "user,time,event\n,2025-01-01,view\n,2025-01-02,view\n"
    with pytest.raises(NoDataError, match="2 no user id"):
        workspace.import_file(write(tmp_path / "nouser.csv", text), ColumnMapping("user", "time", "event"))


def test_single_user_and_identical_rows(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "same.csv", "user,time,event\n" + "u1,2025-01-01 10:00,view\n" * 50))
    assert ds.rows == 1 and ds.users == 1 and ds.report.duplicates_removed == 49
    f = workspace.features(ds.id)
    assert len(f) == 1 and f.loc[0, "n_events"] == 1 and f.loc[0, "n_sessions"] == 1


def test_html_is_kept_as_text(workspace, tmp_path):
    text = 'user,time,event,note\n"<script>alert(1)</script>",2025-01-01,"<b>buy</b>","=cmd|x"\n'
    text += "u2,2025-01-02,view,ok\n"
    ds = workspace.import_file(write(tmp_path / "html.csv", text))
    df = events(workspace, ds)
    assert "<script>alert(1)</script>" in set(df["user_id"]) and "<b>buy</b>" in set(df["event"])


def test_spaces_and_long_values(workspace, tmp_path):
    long = "y" * 5000
    text = f"user,time,event,note\n  u1  ,2025-01-01, view ,{long}\n   ,2025-01-02,view,x\nu1,2025-01-03,view,z\n"
    ds = workspace.import_file(write(tmp_path / "sp.csv", text))
    df = events(workspace, ds)
    assert set(df["user_id"]) == {"u1"} and set(df["event"]) == {"view"}
    assert ds.report.dropped == {"no_user": 1}
    assert ds.report.coerced == {"long_text": 1}
    assert df["note"].str.len().max() == 1000


def test_excel_and_parquet_import(workspace, tmp_path):
    df = pd.DataFrame({"customer": ["a", "b", "a"], "when": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-05"]),
                       "what": ["view", "buy", "buy"], "eur": [None, 10.0, 5.5]})
    df.to_parquet(tmp_path / "x.parquet")
    df.to_excel(tmp_path / "x.xlsx", index=False)
    for name in ("x.parquet", "x.xlsx"):
        ds = workspace.import_file(tmp_path / name)
        assert (ds.rows, ds.users) == (3, 2), name
        assert ds.mapping.amount == "eur" and ds.purchase_event == "buy"
        assert workspace.features(ds.id).set_index("user_id").loc["a", "monetary"] == pytest.approx(5.5)


def test_audit_columns_are_not_data(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "messy.csv", MESSY))
    assert list(events(workspace, ds).columns) == ["user_id", "ts", "event", "amount", "session_id", "channel"]
    flags = workspace.cursor().execute(f"SELECT count(*) FROM {quote_ident(ds.events_table)} WHERE _flags <> 0")
    assert flags.fetchone()[0] == 1  # the kept row whose amount was emptied


def test_future_times_are_implausible(workspace, tmp_path):
    text = "user,time,event\nu1,2025-01-01,view\nu2,2999-01-01,view\n"
    ds = workspace.import_file(write(tmp_path / "future.csv", text))
    assert ds.report.dropped == {"implausible_time": 1}
    assert ds.ts_max < datetime(2100, 1, 1)


def _orders(amounts: list[str]) -> str:
    return "user,time,event,amount\n" + "".join(
        f"u{i % 40},2025-03-{1 + i % 28:02d} 10:{i % 60:02d},purchase,\"{a}\"\n" for i, a in enumerate(amounts))


def test_amounts_in_several_currencies_are_kept_with_a_warning(workspace, tmp_path):
    mixed = [f"€{10 + i}.50" for i in range(30)] + [f"$ {20 + i}.00" for i in range(12)] + ["15.00"]
    ds = workspace.import_file(write(tmp_path / "mixed.csv", _orders(mixed)))
    [warning] = ds.report.warnings
    assert "2 currencies (€ on 30 rows, $ on 12 rows)" in warning and "Convert the amounts to one currency" in warning
    assert events(workspace, ds)["amount"].notna().sum() == 43  # nothing dropped: the user decides
    one = workspace.import_file(write(tmp_path / "euro.csv", _orders([f"€{10 + i},50" for i in range(40)])))
    assert one.report.warnings == [] and events(workspace, one)["amount"].max() == 49.5


def test_an_amount_far_above_the_rest_is_named_with_its_line(workspace, tmp_path):
    amounts = [f"{20 + i % 80}.99" for i in range(200)]
    normal = workspace.import_file(write(tmp_path / "normal.csv", _orders(amounts + ["4999.00"])))
    assert normal.report.warnings == []  # a large order is not an error
    amounts[5] = "1000000000000000"
    ds = workspace.import_file(write(tmp_path / "huge.csv", _orders(amounts)))
    [warning] = ds.report.warnings
    assert warning.startswith("1 amount in 'amount' is more than 10,000 times the usual ones")
    assert "the largest is 1,000,000,000,000,000, first on line 7" in warning and "It is kept and counts" in warning


# Amounts as shops around the world export them: any currency sign, codes and abbreviations set apart by a
# space or a dot, grouping spaces (including no-break and narrow no-break ones).
MARKED = {"₹1,200.00": 1200.0, "Rs. 1,200": 1200.0, "Rs.1200": 1200.0, "1 200,50 zł": 1200.5, "CHF 12.50": 12.5,
          "12.50 USD": 12.5, "-$12.50": -12.5, "$-12.50": -12.5, "R$ 10,00": 10.0, "HK$12": 12.0, "S/ 10.00": 10.0,
          "12,50\u00a0€": 12.5, "1\u202f200,50 €": 1200.5, "₩5000": 5000.0, "100 лв": 100.0, "5 kr.": 5.0,
          "CHF 1'200.50": 1200.5, "CHF 1\u2019200.50": 1200.5}


@pytest.mark.parametrize("written", sorted(MARKED))
def test_currency_marks_are_removed_alike_in_python_and_sql(written):
    import duckdb

    from analytics.ingest.conversions import currency_sql, number_sql
    from analytics.ingest.formats import currency_mark, detect_number_format
    from analytics.sql import sql_literal

    nf = detect_number_format([written])
    assert nf.strip_symbols and nf.share == 1.0
    con = duckdb.connect()
    sql_value, sql_mark = con.execute(f"SELECT {number_sql(sql_literal(written), nf)}, "
                                      f"{currency_sql(sql_literal(written))}").fetchone()
    assert nf.parse(written) == sql_value == MARKED[written]
    assert sql_mark == currency_mark(written) and sql_mark and not any(c.isdigit() for c in sql_mark)


@pytest.mark.parametrize("values", [["u0004429", "u12"], ["SKU123", "SKU9"], ["ORD-1001", "ORD-1002"], ["USD", "N/A"],
                                    ["A.1", "B.2"], ["x 3", "y 4"], ["SKU 12", "SKU 13"]])
def test_letters_stuck_to_digits_are_not_a_currency(values):
    from analytics.ingest.cleaning import numeric_attribute
    from analytics.ingest.formats import detect_number_format

    assert detect_number_format(values).share == 0.0
    assert not numeric_attribute(pd.Series(values * 10))


def test_an_amount_column_in_rupees_or_francs_is_the_amount(workspace, tmp_path):
    written = [f"₹{1 + i % 9},{i % 10}00.00" for i in range(40)]
    rupees = workspace.import_file(write(tmp_path / "inr.csv", _orders(written)))
    assert rupees.mapping.amount == "amount" and rupees.report.warnings == []
    assert set(events(workspace, rupees)["amount"]) == {1000.0 * (1 + i % 9) + 100 * (i % 10) for i in range(40)}
    assert any("currency marks removed" in n for n in rupees.report.notes)
    # One currency written two ways in case is one mark; a second code is a second currency.
    kronor = [f"{10 + i},50 kr" for i in range(30)] + [f"{20 + i},00 Kr" for i in range(5)] + \
        [f"EUR {30 + i},00" for i in range(12)]
    ds = workspace.import_file(write(tmp_path / "sek.csv", _orders(kronor)))
    [warning] = ds.report.warnings
    assert ds.mapping.amount == "amount" and "2 currencies (kr on 35 rows, EUR on 12 rows)" in warning
    assert events(workspace, ds)["amount"].sum() == sum(10.5 + i for i in range(30)) + sum(20 + i for i in range(5)) \
        + sum(30 + i for i in range(12))


# Times with English month names, as spreadsheets, web servers and social APIs export them: (format, offset hours).
NAMED_TIMES = {"Mar {d}, 2025 10:00": 0, "March {d}, 2025 10:00 AM": 0, "{d} Mar 2025 10:00": 0,
               "{d:02d}-Mar-2025": None, "{d:02d}-MAR-25": None, "Sat, {d:02d} Mar 2025 10:00:00 +0200": 2,
               "Sat Mar {d:02d} 10:00:00 +0000 2025": 0, "{d:02d}/Mar/2025:10:00:00 -05:00": -5,
               "Sat, {d:02d} Mar 2025 10:00:00 GMT": 0, "Saturday, March {d}, 2025": None}


@pytest.mark.parametrize("written", list(NAMED_TIMES))
def test_times_with_month_names_are_read(workspace, tmp_path, written):
    rows = "".join(f"u{i % 5},\"{written.format(d=1 + i % 27)}\",view\n" for i in range(60))
    ds = workspace.import_file(write(tmp_path / "named.csv", "user_id,time,event\n" + rows))
    assert ds.rows == 60 and ds.mapping.timestamp == "time"
    offset = NAMED_TIMES[written]
    at = (lambda d: datetime(2025, 3, d)) if offset is None else (lambda d: datetime(2025, 3, d, 10 - offset))
    assert sorted(set(events(workspace, ds)["ts"])) == [at(d) for d in range(1, 28)]
    note = next(n for n in ds.report.notes if n.startswith("Time column"))
    assert "month names" in note and (("converted to UTC" in note) == ("%z" in note))


def test_words_that_are_months_do_not_make_a_time_column():
    from analytics.ingest.formats import detect_time_format

    assert detect_time_format(["may_buy", "march madness sale", "Dec promo"] * 40) is None


def test_a_shopify_orders_export_imports_with_its_offsets_and_line_items(workspace, tmp_path):
    header = "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem name,Billing Country\n"
    rows = "".join(f"#10{i:02d},c{i % 9}@shop.de,paid,EUR,{16 + i}.80,2025-03-{1 + i % 27:02d} 09:5{i % 10}:00 +0100,"
                   f"{1 + i % 3},Mug {i % 4},DE\n" for i in range(60))
    ds = workspace.import_file(write(tmp_path / "orders_export.csv", header + rows))
    m = ds.mapping
    assert (m.user_id, m.timestamp, m.amount, m.item_id) == ("Email", "Created at", "Total", "Lineitem name")
    assert ds.rows == 60 and ds.report.dropped == {}  # ' +0100' after the time was every row's time, unread
    assert events(workspace, ds)["ts"].min() == datetime(2025, 3, 1, 8, 50)


def test_local_times_are_read_in_the_logs_time_zone_and_absolute_ones_keep_their_instant(workspace, tmp_path):
    rows = ["u1,2025-03-01 10:00:00,view", "u1,2025-07-01 10:00:00,view", "u1,2025-07-01T10:00:00Z,view",
            "u2,2025-07-01T10:00:00+02:00,view", "u2,2025-07-01 10:00:00 UTC,view", "u2,1751364000,view"]
    path = write(tmp_path / "local.csv", "user_id,time,event\n" + "\n".join(rows[:5]) + "\n")
    utc = workspace.import_file(path)
    berlin = workspace.import_file(path, changes={"timezone": "Europe/Berlin"})
    assert berlin.mapping.timezone == "Europe/Berlin"
    # Winter (CET, +1) and summer (CEST, +2) local times move; Z, an offset and UTC do not.
    assert events(workspace, berlin)["ts"].tolist() == [datetime(2025, 3, 1, 9), datetime(2025, 7, 1, 8),
                                                        datetime(2025, 7, 1, 10), datetime(2025, 7, 1, 8),
                                                        datetime(2025, 7, 1, 10)]
    assert events(workspace, utc)["ts"].tolist()[:2] == [datetime(2025, 3, 1, 10), datetime(2025, 7, 1, 10)]
    assert any("taken as Europe/Berlin time and stored in UTC" in n for n in berlin.report.notes)
    epochs = workspace.import_file(write(tmp_path / "epoch.csv", "user_id,time,event\nu1,1751364000,view\n"),
                                   changes={"timezone": "Asia/Kolkata"})
    assert events(workspace, epochs)["ts"].tolist() == [datetime(2025, 7, 1, 10)]  # an epoch is an instant
    with pytest.raises(MappingError, match="Time zone 'Mars/Olympus' is unknown"):
        workspace.import_file(path, changes={"timezone": "Mars/Olympus"})
