"""Generate a social-media engagement log with known structure.

The log has one row per event (``user_id, event_time, event, amount, channel,
campaign, content_id``): people see posts on several channels (``impression``),
some react (``click``, ``like``, ``comment``, ``share``), follow or unfollow the
brand's account (``follow``, ``unfollow``), and some later convert on the site
(``sign_up``, ``purchase`` with an amount; site events have no channel,
campaign or post).

What is hidden (written with ``--truth`` as a long table ``kind, key, field,
value``; see the README's "Social sample" section):

- four audience types per user (``user, <id>, audience_type``): lurkers,
  engagers, advocates and converters;
- which campaigns truly lift conversion (``campaign, <name>, lift`` and
  ``lifts_conversion``), including a retargeting campaign that reaches people
  who buy anyway and a giveaway that engages a lot but sells nothing;
- per channel and kind of engagement, the chance that it causes a purchase: on
  ``facebook`` clicks convert while likes never do (``channel, <name>,
  click_converts`` / ``like_converts``), and how many purchases each channel
  truly caused (``caused_purchases``, ``caused_share``);
- each post's engagement quality (``content, <id>, quality``).

Usage::

    python sample_data/generate_social.py --events 40000 -o social.csv.gz [--truth truth.csv.gz]

Everything is vectorised with numpy and fully determined by ``--seed``.
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

DAY = 86_400
DEFAULT_END = np.datetime64("2025-06-30T00:00:00", "s")
DEFAULT_DAYS = 91

CHANNELS = ["facebook", "instagram", "tiktok", "youtube", "linkedin"]
CHANNEL_MIX = np.array([0.30, 0.30, 0.20, 0.12, 0.08])
ENGAGEMENTS = ["click", "like", "comment", "share"]
EVENT_NAMES = ["impression", *ENGAGEMENTS, "follow", "unfollow", "sign_up", "purchase"]

# Chance that an impression leads to each engagement (rows: CHANNELS, columns: ENGAGEMENTS).
ENGAGE_P = np.array([
    [0.050, 0.060, 0.010, 0.008],  # facebook
    [0.020, 0.080, 0.012, 0.006],  # instagram
    [0.010, 0.120, 0.020, 0.015],  # tiktok: the most likes, the fewest clicks
    [0.025, 0.040, 0.008, 0.004],  # youtube
    [0.035, 0.030, 0.006, 0.006],  # linkedin
])
# Chance that one engagement causes a purchase (before campaign lift and audience susceptibility).
# facebook: clicks convert, likes never do.
CONVERT_P = np.array([
    [0.200, 0.000, 0.000, 0.000],  # facebook
    [0.040, 0.008, 0.012, 0.012],  # instagram
    [0.015, 0.000, 0.000, 0.000],  # tiktok
    [0.050, 0.000, 0.005, 0.005],  # youtube
    [0.060, 0.000, 0.000, 0.000],  # linkedin
])


@dataclass(frozen=True)
class AudienceType:
    """How one hidden audience type sees, reacts and buys."""

    name: str
    share: float  # share of users
    impressions: float  # mean impressions per user over the window
    engage: tuple[float, float, float, float]  # multipliers of ENGAGE_P per engagement kind
    follow: float  # chance a like/comment/share comes with a follow
    susceptibility: float  # multiplier of CONVERT_P
    organic: float  # purchases per 91 days that social had no part in
    spend: float  # median order value (EUR)


AUDIENCE_TYPES: tuple[AudienceType, ...] = (
    AudienceType("lurker", 0.45, 16, (0.3, 0.25, 0.05, 0.05), 0.01, 0.6, 0.02, 40.0),
    AudienceType("engager", 0.30, 24, (0.8, 2.5, 3.0, 1.5), 0.04, 0.6, 0.03, 35.0),
    AudienceType("advocate", 0.10, 30, (1.0, 3.0, 4.0, 6.0), 0.12, 1.0, 0.05, 50.0),
    AudienceType("converter", 0.15, 20, (4.0, 0.8, 0.5, 0.5), 0.02, 3.0, 0.12, 65.0),
)


@dataclass(frozen=True)
class Campaign:
    """A campaign: its posts, whom it reaches and what it truly does to conversion."""

    name: str
    lift: float  # multiplier of the purchase chance of its engagements (0: no causal effect)
    channels: tuple[str, ...]
    posts: int
    reach: float  # relative share of impressions
    targeting: tuple[float, float, float, float]  # weight per audience type (lurker, engager, advocate, converter)
    engage: float  # multiplier of likes, comments and shares
    follow: float  # multiplier of follows
    unfollow: float  # chance that a follow is undone later
    flight: tuple[float, float] | None  # (start, end) as fractions of the window; None: always on


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign("spring_sale", 2.0, ("facebook", "instagram"), 10, 1.2, (1, 1, 1, 1), 1.0, 1.0, 0.15, (0.10, 0.45)),
    Campaign("new_collection", 1.5, ("instagram", "tiktok", "facebook"), 12, 1.0, (1, 1, 1, 1), 1.2, 1.0, 0.15,
             (0.40, 0.85)),
    Campaign("brand_story", 0.0, ("youtube", "instagram", "tiktok"), 10, 0.9, (1, 1, 1, 1), 1.5, 1.5, 0.10, None),
    Campaign("giveaway", 0.0, ("instagram", "tiktok", "facebook"), 8, 0.8, (0.6, 2.0, 2.0, 0.4), 3.0, 5.0, 0.45,
             (0.55, 0.75)),
    Campaign("retargeting", 0.0, ("facebook", "instagram"), 8, 0.6, (0.05, 0.1, 0.3, 4.0), 0.8, 0.5, 0.10, None),
    Campaign("how_to", 1.0, ("youtube", "linkedin"), 10, 0.7, (1, 1, 1, 1), 1.0, 1.0, 0.10, None),
    Campaign("always_on", 1.0, tuple(CHANNELS), 15, 1.0, (1, 1, 1, 1), 1.0, 1.0, 0.15, None),
)


def _expected_events_per_user() -> float:
    """Rough mean events per user, used to size the population."""
    total = 0.0
    mean_engage = (CHANNEL_MIX[:, None] * ENGAGE_P).sum(axis=0)
    for t in AUDIENCE_TYPES:
        engagements = t.impressions * float((mean_engage * np.array(t.engage)).sum()) * 1.1
        total += t.share * (t.impressions + engagements * (1 + t.follow) + 0.3)
    return total


def generate(n_events: int = 40_000, seed: int = 11, days: int = DEFAULT_DAYS,
             end: np.datetime64 = DEFAULT_END) -> tuple[pa.Table, pa.Table]:
    """Build the social log and its hidden truth.

    Parameters
    ----------
    n_events : int
        Approximate number of events wanted (within about 15%).
    seed : int
        Seed of the random generator; same seed, same log.
    days : int
        Length of the window in days.
    end : numpy.datetime64
        End of the window (UTC).

    Returns
    -------
    events, truth : pyarrow.Table
        The log sorted by time, and the truth as ``kind, key, field, value`` rows.
    """
    if n_events < 1000:
        raise ValueError(f"n_events must be at least 1000, got {n_events}")
    if days < 14:
        raise ValueError(f"days must be at least 14, got {days}")
    rng = np.random.default_rng(seed)
    end_s = int(end.astype("datetime64[s]").astype(np.int64))
    start_s = end_s - days * DAY
    n_users = max(50, int(round(n_events / _expected_events_per_user())))
    n_types = len(AUDIENCE_TYPES)

    # --- users -------------------------------------------------------------------------
    shares = np.array([t.share for t in AUDIENCE_TYPES])
    utype = rng.choice(n_types, size=n_users, p=shares / shares.sum())
    activity = rng.gamma(2.0, 0.5, n_users)
    # Each user follows a few channels: a Dirichlet draw around the overall mix.
    chan_w = rng.dirichlet(CHANNEL_MIX * 3.0, size=n_users)

    # --- posts -------------------------------------------------------------------------
    p_campaign, p_channel, p_time, p_quality, p_reach = _posts(rng, start_s, end_s)
    n_posts = len(p_campaign)

    # --- impressions -------------------------------------------------------------------
    imp_mean = np.array([t.impressions for t in AUDIENCE_TYPES])[utype] * activity * days / DEFAULT_DAYS
    n_imp = rng.poisson(imp_mean)
    i_user = np.repeat(np.arange(n_users), n_imp)
    n_i = len(i_user)
    i_chan = np.minimum((rng.random((n_i, 1)) > chan_w[i_user].cumsum(axis=1)).sum(axis=1), len(CHANNELS) - 1)
    i_post = np.full(n_i, -1)
    targeting = np.array([c.targeting for c in CAMPAIGNS])
    for c in range(len(CHANNELS)):
        posts = np.flatnonzero(p_channel == c)
        for t in range(n_types):
            idx = np.flatnonzero((i_chan == c) & (utype[i_user] == t))
            if len(idx) and len(posts):
                w = p_reach[posts] * targeting[p_campaign[posts], t]
                i_post[idx] = rng.choice(posts, size=len(idx), p=w / w.sum())
    keep = i_post >= 0
    i_user, i_post = i_user[keep], i_post[keep]
    n_i = len(i_user)
    # Posts are seen in the days after they go out (about three days on average).
    delay = rng.exponential(3 * DAY, n_i).astype(np.int64)
    late = p_time[i_post] + delay >= end_s
    delay[late] = (rng.random(late.sum()) * (end_s - p_time[i_post][late])).astype(np.int64)
    i_ts = p_time[i_post] + delay

    # --- engagements -------------------------------------------------------------------
    camp = np.array([[1.0, c.engage, c.engage, c.engage] for c in CAMPAIGNS])
    t_engage = np.array([t.engage for t in AUDIENCE_TYPES])
    e_imp, e_kind = [], []
    for k in range(len(ENGAGEMENTS)):
        p = ENGAGE_P[p_channel[i_post], k] * t_engage[utype[i_user], k] * p_quality[i_post] \
            * camp[p_campaign[i_post], k]
        hit = np.flatnonzero(rng.random(n_i) < np.minimum(p, 0.9))
        e_imp.append(hit)
        e_kind.append(np.full(len(hit), 1 + k))
    e_imp = np.concatenate(e_imp)
    e_kind = np.concatenate(e_kind)
    e_user, e_post = i_user[e_imp], i_post[e_imp]
    e_ts = np.minimum(i_ts[e_imp] + 1 + rng.exponential(90, len(e_imp)).astype(np.int64), end_s - 1)

    # --- follows and unfollows (account level: one follow per user and channel) ---------
    f_p = np.array([t.follow for t in AUDIENCE_TYPES])[utype[e_user]] \
        * np.array([c.follow for c in CAMPAIGNS])[p_campaign[e_post]]
    f_cand = np.flatnonzero((e_kind >= 2) & (rng.random(len(e_user)) < np.minimum(f_p, 0.9)))
    f_cand = f_cand[np.argsort(e_ts[f_cand], kind="stable")]
    _, first = np.unique(e_user[f_cand] * len(CHANNELS) + p_channel[e_post[f_cand]], return_index=True)
    f_src = f_cand[np.sort(first)]
    f_user, f_post, f_ts = e_user[f_src], e_post[f_src], np.minimum(e_ts[f_src] + 5, end_s - 1)
    undo = rng.random(len(f_src)) < np.array([c.unfollow for c in CAMPAIGNS])[p_campaign[f_post]]
    u_ts = f_ts[undo] + rng.exponential(12 * DAY, undo.sum()).astype(np.int64)
    u_ok = u_ts < end_s
    u_user, u_chan, u_ts = f_user[undo][u_ok], p_channel[f_post[undo]][u_ok], u_ts[u_ok]

    # --- purchases caused by engagements, and organic ones ------------------------------
    lift = np.array([c.lift for c in CAMPAIGNS])
    sus = np.array([t.susceptibility for t in AUDIENCE_TYPES])
    p_buy = CONVERT_P[p_channel[e_post], e_kind - 1] * lift[p_campaign[e_post]] * sus[utype[e_user]]
    caused = np.flatnonzero(rng.random(len(e_user)) < np.minimum(p_buy, 0.9))
    c_ts = e_ts[caused] + 60 + rng.exponential(1.0 * DAY, len(caused)).astype(np.int64)
    c_ok = c_ts < end_s
    caused, c_ts = caused[c_ok], c_ts[c_ok]
    n_org = rng.poisson(np.array([t.organic for t in AUDIENCE_TYPES])[utype] * days / DEFAULT_DAYS)
    o_user = np.repeat(np.arange(n_users), n_org)
    o_ts = start_s + (rng.random(len(o_user)) * (end_s - start_s)).astype(np.int64)
    b_user = np.r_[e_user[caused], o_user]
    b_ts = np.r_[c_ts, o_ts]
    b_cause_chan = np.r_[p_channel[e_post[caused]], np.full(len(o_user), -1)]
    b_cause_camp = np.r_[p_campaign[e_post[caused]], np.full(len(o_user), -1)]
    spend = np.array([t.spend for t in AUDIENCE_TYPES])[utype[b_user]]
    b_amount = np.round(spend * rng.lognormal(0.0, 0.5, len(b_user)), 2)

    # --- sign-ups: before a user's first purchase, or after some clicks (leads) ---------
    lead = np.flatnonzero((e_kind == 1) & (rng.random(len(e_user)) < 0.03 * sus[utype[e_user]]))
    s_user = np.r_[b_user, e_user[lead]]
    s_ts = np.r_[b_ts - 60 - (rng.random(len(b_user)) * 1200).astype(np.int64), e_ts[lead] + 120]
    order = np.lexsort((s_ts, s_user))
    _, first = np.unique(s_user[order], return_index=True)
    s_user, s_ts = s_user[order][first], np.clip(s_ts[order][first], start_s, end_s - 1)

    # --- assemble ----------------------------------------------------------------------
    null = -1
    parts = [
        # (user, ts, kind, post, channel, amount)
        (i_user, i_ts, np.zeros(n_i, int), i_post, p_channel[i_post], None),
        (e_user, e_ts, e_kind, e_post, p_channel[e_post], None),
        (f_user, f_ts, np.full(len(f_user), EVENT_NAMES.index("follow")), f_post, p_channel[f_post], None),
        (u_user, u_ts, np.full(len(u_user), EVENT_NAMES.index("unfollow")), np.full(len(u_user), null), u_chan, None),
        (s_user, s_ts, np.full(len(s_user), EVENT_NAMES.index("sign_up")), np.full(len(s_user), null),
         np.full(len(s_user), null), None),
        (b_user, b_ts, np.full(len(b_user), EVENT_NAMES.index("purchase")), np.full(len(b_user), null),
         np.full(len(b_user), null), b_amount),
    ]
    user = np.concatenate([p[0] for p in parts])
    ts = np.concatenate([p[1] for p in parts])
    kind = np.concatenate([p[2] for p in parts])
    post = np.concatenate([p[3] for p in parts])
    chan = np.concatenate([p[4] for p in parts])
    amount = np.concatenate([np.full(len(p[0]), np.nan) if p[5] is None else p[5] for p in parts])
    order = np.lexsort((kind, user, ts))
    user, ts, kind, post, chan, amount = (a[order] for a in (user, ts, kind, post, chan, amount))
    camp_of = np.where(post >= 0, p_campaign[np.maximum(post, 0)], null)

    user_labels = np.array([f"s{i:06d}" for i in range(n_users)], dtype=object)
    post_labels = np.array([f"{CAMPAIGNS[p_campaign[i]].name[:4]}-{CHANNELS[p_channel[i]][:2]}-{i:03d}"
                            for i in range(n_posts)], dtype=object)
    stamp = pa.array(ts.astype("datetime64[s]"), type=pa.timestamp("s"))
    events = pa.table({
        "user_id": pa.array(user_labels[user]),
        "event_time": pc.strftime(stamp, format="%Y-%m-%dT%H:%M:%SZ"),
        "event": pa.array(np.array(EVENT_NAMES, dtype=object)[kind]),
        "amount": pa.array(amount, mask=np.isnan(amount)),
        "channel": _labels(CHANNELS, chan),
        "campaign": _labels([c.name for c in CAMPAIGNS], camp_of),
        "content_id": pa.array(post_labels[np.maximum(post, 0)], mask=post < 0),
    })
    truth = _truth(utype, user_labels, post_labels, p_campaign, p_channel, p_quality, b_cause_chan, b_cause_camp)
    return events, truth


def _posts(rng: np.random.Generator, start_s: int, end_s: int) -> tuple[np.ndarray, ...]:
    """Campaign, channel, publish time, quality and reach weight of every post."""
    camp, chan, when = [], [], []
    span = end_s - start_s
    for ci, c in enumerate(CAMPAIGNS):
        lo, hi = c.flight or (0.0, 0.9)
        chans = [CHANNELS.index(name) for name in c.channels]
        camp.append(np.full(c.posts, ci))
        chan.append(np.array(chans)[np.arange(c.posts) % len(chans)])
        when.append(start_s + ((lo + (hi - lo) * rng.random(c.posts)) * span).astype(np.int64))
    camp, chan, when = np.concatenate(camp), np.concatenate(chan), np.concatenate(when)
    quality = rng.lognormal(0.0, 0.45, len(camp))
    reach = np.array([c.reach for c in CAMPAIGNS])[camp] / np.array([c.posts for c in CAMPAIGNS])[camp] \
        * rng.lognormal(0.0, 0.5, len(camp))
    return camp, chan, when, quality, reach


def _labels(names: list[str], codes: np.ndarray) -> pa.Array:
    return pa.array(np.array(names, dtype=object)[np.maximum(codes, 0)], mask=codes < 0)


def _truth(utype: np.ndarray, user_labels: np.ndarray, post_labels: np.ndarray, p_campaign: np.ndarray,
           p_channel: np.ndarray, p_quality: np.ndarray, cause_chan: np.ndarray, cause_camp: np.ndarray) -> pa.Table:
    rows: list[tuple[str, str, str, str]] = []
    names = [t.name for t in AUDIENCE_TYPES]
    rows += [("user", u, "audience_type", names[t]) for u, t in zip(user_labels, utype)]
    n_caused = max(1, int((cause_chan >= 0).sum()))
    for ci, c in enumerate(CAMPAIGNS):
        caused = int((cause_camp == ci).sum())
        rows += [("campaign", c.name, "lift", f"{c.lift:g}"),
                 ("campaign", c.name, "lifts_conversion", str(c.lift > 0).lower()),
                 ("campaign", c.name, "caused_purchases", str(caused))]
    for k, name in enumerate(CHANNELS):
        caused = int((cause_chan == k).sum())
        rows += [("channel", name, "click_purchase_chance", f"{CONVERT_P[k, 0]:g}"),
                 ("channel", name, "like_purchase_chance", f"{CONVERT_P[k, 1]:g}"),
                 ("channel", name, "click_converts", str(CONVERT_P[k, 0] >= 0.1).lower()),
                 ("channel", name, "like_converts", str(CONVERT_P[k, 1] > 0).lower()),
                 ("channel", name, "caused_purchases", str(caused)),
                 ("channel", name, "caused_share", f"{caused / n_caused:.4f}")]
    rows.append(("all", "organic", "purchases", str(int((cause_chan < 0).sum()))))
    rows += [("content", p, "quality", f"{q:.4f}") for p, q in zip(post_labels, p_quality)]
    rows += [("content", p, "campaign", CAMPAIGNS[c].name) for p, c in zip(post_labels, p_campaign)]
    rows += [("content", p, "channel", CHANNELS[c]) for p, c in zip(post_labels, p_channel)]
    kind, key, field, value = zip(*rows)
    return pa.table({"kind": list(kind), "key": list(key), "field": list(field), "value": list(value)})


def write_csv(table: pa.Table, path: Path) -> None:
    """Write ``table`` as CSV, gzip-compressed when ``path`` ends in ``.gz``."""
    options = pacsv.WriteOptions(quoting_style="none")
    if path.suffix == ".gz":
        # mtime=0: the same seed gives the same bytes.
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
            pacsv.write_csv(table, fh, options)
    else:
        pacsv.write_csv(table, path, options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000, help="approximate number of events")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("-o", "--output", type=Path, required=True, help="CSV path (.csv or .csv.gz)")
    parser.add_argument("--truth", type=Path, help="also write the hidden truth here")
    args = parser.parse_args(argv)
    events, truth = generate(args.events, seed=args.seed, days=args.days)
    write_csv(events, args.output)
    if args.truth:
        write_csv(truth, args.truth)
    users = pc.count_distinct(events["user_id"]).as_py()
    print(f"wrote {events.num_rows:,} events of {users:,} users to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
