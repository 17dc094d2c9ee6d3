"""User profiles from behaviour sequences: one vector per user, learned from the order of their events.

:func:`user_profiles` reads each user's most recent events (:mod:`analytics.sequences.tokens`),
trains the self-supervised next-event network of :mod:`analytics.sequences.nextitem`
on them (no labels: it learns to predict each next event type and product) and
returns the average state of its GRU over each user's events. (The state after
the last event, which the recommender reads, says mostly what that event was: on
two groups that differ only in the order of the same events it separated nothing,
the average separated them fully.) Users who behave alike
in *order* (browse then leave then return and buy; buy A then B) end up close,
which aggregate counts cannot show. The Segments page clusters and maps these
vectors in place of the scaled aggregate features; the segments are still
described with the aggregate features, which a marketer can read.

Time is bounded: the network learns from a seeded sample of at most
``max_users`` users with two or more events, for at most ``max_epochs`` passes
(early stopping on 10% of them), reading each user's last ``max_len`` events;
then every user is read (a forward pass, seconds for 50k users). The same data and
settings give the same vectors. Needs PyTorch (``requirements-deep.txt``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics.checks import check_int
from analytics.errors import InvalidParameterError
from analytics.progress import Progress, within
from analytics.sequences import require_torch
from analytics.wording import count

SCORE_CHUNK = 10_000  # users read per progress report (each report is a chance to stop)


@dataclass(frozen=True)
class ProfileSettings:
    """How the profiles are learned (part of what a cached profile depends on).

    Attributes
    ----------
    dim : int
        Length of each user's vector (the GRU state), 4..256.
    max_len : int
        Most recent events read per user, 2..1000.
    max_users : int
        Users the network learns from (a seeded sample above it), 50..1,000,000.
    max_epochs : int
        Passes over them at most, 1..50 (early stopping on 10%).
    batch_size : int
        Users per training step.
    seed : int
    """

    dim: int = 32
    max_len: int = 100
    max_users: int = 20_000
    max_epochs: int = 4
    batch_size: int = 128
    seed: int = 0

    def validate(self) -> None:
        for name, lo, hi in (("dim", 4, 256), ("max_len", 2, 1000), ("max_users", 50, 1_000_000),
                             ("max_epochs", 1, 50), ("batch_size", 8, 4096), ("seed", 0, 2**31 - 1)):
            check_int(name, getattr(self, name), lo, hi)

    def to_dict(self) -> dict:
        return {k: int(v) for k, v in asdict(self).items()}


@dataclass
class UserProfiles:
    """One learned vector per user, and how it was learned.

    Attributes
    ----------
    user_ids : ndarray of str
    vectors : ndarray of float32, shape (n_users, dim)
    settings : dict
        :meth:`ProfileSettings.to_dict`.
    users_trained, events_trained : int
        What the network learned from.
    epochs : int
        Epochs run; ``losses`` has one training loss per epoch.
    seconds : float
    notices : list of str
        Sampling, truncation and users without events, in words.
    """

    user_ids: np.ndarray
    vectors: np.ndarray
    settings: dict
    users_trained: int
    events_trained: int
    epochs: int
    losses: list[float]
    seconds: float
    notices: list[str] = field(default_factory=list)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def aligned(self, user_ids: Any) -> np.ndarray:
        """The vectors in the order of ``user_ids`` (e.g. a feature table's rows); all must be known."""
        pos = pd.Index(self.user_ids.astype(str)).get_indexer(pd.Index(np.asarray(user_ids).astype(str)))
        if (pos < 0).any():
            raise InvalidParameterError(f"{count(int((pos < 0).sum()), 'user')} without a sequence profile: learn "
                                        "the profiles again on this dataset.")
        return self.vectors[pos]

    def meta(self) -> dict:
        """Everything but the vectors, JSON-safe (store the vectors with :meth:`frame`)."""
        return {"settings": dict(self.settings), "users_trained": int(self.users_trained),
                "events_trained": int(self.events_trained), "epochs": int(self.epochs),
                "losses": [float(v) for v in self.losses], "seconds": float(self.seconds),
                "notices": list(self.notices)}

    def frame(self) -> pd.DataFrame:
        """``user_id, v0, v1, ...``: the vectors as a table."""
        out = pd.DataFrame(self.vectors, columns=[f"v{j}" for j in range(self.dim)])
        out.insert(0, "user_id", self.user_ids.astype(str))
        return out

    @classmethod
    def from_parts(cls, meta: dict, frame: pd.DataFrame) -> UserProfiles:
        cols = [c for c in frame.columns if c != "user_id"]
        return cls(user_ids=frame["user_id"].astype(str).to_numpy(dtype=object),
                   vectors=frame[cols].to_numpy(dtype=np.float32), **meta)


def user_profiles(sequences, settings: ProfileSettings | None = None,
                  progress: Progress | None = None) -> UserProfiles:
    """Learn the next-event network on users' sequences and return each user's vector.

    Parameters
    ----------
    sequences : analytics.sequences.tokens.Sequences
        Built with ``max_len`` at least ``settings.max_len`` (see :func:`dataset_profiles`).
    settings : ProfileSettings, optional
    progress : callable, optional
        ``progress(fraction, message)``; whatever it raises stops the work.

    Returns
    -------
    UserProfiles

    Raises
    ------
    NoDataError
        No user has two events (nothing to learn the order from).
    DeepLearningUnavailableError
        PyTorch is not installed.
    """
    require_torch()
    from analytics.sequences.nextitem import fit_next_event, user_vectors

    settings = settings or ProfileSettings()
    settings.validate()
    started = time.perf_counter()
    fit = fit_next_event(sequences, hidden=settings.dim, item_dim=16, max_epochs=settings.max_epochs, patience=1,
                         batch_size=settings.batch_size, max_users=settings.max_users, seed=settings.seed,
                         progress=within(progress, 0.0, 0.85), label="Learning the order of events")
    say = within(progress, 0.85, 1.0)
    n = len(sequences)
    vectors = np.zeros((n, settings.dim), dtype=np.float32)
    for start in range(0, n, SCORE_CHUNK):
        rows = np.arange(start, min(n, start + SCORE_CHUNK))
        vectors[rows] = user_vectors(fit.net, sequences, rows, pooling="mean")
        say((start + len(rows)) / n, f"Reading the sequences of {min(n, start + SCORE_CHUNK):,} of {n:,} users")
    notices = list(fit.notices) + list(sequences.notes)
    empty = int((sequences.lengths == 0).sum())
    if empty:
        notices.append(f"{count(empty, 'user')} without events in the log share one profile (the model's "
                       "starting state).")
    single = int((sequences.lengths == 1).sum())
    if single:
        notices.append(f"{count(single, 'user')} with a single event: their profile says only what that event was.")
    return UserProfiles(user_ids=np.asarray(sequences.user_ids).astype(str).astype(object), vectors=vectors,
                        settings=settings.to_dict(), users_trained=fit.users_trained,
                        events_trained=fit.events_trained, epochs=len(fit.history.epochs), losses=fit.losses,
                        seconds=time.perf_counter() - started, notices=notices)


def dataset_profiles(ws, dataset_id: str, user_ids: Any, settings: ProfileSettings | None = None,
                     cutoff: datetime | None = None, progress: Progress | None = None) -> UserProfiles:
    """:func:`user_profiles` of some users (e.g. a feature table's) of a workspace dataset, up to ``cutoff``."""
    from analytics.sequences.tokens import dataset_sequences

    settings = settings or ProfileSettings()
    settings.validate()
    say = within(progress, 0.0, 0.05)
    say(0.0, "Reading each user's events")
    seqs = dataset_sequences(ws, dataset_id, user_ids, cutoff, max_len=settings.max_len)
    return user_profiles(seqs, settings, within(progress, 0.05, 1.0))


def profiles_from_frame(events: pd.DataFrame, user_ids: Any = None, settings: ProfileSettings | None = None,
                        progress: Progress | None = None) -> UserProfiles:
    """:func:`user_profiles` on an events DataFrame (``user_id, ts, event`` [, ``amount``, item]): notebooks, tests."""
    from analytics.sequences.tokens import sequences_from_frame

    settings = settings or ProfileSettings()
    settings.validate()
    seqs = sequences_from_frame(events, user_ids, max_len=settings.max_len)
    return user_profiles(seqs, settings, progress)
