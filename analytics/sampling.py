"""Seeded samples that keep every group in proportion: map points per segment, training users per class."""

from __future__ import annotations

from typing import Any

import numpy as np

# A class that is rarer than this keeps all its users in a training sample; commoner ones at least this many.
MIN_PER_CLASS = 20


def stratified_sample(groups: Any, size: int, *, random_state: int = 0, min_per_group: int = 0) -> np.ndarray:
    """Sorted row positions of a seeded sample of ``size`` rows, each group in proportion.

    Parameters
    ----------
    groups : array or int
        The group (segment, class) of each row; an int ``n`` means ``n`` rows
        without groups (a plain random sample).
    size : int
        Rows wanted; all rows (``arange``) when there are not more than this.
    random_state : int
    min_per_group : int
        Each group keeps at least ``min(group size, min_per_group)`` rows, so a
        small segment stays visible on a map and a rare class never vanishes
        from a training sample. Floors never take more than half the sample; the
        largest groups give up the difference.

    Returns
    -------
    ndarray of int
    """
    n = int(groups) if np.ndim(groups) == 0 else len(groups)
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    if np.ndim(groups) == 0:
        return np.sort(rng.choice(n, size=size, replace=False))
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    quota = _quotas(np.bincount(inverse), size, min_per_group)
    parts = [rng.choice(np.flatnonzero(inverse == g), size=q, replace=False) for g, q in enumerate(quota) if q]
    return np.sort(np.concatenate(parts))


def _quotas(sizes: np.ndarray, total: int, min_per_group: int) -> np.ndarray:
    floor = np.minimum(sizes, min(min_per_group, total // (2 * len(sizes))))
    extra = total - floor.sum()
    share = (sizes - floor) / max((sizes - floor).sum(), 1)
    quota = floor + np.floor(share * extra).astype(int)
    left = total - quota.sum()
    # Hand out what rounding left over, largest remaining groups first.
    for g in np.argsort(-(sizes - quota), kind="stable"):
        if left <= 0:
            break
        take = min(left, sizes[g] - quota[g])
        quota[g] += take
        left -= take
    return quota
