"""Features as of the cutoff (X) and labels from the window after it (y): the :class:`TrainingSet`."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, NoDataError

if TYPE_CHECKING:
    from analytics.features.spec import FeatureParams
    from analytics.workspace import Workspace
from analytics.errors import LeakageWarning
from analytics.models.customer_value import ValueFeatures, add_value_features
from analytics.models.leakage import LeakageFinding, check_leakage
from analytics.models.targets import TargetDefinition, class_names, resolve_target
from analytics.wording import count


@dataclass
class TrainingSet:
    """Features as of the cutoff and labels from the window after it, one row per user.

    Attributes
    ----------
    X : DataFrame
        Features (no ``user_id``), index 0..n-1.
    y : ndarray of int
        1 for the positive class, 0 otherwise; aligned with ``X``.
    user_ids : ndarray of str
        The user of each row.
    target : TargetDefinition
        The resolved definition (concrete event and cutoff).
    feature_params : FeatureParams
        How the features were computed (needed to compute them again for scoring).
    dataset_id : str or None
    source_hash : str or None
        Content hash of the source file of the dataset.
    leakage : list of LeakageFinding
    warnings : list of str
        Messages for the user (leakage, users dropped for a missing label, ...).
    value_features : ValueFeatures or None
        The customer-value features in ``X`` (resolved), None when there are none.
    sequence_source : callable or None
        ``sequence_source(vocab) -> Sequences``: each user's events up to the cutoff
        for the sequence models (set by :func:`build_training_set`; built on first
        use by :meth:`sequences`). None for a set made by hand: attach them with
        :meth:`with_sequences`.
    """

    X: pd.DataFrame
    y: np.ndarray
    user_ids: np.ndarray
    target: TargetDefinition
    feature_params: FeatureParams | None = None
    dataset_id: str | None = None
    source_hash: str | None = None
    leakage: list[LeakageFinding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    value_features: ValueFeatures | None = None
    sequence_source: Callable | None = field(default=None, repr=False, compare=False)
    _sequences: Any = field(default=None, repr=False, compare=False)

    def sequences(self, vocab=None):
        """Each user's most recent events up to the cutoff (:class:`analytics.sequences.tokens.Sequences`).

        Built once from the dataset's events (vocabulary from the events up to the
        cutoff) and kept; with ``vocab`` (a saved model's), built again with its ids.

        Raises
        ------
        InvalidParameterError
            The set was made by hand without events (see :meth:`with_sequences`).
        """
        if vocab is None and self._sequences is not None:
            return self._sequences
        if self.sequence_source is None:
            raise InvalidParameterError("The sequence models need each user's events, and this training set was made "
                                        "without them. Build it with build_training_set from a dataset, or attach "
                                        "them with with_sequences().")
        seqs = self.sequence_source(vocab)
        if vocab is None:
            self._sequences = seqs
        return seqs

    def with_sequences(self, sequences) -> TrainingSet:
        """A copy whose :meth:`sequences` are these (one per user, in the order of ``user_ids``)."""
        if len(sequences) != self.n_users or not np.array_equal(np.asarray(sequences.user_ids, dtype=object),
                                                                np.asarray(self.user_ids, dtype=object)):
            raise InvalidParameterError("The sequences must be those of the training set's users, in its order.")
        return replace(self, _sequences=sequences)

    @property
    def n_users(self) -> int:
        return int(len(self.y))

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    @property
    def negatives(self) -> int:
        return self.n_users - self.positives

    @property
    def positive_rate(self) -> float:
        return self.positives / self.n_users if self.n_users else 0.0

    @property
    def feature_columns(self) -> list[str]:
        return list(self.X.columns)

    def class_counts(self) -> pd.DataFrame:
        """Users per class, for display before training."""
        names = class_names(self.target)
        n = max(1, self.n_users)
        return pd.DataFrame({"class": [names[1], names[0]], "users": [self.positives, self.negatives],
                             "share %": [round(100 * self.positives / n, 2), round(100 * self.negatives / n, 2)]})

    def validate(self, n_folds: int = 5) -> None:
        """Raise if the classes cannot support ``n_folds``-fold cross-validation.

        Raises
        ------
        InvalidParameterError
            Only one class, or a class with fewer users than folds; the message
            gives the counts and what to change.
        """
        check_classes(self.y, n_folds, self.target)

    def drop(self, columns: list[str]) -> TrainingSet:
        """A copy without some feature columns (e.g. one flagged as leakage)."""
        missing = [c for c in columns if c not in self.X.columns]
        if missing:
            raise InvalidParameterError(f"No feature named {', '.join(map(repr, missing))} to drop; "
                                        f"features are: {', '.join(self.X.columns)}.")
        kept = set(self.X.columns) - set(columns)
        value = self.value_features
        if value is not None and not set(value.columns) <= kept:
            value = None  # a model without all of them must not ask for them at scoring
        return replace(self, X=self.X.drop(columns=columns), value_features=value,
                       leakage=[f for f in self.leakage if f.feature in kept],
                       warnings=[w for w in self.warnings if not any(f"'{c}'" in w for c in columns)])

    def fingerprint(self) -> str:
        """Hash of the exact training data (features, labels, users, target): what a model saw."""
        h = hashlib.sha256()
        h.update(",".join(self.X.columns).encode())
        h.update(pd.util.hash_pandas_object(self.X, index=False).to_numpy().tobytes())
        h.update(np.ascontiguousarray(self.y, dtype=np.int8).tobytes())
        h.update(pd.util.hash_pandas_object(pd.Series(self.user_ids, dtype=object), index=False)
                 .to_numpy().tobytes())
        h.update(repr(sorted(self.target.to_dict().items())).encode())
        return h.hexdigest()[:32]

    def summary(self) -> dict:
        """Counts and the target, as plain JSON-able values."""
        return {"users": self.n_users, "positives": self.positives, "negatives": self.negatives,
                "positive_rate": round(self.positive_rate, 6), "features": len(self.X.columns),
                "target": self.target.to_dict(), "dataset_id": self.dataset_id,
                "value_features": None if self.value_features is None else self.value_features.to_dict()}


def build_training_set(ws: Workspace, dataset_id: str, target: TargetDefinition | None = None, *,
                       n_folds: int | None = 5, user_labels: pd.DataFrame | None = None,
                       feature_params: FeatureParams | None = None, check_leaks: bool = True,
                       random_state: int = 0, value_features: ValueFeatures | bool | None = None) -> TrainingSet:
    """Features as of the cutoff (X) and labels from the window after it (y).

    Parameters
    ----------
    ws : Workspace
    dataset_id : str
    target : TargetDefinition, optional
        Resolved here (defaults filled in, validated); see :func:`resolve_target`.
    n_folds : int or None
        Check that both classes have at least this many users (the folds of
        cross-validation). None: no class check at all, so the UI can show the
        class counts of any target first and call :meth:`TrainingSet.validate`
        when the user presses Train.
    user_labels : DataFrame, optional
        ``"column"`` targets: a frame with ``user_id`` and the label column, used
        instead of the feature table. Users without a label are left out.
    feature_params : FeatureParams, optional
        Feature settings (``as_of`` is always replaced by the cutoff);
        default: the dataset's defaults.
    check_leaks : bool
        Run :func:`check_leakage` (a few seconds on 500k users).
    random_state : int
        Seed of the leakage check's sample.
    value_features : ValueFeatures or bool, optional
        Add customer-value features (P(alive), expected purchases over the target's
        horizon) from a BG/NBD fit on the purchases up to the cutoff; ``True`` means
        ``ValueFeatures()``. When they cannot be computed (e.g. too few repeat buyers
        before the cutoff) the set is built without them and ``warnings`` says why.

    Returns
    -------
    TrainingSet

    Raises
    ------
    InvalidParameterError
        Bad target (see :func:`resolve_target`), a label column that is missing
        or not two-valued, or classes too small for ``n_folds``.
    NoDataError
        No user has an event up to the cutoff.
    """
    if n_folds is not None:
        check_folds(n_folds)
    ds = ws.get(dataset_id)
    target = resolve_target(ds, target)
    params = replace(feature_params or ws.feature_params(dataset_id), as_of=target.cutoff)
    feats = ws.features(dataset_id, params)
    if feats.empty:
        raise NoDataError(f"No user of '{ds.name}' has an event up to the cutoff {target.cutoff:%Y-%m-%d}; "
                          "pick a later cutoff.")
    notes: list[str] = []
    if target.active_within_days:
        keep = feats["recency_days"].to_numpy(dtype=float) <= float(target.active_within_days)
        feats = feats.loc[keep].reset_index(drop=True)
        if feats.empty:
            raise NoDataError(f"No user was active in the {target.active_within_days:g} days before the cutoff "
                              f"{target.cutoff:%Y-%m-%d}; widen 'active within' or move the cutoff.")
    value_spec = None
    if value_features:
        wanted = (value_features if isinstance(value_features, ValueFeatures) else ValueFeatures()).resolve(
            params.purchase_event, target.horizon_days)
        feats, why_not = add_value_features(ws, dataset_id, feats, wanted, target.cutoff)
        if why_not:
            notes.append(f"The customer-value features (P(alive), expected purchases) cannot be computed as of the "
                         f"cutoff {target.cutoff:%Y-%m-%d}, so the models train without them: {why_not}")
        else:
            value_spec = wanted

    if target.kind == "column":
        feats, y, positive, note = _column_labels(feats, target, user_labels)
        if note:
            notes.append(note)
        target = replace(target, positive_value=positive)
    else:
        hit = ws.window_users(dataset_id, target.cutoff, target.window_end,
                              target.target_event if target.kind == "event" else None)
        in_window = feats["user_id"].isin(hit).to_numpy()
        y = (~in_window if target.kind == "churn" else in_window).astype(np.int64)

    user_ids = feats["user_id"].astype(str).to_numpy(dtype=object)
    X = feats.drop(columns=["user_id"]).reset_index(drop=True)
    ts = TrainingSet(X=X, y=y, user_ids=user_ids, target=target, feature_params=params, dataset_id=dataset_id,
                     source_hash=ds.content_hash, warnings=notes, value_features=value_spec,
                     sequence_source=_sequence_source(ws, dataset_id, user_ids, target.cutoff) if ds.has_events
                     else None)
    if n_folds is not None:
        ts.validate(n_folds)
    if check_leaks:
        ts.leakage = check_leakage(X, y, random_state=random_state)
        for finding in ts.leakage:
            ts.warnings.append(finding.message())
            warnings.warn(finding.message(), LeakageWarning, stacklevel=2)
    return ts


def _sequence_source(ws: Workspace, dataset_id: str, user_ids: np.ndarray, cutoff) -> Callable:
    """How the training set's users' event sequences are built when a sequence model first needs them."""
    def build(vocab=None):
        from analytics.sequences.tokens import dataset_sequences

        return dataset_sequences(ws, dataset_id, user_ids, cutoff, vocab=vocab)

    return build


def build_out_of_time_set(ws: Workspace, dataset_id: str, target: TargetDefinition, *, days: float | None = None,
                          n_folds: int | None = 2, feature_params: FeatureParams | None = None,
                          value_features: ValueFeatures | None = None) -> TrainingSet:
    """The training set one window earlier, for the out-of-time check.

    Its labels come from ``(cutoff - days, cutoff]``, so a model fitted on it has
    seen nothing after ``target``'s cutoff and can be tested on ``target``'s set.

    Parameters
    ----------
    target : TargetDefinition
        The definition of the main training set (resolved or not).
    days : float, optional
        How far back; default the horizon.
    n_folds : int or None
        Minimum users per class (2: it must have both classes to be fitted).
    value_features : ValueFeatures, optional
        The main set's :attr:`TrainingSet.value_features`: computed again as of the earlier cutoff.

    Raises
    ------
    InvalidParameterError
        The earlier cutoff falls before the data, the earlier window has one class, or
        the customer-value features cannot be computed as of the earlier cutoff.
    """
    ds = ws.get(dataset_id)
    target = resolve_target(ds, target)
    if target.kind == "column":
        raise InvalidParameterError("The out-of-time check needs a time-based target (event or churn), "
                                    "not a column target.")
    earlier = target.earlier(days)
    try:
        out = build_training_set(ws, dataset_id, earlier, n_folds=n_folds, feature_params=feature_params,
                                 check_leaks=False, value_features=value_features)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"Out-of-time check: the earlier cutoff {earlier.cutoff:%Y-%m-%d} does not "
                                    f"work: {exc}") from exc
    if value_features is not None and out.value_features is None:
        raise InvalidParameterError(f"Out-of-time check: the customer-value features cannot be computed as of the "
                                    f"earlier cutoff {earlier.cutoff:%Y-%m-%d} ({out.warnings[-1].split(': ', 1)[-1]}) "
                                    "Turn off the out-of-time check or the customer-value features.")
    return out


def check_classes(y: np.ndarray, n_folds: int, target: TargetDefinition | None = None) -> None:
    """Raise :class:`InvalidParameterError` unless both classes have at least ``n_folds`` users.

    Parameters
    ----------
    y : array of 0/1
    n_folds : int
        Folds of the stratified cross-validation (each fold needs one user of each class).
    target : TargetDefinition, optional
        Used to word the message.
    """
    check_folds(n_folds)
    y = np.asarray(y)
    names = class_names(target)
    pos = int((y == 1).sum())
    neg = int(len(y) - pos)
    if len(y) == 0:
        raise NoDataError("There are no users to learn from.")
    if pos == 0 or neg == 0:
        only = names[1] if pos else names[0]
        raise InvalidParameterError(
            f"All {len(y):,} users fall in one group ('{only}'), so there is nothing to tell apart. "
            + _one_class_hint(target, only_positive=bool(pos)))
    small = min(pos, neg)
    if small < n_folds:
        which = names[1] if pos < neg else names[0]
        hint = (f"Use {small} folds instead" if small >= 2 else "Choose another target")
        raise InvalidParameterError(
            f"Only {small} user{'s' if small != 1 else ''} in the '{which}' group ({pos:,} vs {neg:,}), but "
            f"{n_folds}-fold cross-validation needs at least {n_folds} in each group. {hint}, or make the group "
            "bigger (longer horizon, earlier cutoff, more data).")


def _column_labels(feats: pd.DataFrame, target: TargetDefinition,
                   user_labels: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray, object, str | None]:
    col = target.column
    if user_labels is not None:
        if "user_id" not in user_labels.columns or col not in user_labels.columns:
            raise InvalidParameterError(
                f"The label table needs the columns 'user_id' and '{col}'; it has: "
                f"{', '.join(map(str, user_labels.columns))}.")
        lab = user_labels[["user_id", col]].copy()
        lab["user_id"] = lab["user_id"].astype(str)
        if lab["user_id"].duplicated().any():
            raise InvalidParameterError(f"The label table has several rows for some users (e.g. "
                                        f"'{lab.loc[lab['user_id'].duplicated(), 'user_id'].iloc[0]}'); "
                                        "keep one label per user.")
        feats = feats.drop(columns=[col], errors="ignore").assign(user_id=feats["user_id"].astype(str))
        merged = feats.merge(lab, on="user_id", how="left")
    else:
        if col not in feats.columns:
            raise InvalidParameterError(
                f"There is no per-user column '{col}'. Columns: "
                f"{', '.join(c for c in feats.columns if c != 'user_id')}.")
        merged = feats
    values = merged[col]
    has = values.notna().to_numpy()
    dropped = int((~has).sum())
    merged = merged.loc[has].reset_index(drop=True)
    values = merged[col]
    distinct = pd.unique(values)
    if not len(distinct):
        raise InvalidParameterError(f"The label column '{col}' is empty for every user, so there is nothing to "
                                    "learn: pick a column with two values (yes/no, 1/0, ...) for its users.")
    if len(distinct) != 2:
        shown = ", ".join(repr(_plain(v)) for v in distinct[:5])
        raise InvalidParameterError(
            f"The label column '{col}' must hold exactly two different values (yes/no, 1/0, ...); it holds "
            f"{len(distinct)}: {shown}{', ...' if len(distinct) > 5 else ''}.")
    pos = target.positive_value if target.positive_value is not None else _default_positive(distinct)
    if not any(_same(pos, v) for v in distinct):
        raise InvalidParameterError(f"positive_value {pos!r} is not one of the values of '{col}': "
                                    f"{', '.join(repr(_plain(v)) for v in distinct)}.")
    y = np.array([_same(pos, v) for v in values], dtype=np.int64)
    out = merged.drop(columns=[col])
    note = (f"{count(dropped, 'user')} {'has' if dropped == 1 else 'have'} no value in '{col}' and "
            f"{'is' if dropped == 1 else 'are'} left out." if dropped else None)
    return out, y, _plain(pos), note


def _default_positive(values) -> object:
    vals = [_plain(v) for v in values]
    if set(vals) <= {True, False} or set(vals) <= {0, 1}:
        return 1 if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) else True
    return sorted(vals, key=lambda v: (str(type(v)), v))[-1]


def _same(a: object, b: object) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, (bool, int, float)) and isinstance(b, (bool, int, float)):
        return float(a) == float(b)
    return str(a) == str(b)


def _plain(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def check_folds(n_folds: int) -> None:
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or not 2 <= n_folds <= 20:
        raise InvalidParameterError(f"The number of folds must be a whole number from 2 to 20, got {n_folds!r}.")


def _one_class_hint(target: TargetDefinition | None, only_positive: bool) -> str:
    if target is None or target.kind == "column":
        return "Choose a label column where both values occur."
    if target.kind == "event":
        return ("Everyone did it: pick a rarer event or a shorter horizon." if only_positive else
                f"Nobody did '{target.target_event}' in the {target.horizon_days:g} days after the cutoff: pick "
                "a longer horizon, an earlier cutoff or a more common event.")
    return ("Nobody was active after the cutoff: move the cutoff earlier." if only_positive else
            "Everybody came back within the horizon: pick a longer horizon.")
