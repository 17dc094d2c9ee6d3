"""Small event logs with planted product structure, for the recommender tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

N_CLUSTERS = 4
CLUSTER_ITEMS = 10  # products 0..39: ten per taste cluster
N_FILLER = 14  # products 40..53: popular with everyone
PAIRS = [(54, 55), (56, 57), (58, 59)]  # bundles: who buys the first buys the second
N_ITEMS = 60


def item_name(i: int) -> str:
    return f"p{i:03d}"


def planted_events(n_users: int = 400, seed: int = 0) -> pd.DataFrame:
    """``user_id, ts, event, item_id``: users of 4 taste clusters, a popular filler range, bundles.

    User ``u`` belongs to cluster ``u % 4`` and mostly views/buys that cluster's products;
    filler products 40..53 have a power-law popularity; a user who buys the first
    product of a bundle buys the second soon after.
    """
    rng = np.random.default_rng(seed)
    filler_p = 1.0 / np.arange(1, N_FILLER + 1)
    filler_p /= filler_p.sum()
    rows = []
    t0 = np.datetime64("2025-01-01T00:00:00")
    for u in range(n_users):
        c = u % N_CLUSTERS
        n = rng.integers(6, 12)
        t = t0 + np.timedelta64(int(rng.integers(0, 86_400 * 20)), "s")
        for _ in range(n):
            if rng.random() < 0.7:
                item = c * CLUSTER_ITEMS + int(rng.integers(0, CLUSTER_ITEMS))
            else:
                item = 40 + int(rng.choice(N_FILLER, p=filler_p))
            event = "purchase" if rng.random() < 0.3 else "view_item"
            t = t + np.timedelta64(int(rng.integers(3600, 86_400 * 5)), "s")
            rows.append((u, t, event, item))
        if rng.random() < 0.35:
            a, b = PAIRS[int(rng.integers(0, len(PAIRS)))]
            t = t + np.timedelta64(3600, "s")
            rows.append((u, t, "purchase", a))
            if rng.random() < 0.9:
                rows.append((u, t + np.timedelta64(7200, "s"), "purchase", b))
    df = pd.DataFrame(rows, columns=["user", "ts", "event", "item"])
    return pd.DataFrame({"user_id": [f"u{u:04d}" for u in df["user"]], "ts": df["ts"].astype("datetime64[s]"),
                         "event": df["event"], "item_id": [item_name(i) for i in df["item"]]})


def cluster_of(user_id: str) -> int:
    return int(user_id[1:]) % N_CLUSTERS


def cluster_items(c: int) -> set[str]:
    return {item_name(c * CLUSTER_ITEMS + j) for j in range(CLUSTER_ITEMS)}
