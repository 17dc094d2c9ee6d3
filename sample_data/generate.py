"""Generate a realistic e-commerce behaviour log with known structure.

The log has one row per event (``user_id, event_time, event, amount, channel,
platform, country, category, item_id``) and hides structure that later features,
segmentations, models and recommenders should find again. What is hidden is
described in the README ("Sample data"); the ground truth per user (customer
type, new vs returning, lapsed, product tastes) is written next to the log with
``--truth``, and the product truth (category, line, popularity, bundles) next to
that (``truth.csv`` -> ``truth_items.csv``). ``--no-items`` leaves products out.

Usage::

    python sample_data/generate.py --events 1000000 -o big.csv [--truth truth.csv] [--no-items]

Everything is vectorised with numpy, so 10M events take seconds, and the
output is fully determined by ``--seed``.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

try:  # run as a script (python sample_data/generate.py) or imported as sample_data.generate
    from sample_data import products
except ImportError:  # pragma: no cover
    import products  # type: ignore[no-redef]

DAY = 86_400
# The log covers 26 weeks ending on this instant (UTC).
DEFAULT_END = np.datetime64("2025-06-30T00:00:00", "s")
DEFAULT_DAYS = 182

EVENT_NAMES = ["page_view", "search", "view_item", "add_to_cart", "begin_checkout", "purchase"]
CHANNELS = ["direct", "organic_search", "paid_search", "email", "paid_social", "referral"]
PLATFORMS = ["web", "ios", "android"]
COUNTRIES = ["DE", "FR", "GB", "US", "ES", "IT", "NL"]
CATEGORIES = ["electronics", "fashion", "home", "beauty", "sports", "books"]


@dataclass(frozen=True)
class CustomerType:
    """Behaviour of one hidden customer type."""

    name: str
    share: float  # share of users
    sessions_per_week: float  # mean visit rate while active
    page_views: float  # mean page views per session
    p_cart: float  # P(add_to_cart | session)
    p_checkout: float  # P(begin_checkout | cart)
    p_purchase: float  # P(purchase | checkout)
    order_value: float  # median order value (EUR)
    channels: tuple[float, ...]  # weights over CHANNELS
    new_share: float  # share of users who first appear during the window
    lapses: bool  # stops visiting part-way through the window


CUSTOMER_TYPES: tuple[CustomerType, ...] = (
    CustomerType("loyal_high_spender", 0.12, 0.9, 4, 0.65, 0.80, 0.85, 140.0,
                 (0.45, 0.15, 0.05, 0.30, 0.02, 0.03), 0.05, False),
    CustomerType("bargain_hunter", 0.20, 0.6, 3, 0.50, 0.60, 0.60, 22.0,
                 (0.10, 0.10, 0.25, 0.45, 0.05, 0.05), 0.20, False),
    CustomerType("window_shopper", 0.30, 0.35, 6, 0.12, 0.30, 0.35, 60.0,
                 (0.10, 0.35, 0.05, 0.02, 0.40, 0.08), 0.30, False),
    CustomerType("new_visitor", 0.25, 0.5, 3, 0.30, 0.45, 0.55, 45.0,
                 (0.05, 0.20, 0.35, 0.00, 0.35, 0.05), 1.00, False),
    CustomerType("lapsed_buyer", 0.13, 0.7, 3, 0.40, 0.60, 0.70, 75.0,
                 (0.30, 0.25, 0.10, 0.25, 0.05, 0.05), 0.00, True),
)

# Relative activity by weekday (Mon..Sun) and hour of day (UTC).
WEEKDAY_WEIGHT = np.array([0.90, 0.85, 0.85, 0.90, 1.00, 1.35, 1.30])
HOUR_WEIGHT = np.array([0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 0.9, 1.0, 1.0, 1.0,
                        1.1, 1.0, 1.0, 1.0, 1.1, 1.2, 1.4, 1.6, 1.7, 1.5, 1.0, 0.5])


def _expected_events_per_user(days: int) -> float:
    """Rough mean events per user, used to size the population."""
    weeks = days / 7
    total = 0.0
    for t in CUSTOMER_TYPES:
        active = weeks * (0.5 if t.new_share > 0.5 else 0.85) * (0.45 if t.lapses else 1.0)
        funnel = t.page_views + 1.6 + t.p_cart * (1 + t.p_checkout * (1 + t.p_purchase))
        total += t.share * max(1.0, t.sessions_per_week * active) * funnel
    return total


def _seasonal_times(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Draw one time per (lo, hi) window, thinned by weekday and hour weights."""
    out = np.empty(len(lo), dtype=np.int64)
    todo = np.arange(len(lo))
    peak = WEEKDAY_WEIGHT.max() * HOUR_WEIGHT.max()
    while len(todo):
        t = lo[todo] + (rng.random(len(todo)) * (hi[todo] - lo[todo])).astype(np.int64)
        # 1970-01-01 was a Thursday (weekday index 3).
        weekday = ((t // DAY) + 3) % 7
        hour = (t % DAY) // 3600
        keep = rng.random(len(todo)) * peak < WEEKDAY_WEIGHT[weekday] * HOUR_WEIGHT[hour]
        out[todo[keep]] = t[keep]
        todo = todo[~keep]
    return out


@dataclass(frozen=True)
class SampleLog:
    """A generated log with its hidden truth per user and (when it has products) per product."""

    events: pa.Table
    truth: pa.Table
    items: pa.Table | None


def generate(n_events: int = 50_000, seed: int = 7, days: int = DEFAULT_DAYS,
             end: np.datetime64 = DEFAULT_END, items: bool = True) -> tuple[pa.Table, pa.Table]:
    """Build the event log and the per-user truth table (see :func:`generate_log`)."""
    log = generate_log(n_events, seed=seed, days=days, end=end, items=items)
    return log.events, log.truth


def generate_log(n_events: int = 50_000, seed: int = 7, days: int = DEFAULT_DAYS,
                 end: np.datetime64 = DEFAULT_END, items: bool = True) -> SampleLog:
    """Build the event log, the per-user truth table and the product truth table.

    Parameters
    ----------
    n_events : int
        Approximate number of events wanted (the result is within a few percent).
    seed : int
        Seed of the random generator; same seed, same log.
    days : int
        Length of the observation window in days.
    end : numpy.datetime64
        End of the window (UTC).
    items : bool
        Add an ``item_id`` column (products of view_item, add_to_cart,
        begin_checkout and purchase events). Products are drawn from a separate
        random generator (seeded ``seed + 1000``), so every other column is the
        same with or without them.

    Returns
    -------
    SampleLog
        The log sorted by time, one row per user with the hidden labels, and one
        row per product (None without products).
    """
    if n_events < 100:
        raise ValueError(f"n_events must be at least 100, got {n_events}")
    rng = np.random.default_rng(seed)
    end_s = int(end.astype("datetime64[s]").astype(np.int64))
    start_s = end_s - days * DAY
    n_users = max(20, int(round(n_events / _expected_events_per_user(days))))

    # --- users -----------------------------------------------------------
    shares = np.array([t.share for t in CUSTOMER_TYPES])
    utype = rng.choice(len(CUSTOMER_TYPES), size=n_users, p=shares / shares.sum())
    new_share = np.array([t.new_share for t in CUSTOMER_TYPES])[utype]
    is_new = rng.random(n_users) < new_share
    # Returning users were already customers: first visit in the first two weeks.
    join = np.where(
        is_new,
        start_s + (rng.random(n_users) * (days - 3) * DAY).astype(np.int64),
        start_s + (rng.random(n_users) * 14 * DAY).astype(np.int64),
    )
    lapses = np.array([t.lapses for t in CUSTOMER_TYPES])[utype]
    stop = np.where(
        lapses,
        start_s + ((0.25 + 0.35 * rng.random(n_users)) * days * DAY).astype(np.int64),
        end_s,
    )
    stop = np.maximum(stop, join + DAY)
    # Heterogeneous activity within a type: some users visit much more than others.
    activity = rng.gamma(shape=2.5, scale=1 / 2.5, size=n_users)
    spend = rng.lognormal(0.0, 0.3, size=n_users)
    rate = np.array([t.sessions_per_week for t in CUSTOMER_TYPES])[utype] * activity
    weeks_active = (stop - join) / (7 * DAY)
    n_sessions = np.maximum(1, rng.poisson(rate * weeks_active))
    # New visitors mostly come a handful of times.
    n_sessions = np.where(CUSTOMER_TYPES_ARRAY_NEW[utype], np.minimum(n_sessions, 1 + rng.poisson(1.5, n_users)),
                          n_sessions)

    platform = rng.choice(len(PLATFORMS), size=n_users, p=[0.55, 0.25, 0.20])
    country = rng.choice(len(COUNTRIES), size=n_users, p=[0.25, 0.15, 0.15, 0.15, 0.1, 0.1, 0.1])
    chan_w = np.array([t.channels for t in CUSTOMER_TYPES])
    chan_w = chan_w / chan_w.sum(axis=1, keepdims=True)
    home_channel = (rng.random((n_users, 1)) > chan_w[utype].cumsum(axis=1)).sum(axis=1)
    home_channel = np.minimum(home_channel, len(CHANNELS) - 1)
    fav_category = rng.choice(len(CATEGORIES), size=n_users)

    # --- sessions ----------------------------------------------------------
    s_user = np.repeat(np.arange(n_users), n_sessions)
    n_s = len(s_user)
    s_start = _seasonal_times(rng, join[s_user], stop[s_user])
    # A user's first session is at their join time, so "first seen" is exact.
    first = np.r_[0, np.cumsum(n_sessions)[:-1]]
    s_start[first] = join
    t_of = utype[s_user]
    pv = np.array([t.page_views for t in CUSTOMER_TYPES])[t_of]
    n_pv = 1 + rng.poisson(pv - 1)
    n_search = rng.poisson(0.6, n_s)
    n_item = rng.poisson(np.maximum(0.5, pv * 0.35))
    cart = rng.random(n_s) < np.array([t.p_cart for t in CUSTOMER_TYPES])[t_of] * np.minimum(1.5, activity[s_user])
    checkout = cart & (rng.random(n_s) < np.array([t.p_checkout for t in CUSTOMER_TYPES])[t_of])
    buy = checkout & (rng.random(n_s) < np.array([t.p_purchase for t in CUSTOMER_TYPES])[t_of])
    n_item = np.where(cart, np.maximum(n_item, 1), n_item)
    s_channel = np.where(rng.random(n_s) < 0.75, home_channel[s_user],
                         rng.choice(len(CHANNELS), size=n_s))

    # --- events ------------------------------------------------------------
    counts = np.stack([n_pv, n_search, n_item, cart, checkout, buy], axis=1).astype(np.int64)
    per_session = counts.sum(axis=1)
    e_session = np.repeat(np.arange(n_s), per_session)
    # Event kinds in funnel order within each session.
    e_kind = np.repeat(np.tile(np.arange(len(EVENT_NAMES)), n_s), counts.ravel())
    n_e = len(e_session)
    # Seconds between consecutive events of a session: well under the 30-minute gap.
    step = np.minimum(rng.exponential(45.0, n_e), 900).astype(np.int64) + 1
    sess_first = np.r_[0, np.cumsum(per_session)[:-1]]
    step[sess_first] = 0
    offset = np.cumsum(step)
    offset -= np.repeat(offset[sess_first], per_session)
    e_ts = s_start[e_session] + offset
    e_user = s_user[e_session]

    is_purchase = e_kind == EVENT_NAMES.index("purchase")
    ov = np.array([t.order_value for t in CUSTOMER_TYPES])[utype[e_user]] * spend[e_user]
    amount = np.where(is_purchase, np.round(ov * rng.lognormal(0.0, 0.35, n_e), 2), np.nan)
    has_cat = e_kind >= EVENT_NAMES.index("view_item")
    category = np.where(rng.random(n_e) < 0.6, fav_category[e_user], rng.choice(len(CATEGORIES), size=n_e))

    order = np.argsort(e_ts, kind="stable")
    e_ts, e_user, e_kind = e_ts[order], e_user[order], e_kind[order]
    amount, category, has_cat = amount[order], category[order], has_cat[order]
    e_channel = s_channel[e_session[order]]
    drawn = None
    if items:
        # A generator of its own: the draws above (and so every other column) stay as they were.
        drawn = products.draw_items(
            np.random.default_rng(seed + 1000), n_events, len(CATEGORIES), fav_category, e_user, e_kind,
            category, has_cat, e_session[order], {name: i for i, name in enumerate(EVENT_NAMES)})

    user_labels = pa.array([f"u{i:07d}" for i in range(n_users)])
    ts = pa.array(e_ts.astype("datetime64[s]"), type=pa.timestamp("s"))
    events = pa.table({
        "user_id": _decode(e_user, user_labels),
        "event_time": pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ"),
        "event": _decode(e_kind, pa.array(EVENT_NAMES)),
        "amount": pa.array(amount, mask=np.isnan(amount)),
        "channel": _decode(e_channel, pa.array(CHANNELS)),
        "platform": _decode(platform[e_user], pa.array(PLATFORMS)),
        "country": _decode(country[e_user], pa.array(COUNTRIES)),
        "category": pa.array(np.array(CATEGORIES, dtype=object)[category], mask=~has_cat),
    })
    truth = pa.table({
        "user_id": user_labels,
        "customer_type": _decode(utype, pa.array([t.name for t in CUSTOMER_TYPES])),
        "is_new": pa.array(is_new),
        "lapsed": pa.array(lapses),
        "first_seen": pa.array(join.astype("datetime64[s]"), type=pa.timestamp("s", tz="UTC")),
    })
    if drawn is None:
        return SampleLog(events, truth, None)
    item_labels = pa.array([f"p{i:05d}" for i in range(drawn.catalogue.n_items)])
    events = events.append_column("item_id", _decode_nullable(drawn.event_item, item_labels))
    favourites = np.array(item_labels.to_pylist(), dtype=object)[drawn.favourites]
    truth = truth.append_column("taste_line", _decode(drawn.user_line, pa.array(products.LINES)))
    truth = truth.append_column("favourite_items", pa.array([" ".join(f) for f in favourites]))
    return SampleLog(events, truth, _items_truth(drawn.catalogue, item_labels))


def _items_truth(cat: products.Catalogue, item_labels: pa.Array) -> pa.Table:
    """One row per product: category, line, popularity, bundle and the other products of the bundle."""
    labels = np.array(item_labels.to_pylist(), dtype=object)
    rank = np.empty(cat.n_items, dtype=np.int64)
    for c in np.unique(cat.category):
        idx = np.flatnonzero(cat.category == c)
        rank[idx[np.argsort(-cat.weight[idx], kind="stable")]] = np.arange(1, len(idx) + 1)
    others = []
    for i in range(cat.n_items):
        b = cat.bundle[i]
        members = cat.bundle_members[b, :cat.bundle_size[b]] if b >= 0 else []
        others.append(" ".join(labels[m] for m in members if m != i) or None)
    return pa.table({
        "item_id": item_labels,
        "category": _decode(cat.category, pa.array(CATEGORIES)),
        "line": _decode(cat.line, pa.array(products.LINES)),
        "popularity_rank": pa.array(rank),
        "weight_in_category": pa.array(np.round(cat.weight, 6)),
        "bundle": pa.array([f"b{b:04d}" if b >= 0 else None for b in cat.bundle]),
        "bundle_with": pa.array(others, type=pa.string()),
    })


CUSTOMER_TYPES_ARRAY_NEW = np.array([t.new_share > 0.5 for t in CUSTOMER_TYPES])


def _decode(codes: np.ndarray, labels: pa.Array) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), labels).dictionary_decode()


def _decode_nullable(codes: np.ndarray, labels: pa.Array) -> pa.Array:
    """Like :func:`_decode`, with -1 as null."""
    indices = pa.array(np.maximum(codes, 0).astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, labels).dictionary_decode()


def items_truth_path(truth_path: Path) -> Path:
    """Where the product truth goes next to the user truth: ``truth.csv.gz`` -> ``truth_items.csv.gz``."""
    name = truth_path.name
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            return truth_path.with_name(name[: -len(suffix)] + "_items" + suffix)
    return truth_path.with_name(name + "_items.csv")


def write_csv(table: pa.Table, path: Path) -> None:
    """Write ``table`` as CSV, gzip-compressed when ``path`` ends in ``.gz``."""
    options = pacsv.WriteOptions(quoting_style="none")
    if path.suffix == ".gz":
        with gzip.open(path, "wb", compresslevel=6) as fh:
            pacsv.write_csv(table, fh, options)
    else:
        pacsv.write_csv(table, path, options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000,
                        help="approximate number of events (10k to 10M and beyond)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("-o", "--output", type=Path, required=True, help="CSV path (.csv or .csv.gz)")
    parser.add_argument("--truth", type=Path,
                        help="also write the hidden per-user truth here (and the product truth next to it)")
    parser.add_argument("--no-items", action="store_true", help="no item_id column (the log as before products)")
    args = parser.parse_args(argv)
    log = generate_log(args.events, seed=args.seed, days=args.days, items=not args.no_items)
    events, truth = log.events, log.truth
    write_csv(events, args.output)
    if args.truth:
        write_csv(truth, args.truth)
        if log.items is not None:
            write_csv(log.items, items_truth_path(args.truth))
    print(f"wrote {events.num_rows:,} events of {truth.num_rows:,} users to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
