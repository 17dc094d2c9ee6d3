"""Guessing column roles and value formats from names and values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.errors import MappingError
from analytics.ingest.formats import detect_number_format, detect_time_format
from analytics.ingest.roles import ColumnMapping, guess_mapping, guess_purchase_event, mapping_with


@pytest.mark.parametrize("values, kind", [
    (["2025-03-01T10:00:00Z", "2025-03-02T11:30:00+02:00"], "iso"),
    (["2025-03-01 10:00:00", "2025-03-02 11:30"], "iso"),
    (["2025-03-01", "2025-03-02"], "iso"),
    (["1740823200", "1740826800"], "epoch_s"),
    (["1740823200123", "1740826800456"], "epoch_ms"),
    (["20250301", "20250302"], "yyyymmdd"),
    (["31/03/2025 10:00", "01/04/2025 11:00"], "dmy"),
    (["03/31/2025", "04/01/2025"], "mdy"),
    (["2025/03/31 10:00:00", "2025/04/01 09:00:00"], "ymd"),
])
def test_time_formats(values, kind):
    tf = detect_time_format(values)
    assert tf is not None and tf.kind == kind


def test_day_first_and_month_first_are_decided_from_the_data():
    assert detect_time_format(["13/01/2025", "02/03/2025"]).kind == "dmy"
    assert detect_time_format(["01/13/2025", "02/03/2025"]).kind == "mdy"
    ambiguous = detect_time_format(["01/02/2025", "03/04/2025"])
    assert ambiguous.ambiguous and "assumed" in ambiguous.describe()
    assert detect_time_format(["01.02.2025", "03.04.2025"]).kind == "dmy"  # dotted dates are European
    forced = detect_time_format(["01/02/2025", "03/04/2025"], date_order="dmy")
    assert forced.kind == "dmy" and not forced.ambiguous


def test_not_a_time():
    assert detect_time_format(["apple", "banana", "cherry"]) is None
    assert detect_time_format([]) is None
    assert detect_time_format(["123", "456"]) is None  # too short for an epoch


@pytest.mark.parametrize("values, decimal, thousands, expected", [
    (["12.50", "3.99", "100"], ".", None, 12.5),
    (["12,50", "3,99", "100,00"], ",", None, 12.5),
    (["1.234,56", "12,50"], ",", ".", 1234.56),
    (["1,234.56", "12.50"], ".", ",", 1234.56),
    (["€ 12,50", "€ 3,99"], ",", None, 12.5),
])
def test_number_formats(values, decimal, thousands, expected):
    nf = detect_number_format(values)
    assert (nf.decimal, nf.thousands) == (decimal, thousands)
    assert nf.parse(values[0]) == pytest.approx(expected)


def test_number_format_share_counts_junk():
    nf = detect_number_format(["12.5", "abc", "3", "4"])
    assert nf.share == pytest.approx(0.75)
    assert nf.parse("inf") is None


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols).astype(object)


def test_guess_event_log():
    df = frame(visitor_id=["v1", "v2", "v1", "v3"] * 5, event_time=["2025-01-01 10:00"] * 20,
               action=["view", "buy", "view", "cart"] * 5, revenue=["", "10.5", "", ""] * 5,
               channel=["email", "seo", "email", "ads"] * 5, session=["s1", "s2", "s1", "s3"] * 5)
    m = guess_mapping(df).mapping
    assert (m.user_id, m.timestamp, m.event, m.amount, m.session_id) == (
        "visitor_id", "event_time", "action", "revenue", "session")
    assert m.attributes == ["channel"]


def test_transaction_log_without_event_column():
    df = frame(customer_id=["c1", "c2", "c1", "c3"] * 5, date=[f"2025-01-0{i % 9 + 1}" for i in range(20)],
               quantity=["1", "2", "1", "5"] * 5, value=["9.99", "19.90", "4.50", "100.00"] * 5)
    guess = guess_mapping(df)
    m = guess.mapping
    assert (m.user_id, m.timestamp, m.event, m.amount) == ("customer_id", "date", None, "value")
    assert m.attributes == ["quantity"]  # a quantity is not money
    assert "purchase" in guess.reasons["event"]


def test_guess_without_header_names_uses_values():
    df = frame(column_1=[f"u{i % 7}" for i in range(40)],
               column_2=[f"2025-02-{i % 28 + 1:02d} 10:00:00" for i in range(40)],
               column_3=["view", "buy"] * 20, column_4=[f"{i}.5" for i in range(40)])
    m = guess_mapping(df).mapping
    assert (m.user_id, m.timestamp, m.event, m.amount) == ("column_1", "column_2", "column_3", "column_4")


def test_mapping_with_moves_a_column_between_roles():
    base = ColumnMapping(user_id="a", timestamp="b", event="c", attributes=["d"])
    m = mapping_with(["a", "b", "c", "d"], base, user_id="d", event=None, event_name="order")
    assert (m.user_id, m.event, m.event_name) == ("d", None, "order")
    assert m.attributes == ["a", "c"]
    m2 = mapping_with(["a", "b", "c", "d"], base, event="a")  # 'a' leaves user_id
    assert m2.user_id is None and m2.event == "a"


def test_validate_names_the_problem():
    with pytest.raises(MappingError, match="user id"):
        ColumnMapping(user_id=None, timestamp="t").validate(["t"])
    with pytest.raises(MappingError, match="time"):
        ColumnMapping(user_id="u", timestamp=None).validate(["u"])
    with pytest.raises(MappingError, match="not in the file"):
        ColumnMapping(user_id="u", timestamp="zz").validate(["u", "t"])
    with pytest.raises(MappingError, match="two roles"):
        ColumnMapping(user_id="u", timestamp="u").validate(["u"])
    with pytest.raises(MappingError, match="name the event"):
        ColumnMapping(user_id="u", timestamp="t", event=None, event_name=" ").validate(["u", "t"])


def test_purchase_event_guess():
    assert guess_purchase_event({"page_view": 10, "purchase": 2, "add_to_cart": 3}) == "purchase"
    assert guess_purchase_event({"view": 10, "order_completed": 2, "begin_checkout": 5}) == "order_completed"
    assert guess_purchase_event({"view": 10, "add_to_cart": 4}) is None
    assert guess_purchase_event({"view": 10, "x": 4}, {"view": 0, "x": 4}) == "x"


def test_a_column_with_one_value_is_never_guessed_as_the_user():
    # The file: no user column; 'event' holds one value and must not become the user id.
    df = frame(event=["view"] * 100, time=[f"2025-03-{i % 28 + 1:02d} 10:00" for i in range(100)],
               price=[f"{i}.99" for i in range(100)])
    guess = guess_mapping(df)
    assert guess.mapping.user_id is None
    with pytest.raises(MappingError, match="user id"):
        guess.mapping.validate(list(df.columns))


def test_a_handful_of_ids_over_many_rows_is_not_a_user_column():
    df = frame(store=[f"s{i % 3}" for i in range(600)], time=[f"2025-03-{i % 28 + 1:02d} 10:00" for i in range(600)])
    assert guess_mapping(df).mapping.user_id is None
    few_customers = frame(customer=[f"c{i % 3}" for i in range(30)], time=["2025-03-01 10:00"] * 30)
    assert guess_mapping(few_customers).mapping.user_id == "customer"  # a small log of 3 customers still works
    one_customer = frame(customer_id=["c1"] * 600, time=["2025-03-01 10:00"] * 600)
    assert guess_mapping(one_customer).mapping.user_id == "customer_id"  # named a user: a log of one customer


def test_whole_number_amounts_and_a_few_channels_are_never_guessed_as_the_user():
    # A log exported without its user column: the amount (whole numbers, many values) and the
    # channel (six values, named like a property) once became "the user" silently; now the page asks.
    rng = np.random.default_rng(0)
    df = frame(date=[f"2025-03-{i % 28 + 1:02d} 10:00" for i in range(60)],
               event=rng.choice(["page_view", "add_to_cart", "purchase"], 60).tolist(),
               amount=[str(v) for v in rng.integers(10, 99, 60)],
               channel=rng.choice(["email", "ads", "social", "search", "display", "affiliate"], 60).tolist())
    guess = guess_mapping(df)
    assert guess.mapping.user_id is None
    assert (guess.mapping.timestamp, guess.mapping.event, guess.mapping.amount) == ("date", "event", "amount")
    with pytest.raises(MappingError, match="user id"):
        guess.mapping.validate(list(df.columns))
    # Unnamed ids with many values are still found by their values; a handful of unnamed values is a label.
    df["who"] = [f"x{i % 17}" for i in range(60)]
    assert guess_mapping(df).mapping.user_id == "who"
    df["who"] = [f"x{i % 4}" for i in range(60)]
    assert guess_mapping(df).mapping.user_id is None


def test_an_amount_column_that_is_not_plain_numbers_is_explained_not_dropped_silently():
    df = frame(user_id=[f"u{i % 7}" for i in range(40)], time=[f"2025-03-{i % 28 + 1:02d} 10:00" for i in range(40)],
               event=["view", "buy"] * 20, amount=[f"{i}.50 incl. tax" for i in range(40)])
    guess = guess_mapping(df)
    assert guess.mapping.amount is None and "amount" in guess.mapping.attributes
    assert "'amount' looks like money by its name" in guess.reasons["amount"]
    assert "'0.50 incl. tax'" in guess.reasons["amount"]
    plain = frame(**{c: df[c] for c in ("user_id", "time", "event")}, quantity=[str(i % 3) for i in range(40)])
    assert "amount" not in guess_mapping(plain).reasons  # nothing named like money: nothing to explain


@pytest.mark.parametrize("name, money", [("paid", True), ("amount_paid", True), ("bid_amount", True),
                                         ("average_order_value", True), ("user_id", False), ("userId", False),
                                         ("item_count", False), ("session_time", False), ("orderNo", False)])
def test_words_that_say_not_money_are_whole_words(name, money):
    from analytics.ingest.roles import _not_money

    assert _not_money(name) is not money
    # A clean numeric column is the amount unless its name says otherwise.
    df = frame(user_id=[f"u{i % 7}" for i in range(40)], time=[f"2025-03-{i % 28 + 1:02d} 10:00" for i in range(40)],
               event=["view", "buy"] * 20, **{name if name != "user_id" else "x": [f"{i % 9}.5" for i in range(40)]})
    if name != "user_id":
        assert (guess_mapping(df).mapping.amount == name) is money


# Exports as the tools write them (column names and value shapes), with the roles a marketer expects.
DAYS = [f"2025-03-{1 + i % 27:02d}" for i in range(60)]
EXPORTS = {
    "stripe": ({"id": [f"ch_{i}" for i in range(60)], "Created (UTC)": [f"{d} 10:00" for d in DAYS],
                "Amount": [f"{20 + i}.00" for i in range(60)], "Status": ["Paid", "Failed"] * 30,
                "Customer ID": [f"cus_{i % 8}" for i in range(60)],
                "Customer Email": [f"c{i % 8}@x.de" for i in range(60)]},
               ("Customer ID", "Created (UTC)", "Status", "Amount")),
    "klaviyo": ({"Profile ID": [f"01H{i % 9}" for i in range(60)], "Email": [f"p{i % 9}@x.de" for i in range(60)],
                 "Timestamp": [f"{d}T10:00:00+00:00" for d in DAYS],
                 "Metric Name": ["Received Email", "Opened Email", "Clicked Email", "Placed Order"] * 15,
                 "$value": [f"{30 + i}" if i % 4 == 3 else "" for i in range(60)]},
                ("Profile ID", "Timestamp", "Metric Name", "$value")),
}


@pytest.mark.parametrize("tool", sorted(EXPORTS))
def test_exports_of_common_tools_get_the_roles_a_marketer_expects(tool):
    columns, (user, time, event, amount) = EXPORTS[tool]
    m = guess_mapping(frame(**columns)).mapping
    assert (m.user_id, m.timestamp, m.event, m.amount) == (user, time, event, amount)
