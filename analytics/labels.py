"""Leakage-free targets: who will do something in the days after a cutoff.

A :class:`TargetDefinition` says what to predict; :func:`build_training_set`
turns it into a :class:`TrainingSet` (``X``, ``y`` and the users they belong to)
for the users seen up to the cutoff.

Time discipline (the reason this module exists):

- features come from :meth:`analytics.workspace.Workspace.features` with
  ``as_of=cutoff``, which only reads events with ``ts <= cutoff``;
- the label reads only events with ``cutoff < ts <= cutoff + horizon``;
- nothing reads events after ``cutoff + horizon``, and users who first appear
  after the cutoff are not in the training set.

Target kinds:

``"event"``
    1 if the user does ``target_event`` (default: the dataset's purchase event)
    in ``(cutoff, cutoff + horizon]``, else 0.
``"churn"``
    1 if the user has no event at all in ``(cutoff, cutoff + horizon]``.
``"column"``
    An existing per-user column: a column of the feature table as of the cutoff,
    or of a ``user_labels`` frame passed to :func:`build_training_set` (a CRM
    flag, a survey answer, ...). It must hold exactly two distinct values.
    The column is never also used as a feature.

The cutoff defaults to the last event minus the horizon (``"column"``: the last
event), so the most recent full window is the label window. The whole window must
lie inside the data: a window running past the last event would call people
non-buyers (or churners) merely because the data stops.

Leakage check: every feature is scored on its own (ROC AUC of the raw values,
direction-free). A single feature with AUC >= :data:`LEAKAGE_AUC` almost always
*is* the label in disguise (see :func:`check_leakage`), so it is reported in
``TrainingSet.leakage`` and ``TrainingSet.warnings`` and as a
:class:`LeakageWarning`.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, NoDataError

if TYPE_CHECKING:
    from analytics.features.spec import FeatureParams
    from analytics.workspace import Dataset, Workspace

TargetKind = Literal["event", "churn", "column"]
KINDS: tuple[str, ...] = ("event", "churn", "column")

# Honest behavioural predictors of *future* behaviour rarely let one feature rank
# users almost perfectly: on real logs whole models reach ROC AUC 0.65-0.9 and the
# best single feature (recency, frequency) less. A feature at 0.98 or above is, in
# practice, the label itself or something computed from it (a flag set by the
# outcome, an aggregate that includes the target window). 0.98 rather than 1.0
# because such leaks are often slightly noisy (another window, a few missing rows).
LEAKAGE_AUC = 0.98
# With fewer users than this in the smaller class, a near-perfect single-feature AUC
# happens by chance too often to be called leakage.
LEAKAGE_MIN_CLASS = 20
# The check ranks at most this many users per feature (a seeded stratified sample).
LEAKAGE_MAX_ROWS = 200_000
# Text columns with more distinct values than this are skipped by the check: the
# in-sample rate per value would "predict" any label on near-unique values.
LEAKAGE_MAX_CATEGORIES = 50

MAX_HORIZON_DAYS = 3660


class LeakageWarning(UserWarning):
    """One feature predicts the label almost perfectly: probably leakage."""


@dataclass(frozen=True)
class TargetDefinition:
    """What to predict.

    Attributes
    ----------
    kind : {"event", "churn", "column"}
        See the module docstring.
    target_event : str or None
        ``"event"`` only: the event to predict; None means the dataset's
        purchase event.
    horizon_days : float
        Length of the label window after the cutoff, in days (``"event"`` and
        ``"churn"``).
    cutoff : datetime or None
        Last instant whose events feed the features (naive UTC or tz-aware).
        None: the last event minus the horizon (``"column"``: the last event).
    column : str or None
        ``"column"`` only: the label column.
    positive_value : str, int, float, bool or None
        ``"column"`` only: which of the two values is the positive class.
        None: ``True``/``1`` when the values are boolean or 0/1, otherwise the
        value that sorts last.
    active_within_days : float or None
        Only users with an event in the last this-many days before the cutoff
        (e.g. "churn among users active in the last 90 days"). None: every
        user seen up to the cutoff.
    """

    kind: TargetKind = "event"
    target_event: str | None = None
    horizon_days: float = 30.0
    cutoff: datetime | None = None
    column: str | None = None
    positive_value: str | int | float | bool | None = None
    active_within_days: float | None = None

    def __post_init__(self) -> None:
        if self.cutoff is not None:
            object.__setattr__(self, "cutoff", to_naive_utc(self.cutoff, "cutoff"))

    @property
    def window_end(self) -> datetime | None:
        """End of the label window (``cutoff + horizon``), None until the cutoff is known."""
        if self.cutoff is None or self.kind == "column":
            return None
        return self.cutoff + timedelta(days=float(self.horizon_days))

    def earlier(self, days: float | None = None) -> TargetDefinition:
        """The same target one window earlier (cutoff moved back by ``days``, default the horizon).

        Used for the out-of-time check: train where the label window ends at
        this definition's cutoff, test on this definition.
        """
        if self.cutoff is None:
            raise InvalidParameterError("Resolve the target first (resolve_target) to know its cutoff.")
        shift = float(self.horizon_days if days is None else days)
        if not shift > 0:
            raise InvalidParameterError(f"The shift for the earlier cutoff must be positive days, got {days}.")
        return replace(self, cutoff=self.cutoff - timedelta(days=shift))

    def describe(self) -> str:
        """The target in one plain sentence (for headers and saved-model cards)."""
        when = f"{self.cutoff:%Y-%m-%d %H:%M}" if self.cutoff else "the cutoff"
        days = f"{self.horizon_days:g}"
        pop = (f" among users active in the {self.active_within_days:g} days before it"
               if self.active_within_days else "")
        if self.kind == "event":
            what = f"'{self.target_event}'" if self.target_event else "the purchase event"
            return f"Does the user do {what} in the {days} days after {when}?{pop}"
        if self.kind == "churn":
            return f"Does the user have no event at all in the {days} days after {when}?{pop}"
        pos = "" if self.positive_value is None else f" = {self.positive_value!r}"
        return f"Is the user's '{self.column}'{pos} (features as of {when})?{pop}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        if isinstance(d["positive_value"], np.generic):
            d["positive_value"] = d["positive_value"].item()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TargetDefinition:
        d = dict(d)
        if d.get("cutoff"):
            d["cutoff"] = datetime.fromisoformat(d["cutoff"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class LeakageFinding:
    """One feature that ranks users almost exactly by the label."""

    feature: str
    auc: float

    def message(self) -> str:
        return (f"'{self.feature}' alone separates the two groups almost perfectly (ROC AUC {self.auc:.3f}). "
                "That usually means it is computed from the target itself or from events after the cutoff. "
                "Check how it is made, and drop it (TrainingSet.drop) unless you are sure it is known before "
                "the cutoff.")


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
        return replace(self, X=self.X.drop(columns=columns),
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
                "target": self.target.to_dict(), "dataset_id": self.dataset_id}


# --- public functions ------------------------------------------------------------------------------


def to_naive_utc(value: datetime | date | str | pd.Timestamp, name: str = "cutoff") -> datetime:
    """A date/time (naive = UTC, tz-aware, ISO text or a date) as a naive UTC datetime."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"{name} must be a date or date-time, got {value!r}.") from exc
    if pd.isna(ts):
        raise InvalidParameterError(f"{name} must be a date or date-time, got {value!r}.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert(UTC).tz_localize(None)
    return ts.to_pydatetime()


def resolve_target(dataset: Dataset, target: TargetDefinition | None = None) -> TargetDefinition:
    """Fill in the defaults of ``target`` from the dataset and validate it.

    Parameters
    ----------
    dataset : Dataset
        The dataset (its profile gives the event names and time range).
    target : TargetDefinition, optional
        Default: the purchase event within 30 days of the last event minus 30 days.

    Returns
    -------
    TargetDefinition
        With a concrete ``target_event`` (kind ``"event"``) and ``cutoff``.

    Raises
    ------
    InvalidParameterError
        Unknown kind or event, a non-positive horizon, a cutoff outside the
        data, or a label window that runs past the end of the data.
    NoDataError
        The dataset has no events.
    """
    target = target or TargetDefinition()
    if target.kind not in KINDS:
        raise InvalidParameterError(f"The target kind must be one of {', '.join(KINDS)}; got {target.kind!r}.")
    if dataset.ts_min is None or dataset.ts_max is None:
        raise NoDataError(f"Dataset '{dataset.name}' has no events with a time, so there is nothing to predict.")
    ts_min, ts_max = to_naive_utc(dataset.ts_min), to_naive_utc(dataset.ts_max)
    horizon = _check_horizon(target.horizon_days)
    if target.active_within_days is not None and not float(target.active_within_days) > 0:
        raise InvalidParameterError(
            f"active_within_days must be a positive number of days or empty, got {target.active_within_days!r}.")

    event = target.target_event
    if target.kind == "event":
        events = dataset.profile.event_counts
        event = event or dataset.purchase_event
        if not event:
            raise InvalidParameterError(
                f"Dataset '{dataset.name}' has no recognised purchase event; pick the target event yourself "
                f"(one of: {_listing(events)}).")
        if event not in events:
            raise InvalidParameterError(
                f"There is no event called '{event}' in '{dataset.name}'. Pick one of: {_listing(events)}.")
    elif target.kind == "column":
        if not target.column:
            raise InvalidParameterError("A 'column' target needs the name of the label column.")
    span = (ts_max - ts_min).total_seconds() / 86_400

    default_cutoff = ts_max if target.kind == "column" else ts_max - timedelta(days=horizon)
    cutoff = target.cutoff or default_cutoff
    if target.kind != "column" and horizon >= span:
        raise InvalidParameterError(
            f"A {horizon:g}-day horizon is longer than the data itself ({span:.1f} days from {ts_min:%Y-%m-%d} "
            f"to {ts_max:%Y-%m-%d}): no time would be left before the cutoff to learn from. "
            f"Use a horizon shorter than {max(1, int(span / 2))} days.")
    if cutoff < ts_min or cutoff > ts_max:
        raise InvalidParameterError(
            f"The cutoff {cutoff:%Y-%m-%d %H:%M} is outside the data, which runs from {ts_min:%Y-%m-%d %H:%M} "
            f"to {ts_max:%Y-%m-%d %H:%M} (UTC). Pick a cutoff inside that range"
            + (f", at the latest {default_cutoff:%Y-%m-%d} for a {horizon:g}-day horizon."
               if target.kind != "column" else "."))
    if cutoff <= ts_min:
        raise InvalidParameterError(
            f"The cutoff {cutoff:%Y-%m-%d %H:%M} is at the very first event, so there is no history to learn "
            "from. Pick a later cutoff.")
    if target.kind != "column":
        window_end = cutoff + timedelta(days=horizon)
        if window_end > ts_max:
            left = max(0.0, (ts_max - cutoff).total_seconds() / 86_400)
            raise InvalidParameterError(
                f"With the cutoff at {cutoff:%Y-%m-%d %H:%M} and a {horizon:g}-day horizon, the label window "
                f"ends {window_end:%Y-%m-%d %H:%M}, after the last event ({ts_max:%Y-%m-%d %H:%M}): only "
                f"{left:.1f} of its {horizon:g} days are in the data, so users would be counted as "
                f"{'churned' if target.kind == 'churn' else 'not converting'} just because the data stops. "
                f"Move the cutoff to {default_cutoff:%Y-%m-%d %H:%M} or earlier, or shorten the horizon "
                f"to at most {left:.0f} days.")
    return replace(target, target_event=event if target.kind == "event" else None, horizon_days=horizon,
                   cutoff=cutoff)


def build_training_set(ws: Workspace, dataset_id: str, target: TargetDefinition | None = None, *,
                       n_folds: int | None = 5, user_labels: pd.DataFrame | None = None,
                       feature_params: FeatureParams | None = None, check_leaks: bool = True,
                       random_state: int = 0) -> TrainingSet:
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
        _check_folds(n_folds)
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
                     source_hash=ds.content_hash, warnings=notes)
    if n_folds is not None:
        ts.validate(n_folds)
    if check_leaks:
        ts.leakage = check_leakage(X, y, random_state=random_state)
        for finding in ts.leakage:
            ts.warnings.append(finding.message())
            warnings.warn(finding.message(), LeakageWarning, stacklevel=2)
    return ts


def build_out_of_time_set(ws: Workspace, dataset_id: str, target: TargetDefinition, *, days: float | None = None,
                          n_folds: int | None = 2, feature_params: FeatureParams | None = None) -> TrainingSet:
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

    Raises
    ------
    InvalidParameterError
        The earlier cutoff falls before the data, or the earlier window has one class.
    """
    ds = ws.get(dataset_id)
    target = resolve_target(ds, target)
    if target.kind == "column":
        raise InvalidParameterError("The out-of-time check needs a time-based target (event or churn), "
                                    "not a column target.")
    earlier = target.earlier(days)
    try:
        return build_training_set(ws, dataset_id, earlier, n_folds=n_folds, feature_params=feature_params,
                                  check_leaks=False)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"Out-of-time check: the earlier cutoff {earlier.cutoff:%Y-%m-%d} does not "
                                    f"work: {exc}") from exc


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
    _check_folds(n_folds)
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


def check_leakage(X: pd.DataFrame, y: np.ndarray, *, threshold: float = LEAKAGE_AUC,
                  max_rows: int = LEAKAGE_MAX_ROWS, random_state: int = 0) -> list[LeakageFinding]:
    """Features that alone rank users almost exactly by the label.

    Each numeric feature's ROC AUC is computed from its raw values (empty
    values ranked lowest), taking ``max(auc, 1 - auc)`` so the direction does not
    matter. Text columns with at most :data:`LEAKAGE_MAX_CATEGORIES` values are
    scored by the share of positives per value. See :data:`LEAKAGE_AUC` for why
    0.98.

    Parameters
    ----------
    X : DataFrame
    y : array of 0/1
    threshold : float
        Flag features at or above this AUC.
    max_rows : int
        Check a seeded stratified sample of this size at most.
    random_state : int

    Returns
    -------
    list of LeakageFinding
        Strongest first; empty when nothing leaks or the smaller class has fewer
        than :data:`LEAKAGE_MIN_CLASS` users (too few to tell).
    """
    from sklearn.metrics import roc_auc_score

    if not 0.5 < threshold <= 1:
        raise InvalidParameterError(f"threshold must be in (0.5, 1], got {threshold}.")
    y = np.asarray(y).astype(np.int64)
    if len(y) != len(X):
        raise InvalidParameterError(f"X has {len(X)} rows but y has {len(y)}.")
    pos = int(y.sum())
    if min(pos, len(y) - pos) < LEAKAGE_MIN_CLASS:
        return []
    if len(y) > max_rows:
        idx = stratified_sample(y, max_rows, random_state)
        X, y = X.iloc[idx], y[idx]
    found = []
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            # Ranks, not values: infinities are fine and empty values rank lowest.
            v = pd.Series(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)).rank(
                method="average", na_option="top").to_numpy()
        else:
            text = s.astype(object).where(s.notna(), "(none)").astype(str)
            if text.nunique() > LEAKAGE_MAX_CATEGORIES:
                continue
            v = pd.Series(y, index=text.index).groupby(text.to_numpy()).transform("mean").to_numpy(dtype=float)
        if np.all(v == v[0]):
            continue
        auc = float(roc_auc_score(y, v))
        auc = max(auc, 1 - auc)
        if auc >= threshold:
            found.append(LeakageFinding(feature=str(col), auc=round(auc, 4)))
    return sorted(found, key=lambda f: -f.auc)


def class_names(target: TargetDefinition | None) -> tuple[str, str]:
    """Plain names of the negative and positive class (for tables and messages)."""
    if target is None:
        return ("negative", "positive")
    if target.kind == "event":
        ev = target.target_event or "the target event"
        return (f"no {ev}", f"{ev} within {target.horizon_days:g} days")
    if target.kind == "churn":
        return ("still active", f"no event within {target.horizon_days:g} days")
    pos = target.positive_value
    return (f"{target.column} other", f"{target.column} = {pos}" if pos is not None else f"{target.column}")


def stratified_sample(y: np.ndarray, n: int, random_state: int = 0, min_per_class: int = 20) -> np.ndarray:
    """Sorted row positions of a seeded stratified sample of ``n`` rows.

    Each class keeps its share, but at least ``min(class size, min_per_class)``
    rows, so a rare class never vanishes from the sample.
    """
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(random_state)
    out = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        k = int(round(n * len(members) / len(y)))
        k = min(len(members), max(k, min_per_class))
        out.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(out))


# --- private ---------------------------------------------------------------------------------------


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
    note = (f"{dropped:,} users have no value in '{col}' and are left out." if dropped else None)
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


def _check_horizon(horizon: float) -> float:
    try:
        h = float(horizon)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"The horizon must be a number of days, got {horizon!r}.") from exc
    if not np.isfinite(h) or h <= 0 or h > MAX_HORIZON_DAYS:
        raise InvalidParameterError(
            f"The horizon must be more than 0 and at most {MAX_HORIZON_DAYS} days, got {horizon!r}.")
    return h


def _check_folds(n_folds: int) -> None:
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


def _listing(events: dict) -> str:
    names = sorted(events, key=lambda e: -events[e])[:15]
    return ", ".join(f"'{e}'" for e in names) or "(none)"


__all__ = ["KINDS", "LEAKAGE_AUC", "LeakageFinding", "LeakageWarning", "TargetDefinition", "TrainingSet",
           "build_out_of_time_set", "build_training_set", "check_classes", "check_leakage", "class_names",
           "resolve_target", "stratified_sample", "to_naive_utc"]
