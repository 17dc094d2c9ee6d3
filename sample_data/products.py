"""Products for the sample log: a catalogue with hidden structure, and an item for every product event.

Everything here draws from its own random generator (the caller seeds it apart
from the log's), so adding products never changes any other column of a log.

Hidden structure, for recommenders to find again:

- A catalogue of products in the log's categories; within a category popularity
  follows a power law (Zipf, exponent :data:`ZIPF`), so a few products get most of
  the traffic.
- Every product belongs to one of three product lines (value, classic, premium)
  and every user has a line they prefer across categories (:data:`LINE_BOOST`
  times more likely), a taste that persists and that matrix factorisation can
  learn; each user also has a few favourite products in their favourite category
  that they come back to (:data:`P_FAVOURITE` of their events in that category).
- Bundles: pairs and triples of complementary products of one category. After
  buying one, a user's next purchase in that category is another product of the
  bundle with probability :data:`P_BUNDLE` ("users who bought X also bought Y").
- A session's funnel is coherent: what is bought was put in the cart, and was
  usually viewed just before (when the categories of those events agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINES = ["value", "classic", "premium"]
ZIPF = 1.05  # popularity ~ rank ** -ZIPF within a category
LINE_BOOST = 4.0  # weight of products of the user's preferred line
N_FAVOURITES = 3  # favourite products per user (in their favourite category)
P_FAVOURITE = 0.3  # share of a user's events in the favourite category on a favourite product
P_BUNDLE = 0.8  # next purchase in the category completes the bundle
P_VIEW_BEFORE_CART = 0.85  # the cart item was the last item of its category viewed in the session
BUNDLE_SHARE = 0.6  # share of a category's more popular 40% of products that are in a bundle


@dataclass(frozen=True)
class Catalogue:
    """Products as parallel arrays (index = product number)."""

    category: np.ndarray  # category index per product
    line: np.ndarray  # product line index per product
    weight: np.ndarray  # popularity weight, sums to 1 within each category
    bundle: np.ndarray  # bundle number or -1
    bundle_members: np.ndarray  # (n_bundles, 3) product numbers, -1 padded
    bundle_size: np.ndarray  # members per bundle

    @property
    def n_items(self) -> int:
        return len(self.category)


def catalogue_size(n_events: int) -> int:
    """About one product per 200 events, between 60 and 20,000."""
    return int(np.clip(round(n_events / 200), 60, 20_000))


def make_catalogue(rng: np.random.Generator, n_items: int, n_categories: int) -> Catalogue:
    """Draw categories, lines, power-law popularity and bundles of ``n_items`` products."""
    category = rng.permutation(np.arange(n_items) % n_categories)
    line = rng.choice(len(LINES), size=n_items)
    weight = np.empty(n_items)
    bundle = np.full(n_items, -1, dtype=np.int64)
    groups: list[np.ndarray] = []
    for c in range(n_categories):
        idx = np.flatnonzero(category == c)
        rank = rng.permutation(len(idx)) + 1
        w = rank.astype(float) ** -ZIPF
        weight[idx] = w / w.sum()
        # Bundles among the more popular products, so they show up often enough to be learnt.
        top = idx[np.argsort(rank)][: max(2, int(0.4 * len(idx)))]
        pool = rng.permutation(top)[: int(BUNDLE_SHARE * len(top))]
        start = 0
        while len(pool) - start >= 2:
            size = 3 if (rng.random() < 0.3 and len(pool) - start >= 3) else 2
            groups.append(pool[start:start + size])
            start += size
    members = np.full((max(1, len(groups)), 3), -1, dtype=np.int64)
    size = np.zeros(max(1, len(groups)), dtype=np.int64)
    for b, g in enumerate(groups):
        members[b, :len(g)] = g
        size[b] = len(g)
        bundle[g] = b
    return Catalogue(category, line, weight, bundle, members, size)


class _ItemSampler:
    """Draw products of a category, weighted by popularity and the user's preferred line.

    One cumulative table per (category, line) group, concatenated and offset by
    the group number, so a single ``searchsorted`` draws for millions of events.
    """

    def __init__(self, cat: Catalogue, n_categories: int):
        items, cdf = [], []
        for c in range(n_categories):
            idx = np.flatnonzero(cat.category == c)
            for ln in range(len(LINES)):
                w = cat.weight[idx] * np.where(cat.line[idx] == ln, LINE_BOOST, 1.0)
                cum = np.cumsum(w / w.sum())
                cum[-1] = 1.0
                items.append(idx)
                cdf.append(c * len(LINES) + ln + cum)
        self.items = np.concatenate(items)
        self.cdf = np.concatenate(cdf)

    def draw(self, rng: np.random.Generator, category: np.ndarray, line: np.ndarray) -> np.ndarray:
        group = category.astype(np.int64) * len(LINES) + line
        pos = np.searchsorted(self.cdf, group + rng.random(len(group)), side="right")
        return self.items[np.minimum(pos, len(self.items) - 1)]


@dataclass(frozen=True)
class ItemDraw:
    """Products of a log: the item of each event (-1 for none) and the hidden tastes."""

    event_item: np.ndarray
    catalogue: Catalogue
    user_line: np.ndarray
    favourites: np.ndarray  # (n_users, N_FAVOURITES)


def draw_items(rng: np.random.Generator, n_events: int, n_categories: int, fav_category: np.ndarray,
               e_user: np.ndarray, e_kind: np.ndarray, e_category: np.ndarray, has_item: np.ndarray,
               e_session: np.ndarray, kinds: dict[str, int]) -> ItemDraw:
    """Give every product event (view, cart, checkout, purchase) a product of its category.

    Events must be sorted by time; ``kinds`` maps event names to the codes in ``e_kind``.
    """
    cat = make_catalogue(rng, catalogue_size(n_events), n_categories)
    sampler = _ItemSampler(cat, n_categories)
    n_users = len(fav_category)
    user_line = rng.choice(len(LINES), size=n_users)
    favourites = sampler.draw(rng, np.repeat(fav_category, N_FAVOURITES),
                              np.repeat(user_line, N_FAVOURITES)).reshape(n_users, N_FAVOURITES)

    item = np.full(len(e_user), -1, dtype=np.int64)
    ev = np.flatnonzero(has_item)
    u, c = e_user[ev], e_category[ev]
    base = sampler.draw(rng, c, user_line[u])
    fav = (c == fav_category[u]) & (rng.random(len(ev)) < P_FAVOURITE)
    base[fav] = favourites[u[fav], rng.integers(0, N_FAVOURITES, int(fav.sum()))]
    item[ev] = base

    _complete_bundles(rng, item, cat, e_user, e_kind, e_category, kinds["purchase"])
    _coherent_funnels(rng, item, e_kind, e_category, e_session, kinds)
    return ItemDraw(item, cat, user_line, favourites)


def _complete_bundles(rng: np.random.Generator, item: np.ndarray, cat: Catalogue, e_user: np.ndarray,
                      e_kind: np.ndarray, e_category: np.ndarray, purchase: int) -> None:
    """The purchase after a bundle product, in the same category, is often another product of the bundle."""
    buys = np.flatnonzero(e_kind == purchase)  # in time order
    order = buys[np.lexsort((buys, e_category[buys], e_user[buys]))]
    prev, cur = order[:-1], order[1:]
    same = (e_user[prev] == e_user[cur]) & (e_category[prev] == e_category[cur])
    prev, cur = prev[same], cur[same]
    b = cat.bundle[item[prev]]
    hit = (b >= 0) & (rng.random(len(prev)) < P_BUNDLE)
    prev, cur, b = prev[hit], cur[hit], b[hit]
    pos = np.argmax(cat.bundle_members[b] == item[prev][:, None], axis=1)
    size = cat.bundle_size[b]
    other = (pos + 1 + (rng.random(len(b)) * (size - 1)).astype(np.int64)) % size
    item[cur] = cat.bundle_members[b, other]


def _coherent_funnels(rng: np.random.Generator, item: np.ndarray, e_kind: np.ndarray, e_category: np.ndarray,
                      e_session: np.ndarray, kinds: dict[str, int]) -> None:
    """Within a session: bought = checked out = put in the cart (same category), usually viewed just before."""
    n_sessions = int(e_session.max()) + 1 if len(e_session) else 0

    def per_session(kind: int) -> np.ndarray:
        at = np.full(n_sessions, -1, dtype=np.int64)
        idx = np.flatnonzero(e_kind == kind)
        at[e_session[idx]] = idx
        return at

    buy, chk = per_session(kinds["purchase"]), per_session(kinds["begin_checkout"])
    cart = per_session(kinds["add_to_cart"])
    _copy_if_same_category(item, e_category, dst=chk, src=buy)
    _copy_if_same_category(item, e_category, dst=cart, src=buy)
    has_buy_same = (buy >= 0) & (cart >= 0) & (e_category[buy] == e_category[cart])
    _copy_if_same_category(item, e_category, dst=np.where(has_buy_same, -1, cart), src=chk)

    views = np.flatnonzero(e_kind == kinds["view_item"])
    carts = cart[cart >= 0]
    if not len(views) or not len(carts):
        return
    n_cat = int(e_category.max()) + 1
    key = e_session[views].astype(np.int64) * n_cat + e_category[views]
    ukey, first_in_reversed = np.unique(key[::-1], return_index=True)
    last_view = views[::-1][first_in_reversed]
    ckey = e_session[carts].astype(np.int64) * n_cat + e_category[carts]
    pos = np.minimum(np.searchsorted(ukey, ckey), len(ukey) - 1)
    found = (ukey[pos] == ckey) & (rng.random(len(carts)) < P_VIEW_BEFORE_CART)
    item[last_view[pos[found]]] = item[carts[found]]


def _copy_if_same_category(item: np.ndarray, e_category: np.ndarray, dst: np.ndarray, src: np.ndarray) -> None:
    ok = (dst >= 0) & (src >= 0)
    ok[ok] = e_category[dst[ok]] == e_category[src[ok]]
    item[dst[ok]] = item[src[ok]]
