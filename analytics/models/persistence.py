"""A model fitted on all users, saved with skops (never pickle) and loaded only if it can be trusted.

The sequence models (``seq``, ``agg+seq``) also keep a PyTorch network: its weights
go to ``network.safetensors`` (plain tensors, no pickle) with their SHA-256, the
network's shape and token vocabulary in ``metadata.json`` ("sequence"); ``seq`` has
no scikit-learn part, so no ``model.skops``. Loading them needs PyTorch, the same
torch minor version as at saving, and refuses weights that differ from that
description (:mod:`analytics.sequences.files`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.checksums import file_sha256
from analytics.errors import InvalidParameterError, ModelCompatibilityError
from analytics.jsonable import json_safe
from analytics.models.fitting import fit_one
from analytics.models.results import ModelResult
from analytics.models.training_set import TrainingSet, check_classes
from analytics.models.zoo import feature_kinds, model_spec, prepare_features

MODEL_FILE = "model.skops"

META_FILE = "metadata.json"

FORMAT = "marketlens-model"

FORMAT_VERSION = 1


@dataclass
class TrainedModel:
    """A pipeline fitted on a whole training set, with what is needed to reuse it.

    Attributes
    ----------
    pipeline : sklearn Pipeline
    key, name : str
    feature_kinds : dict
        Feature columns (in order) -> ``"number"``/``"text"``.
    target : dict
        ``TargetDefinition.to_dict()`` of the training set.
    feature_params : dict
        ``FeatureParams.to_dict()``: compute features of new data with these
        (except ``as_of``).
    cv_metrics : dict
        ``ModelResult.metrics()`` of its cross-validation, if given.
    training : dict
        Users, positives, data fingerprint, dataset id, source file hash, sample note.
    params : dict
        Hyperparameters set explicitly.
    versions : dict
        Library versions it was fitted with.
    created_at : str
        ISO time (UTC).
    value_features : dict or None
        ``ValueFeatures.to_dict()`` when the model uses customer-value features: scoring
        computes them again as of the scoring date.
    network : SequenceClassifier or None
        The sequence models' PyTorch network (``pipeline`` is then None for ``seq``,
        the booster for ``agg+seq``).
    sequence : dict or None
        The network's vocabulary, encoder and training settings (see
        :func:`analytics.sequences.propensity.fit_sequence_model`).
    """

    pipeline: Any
    key: str
    name: str
    feature_kinds: dict[str, str]
    target: dict
    feature_params: dict
    cv_metrics: dict
    training: dict
    params: dict
    versions: dict
    created_at: str
    value_features: dict | None = None
    network: Any = None
    sequence: dict | None = None

    @property
    def features(self) -> list[str]:
        return list(self.feature_kinds)

    def metadata(self) -> dict:
        """What :func:`save_model` writes to ``metadata.json``."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": self.key, "model_name": self.name,
                "created_at": self.created_at,
                "features": [{"name": c, "kind": k} for c, k in self.feature_kinds.items()],
                "target": json_safe(self.target), "feature_params": json_safe(self.feature_params),
                "params": json_safe(self.params), "cv_metrics": json_safe(self.cv_metrics),
                "training": json_safe(self.training), "versions": self.versions,
                "value_features": json_safe(self.value_features), "sequence": json_safe(self.sequence)}

    def feature_overrides(self) -> dict:
        """Feature settings to compute new data with, e.g. ``ws.feature_params(id, **model.feature_overrides())``.

        Everything the model was trained with except ``as_of`` (the date to score at is yours).
        """
        return {k: v for k, v in self.feature_params.items() if k != "as_of"}


def fit_model(training: TrainingSet, key: str, *, params: dict | None = None, cv_result: ModelResult | None = None,
              balance_classes: bool = True, random_state: int = 0) -> TrainedModel:
    """Fit one model on the whole training set (slow models: on their capped sample).

    Parameters
    ----------
    training : TrainingSet
    key : str
    params : dict, optional
        Hyperparameters (e.g. ``TuningResult.best_params``); default: ``cv_result.params``.
    cv_result : ModelResult, optional
        Its cross-validation result; its metrics go into the metadata.
    balance_classes, random_state
        As in :func:`iter_train` (use the same to get the model that was evaluated).

    Returns
    -------
    TrainedModel
    """
    spec = model_spec(key)
    check_classes(training.y, 2, training.target)
    if cv_result is not None and cv_result.key != key:
        raise InvalidParameterError(f"The cross-validation result is for '{cv_result.key}', not '{key}'.")
    params = dict(params if params is not None else (cv_result.params if cv_result else {}))
    kinds = feature_kinds(training.X)
    t0 = time.perf_counter()
    network = sequence = None
    if spec.sequence:
        from analytics.sequences import require_torch

        require_torch()
        from analytics.sequences.propensity import SCORE_COLUMN, fit_sequence_model

        network, pipe, sequence = fit_sequence_model(training, key, params, random_state, kinds)
        kinds = kinds | {SCORE_COLUMN: "number"} if pipe is not None else {}
        idx = np.arange(sequence["network_users"])
    else:
        Xp = prepare_features(training.X, kinds)
        pipe, idx = fit_one(key, kinds, Xp, training.y, np.arange(training.n_users), params=params,
                            balance_classes=balance_classes, random_state=random_state)
    fp = training.feature_params
    return TrainedModel(
        pipeline=pipe, key=key, name=spec.name, feature_kinds=kinds, target=training.target.to_dict(),
        feature_params=fp.to_dict() if fp is not None else {}, cv_metrics=cv_result.metrics() if cv_result else {},
        training={"users": training.n_users, "positives": training.positives,
                  "positive_rate": round(training.positive_rate, 6), "fitted_on": len(idx),
                  "fit_seconds": round(time.perf_counter() - t0, 3), "balance_classes": balance_classes,
                  "random_state": random_state, "data_fingerprint": training.fingerprint(),
                  "dataset_id": training.dataset_id, "source_hash": training.source_hash},
        params=params, versions=library_versions(deep=network is not None), created_at=datetime.now(UTC).isoformat(),
        value_features=None if training.value_features is None else training.value_features.to_dict(),
        network=network, sequence=sequence)


def save_model(model: TrainedModel, directory: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model.skops`` (skops format, never pickle) and ``metadata.json`` into ``directory``.

    Parameters
    ----------
    model : TrainedModel
    directory : path
        Created if needed; must be empty unless ``overwrite``.
    overwrite : bool
        Replace a model already saved there.

    Returns
    -------
    Path
        The directory.
    """
    if not isinstance(model, TrainedModel):
        raise InvalidParameterError(f"save_model needs a TrainedModel (from fit_model), got {type(model).__name__}.")
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise InvalidParameterError(f"'{d}' is a file, not a folder; choose a folder for the model.")
    if d.is_dir() and any(d.iterdir()) and not overwrite:
        raise InvalidParameterError(f"The folder '{d}' is not empty; choose a new folder or allow overwriting.")
    d.mkdir(parents=True, exist_ok=True)
    meta = model.metadata()
    if model.pipeline is not None:
        import skops.io as sio  # a second or more to import: only when there is a pipeline to write

        tmp = d / (MODEL_FILE + ".tmp")
        sio.dump(model.pipeline, tmp)
        digest = file_sha256(tmp)
        os.replace(tmp, d / MODEL_FILE)
        meta |= {"model_file": MODEL_FILE, "model_sha256": digest}
    else:
        meta |= {"model_file": None, "model_sha256": None}
    if model.network is not None:
        from analytics.sequences.files import WEIGHTS_FILE, save_network

        meta |= {"network_file": WEIGHTS_FILE, "network_sha256": save_network(model.network, d)}
    tmp_meta = d / (META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=False))
    os.replace(tmp_meta, d / META_FILE)
    return d


def read_metadata(directory: str | Path) -> dict:
    """The ``metadata.json`` of a saved model (cheap: for listing saved models).

    Raises
    ------
    ModelCompatibilityError
        No model there, or the metadata is unreadable.
    """
    d = Path(directory)
    path = d / META_FILE
    if not path.is_file() or not ((d / MODEL_FILE).is_file() or _has_network(d)):
        raise ModelCompatibilityError(f"There is no saved MarketLens model in '{d}' (expected {MODEL_FILE} and "
                                      f"{META_FILE}).")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelCompatibilityError(f"The model description in '{d}' cannot be read ({exc}); save the model "
                                      "again.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelCompatibilityError(f"'{d}' does not hold a MarketLens model.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelCompatibilityError(f"The model in '{d}' was saved in format version {meta.get('format_version')}, "
                                      f"this MarketLens reads version {FORMAT_VERSION}; train it again.")
    _check_shape(meta, d)
    return meta


# What each part of metadata.json must be: a hand-edited file fails here with a message, not deep in scoring.
_SHAPE = {"features": list, "target": dict, "feature_params": dict, "params": dict}


def _check_shape(meta: dict, d: Path) -> None:
    wrong = [k for k, kind in _SHAPE.items() if not isinstance(meta.get(k), kind)]
    features = meta.get("features") if isinstance(meta.get("features"), list) else []
    if not wrong and not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in features):
        wrong = ["features"]
    if wrong:
        raise ModelCompatibilityError(f"The model description in '{d}' was edited or damaged ({', '.join(wrong)} "
                                      f"not as saved); save or train the model again.")


def _has_network(d: Path) -> bool:
    from analytics.sequences.files import WEIGHTS_FILE  # no torch needed for the name

    return (d / WEIGHTS_FILE).is_file()


def load_model(directory: str | Path) -> TrainedModel:
    """Load a model saved with :func:`save_model`, refusing anything that cannot be trusted or used.

    The file is checked before it is loaded: same scikit-learn version as
    here, unchanged since saving (SHA-256 in the metadata), and containing only
    the types listed in :data:`TRUSTED_TYPES` (skops is told to trust exactly
    those, never everything).

    Raises
    ------
    ModelCompatibilityError
        With a message saying what differs and what to do.
    """
    import sklearn

    d = Path(directory)
    meta = read_metadata(d)
    saved = (meta.get("versions") or {}).get("scikit-learn")
    if saved != sklearn.__version__:
        raise ModelCompatibilityError(
            f"This model was saved with scikit-learn {saved} but this installation has {sklearn.__version__}. "
            "A model can score differently (or not load) under another version, so it is refused. Train it again "
            f"here, or use it where scikit-learn {saved} is installed.")
    network = _load_network(d, meta)
    pipe = None
    if meta.get("model_file") is not None or network is None:
        pipe = _load_pipeline(d, meta)
    return TrainedModel(
        pipeline=pipe, key=meta["model"], name=meta.get("model_name", meta["model"]),
        feature_kinds={f["name"]: f["kind"] for f in meta["features"]}, target=meta.get("target", {}),
        feature_params=meta.get("feature_params", {}), cv_metrics=meta.get("cv_metrics", {}),
        training=meta.get("training", {}), params=meta.get("params", {}), versions=meta.get("versions", {}),
        created_at=meta.get("created_at", ""), value_features=meta.get("value_features"), network=network,
        sequence=meta.get("sequence"))


def _load_pipeline(d: Path, meta: dict):
    """The scikit-learn part, checked: unchanged since saving, only trusted types."""
    import skops.io as sio

    path = d / MODEL_FILE
    if not path.is_file():
        raise ModelCompatibilityError(f"The model file {MODEL_FILE} is missing from '{d}'; save the model again.")
    if file_sha256(path) != meta.get("model_sha256"):
        raise ModelCompatibilityError(f"The model file in '{d}' has changed since it was saved (it does not match its "
                                      "description); it is refused. Save the model again.")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same answer
        raise ModelCompatibilityError(f"The model file in '{d}' cannot be read ({type(exc).__name__}).") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelCompatibilityError(
            f"The model file in '{d}' contains object types MarketLens does not load ({', '.join(unexpected[:5])}); "
            "it was not made by MarketLens or has been altered, so it is refused.")
    try:
        pipe = sio.load(path, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise ModelCompatibilityError(f"The model file in '{d}' cannot be loaded ({type(exc).__name__}: {exc}).") \
            from exc
    return pipe


def _load_network(d: Path, meta: dict):
    """The sequence network of a ``seq``/``agg+seq`` model (None for the others), checked before use."""
    sequence = meta.get("sequence")
    if not sequence and not meta.get("network_file"):
        return None
    from analytics.sequences import require_torch
    from analytics.sequences.files import load_network
    from analytics.sequences.vocabulary import Vocabulary

    torch = require_torch()
    if not isinstance(sequence, dict):
        raise ModelCompatibilityError(f"The model in '{d}' has a network but no description of it; it is refused.")
    saved = str((meta.get("versions") or {}).get("torch"))
    if _minor(saved) != _minor(torch.__version__):
        raise ModelCompatibilityError(
            f"This model's network was saved with PyTorch {saved} but this installation has {torch.__version__}; "
            "it is refused. Train it again here, or install the PyTorch of requirements-deep.txt.")
    Vocabulary.from_dict(sequence.get("vocab") if isinstance(sequence.get("vocab"), dict) else {})
    return load_network(d, sequence.get("encoder"), meta.get("network_sha256"))


def _minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def library_versions(deep: bool = False) -> dict:
    """Versions of the libraries a saved model depends on (``deep``: also PyTorch and safetensors)."""
    import scipy
    import sklearn
    import skops

    out = {"scikit-learn": sklearn.__version__, "skops": skops.__version__, "numpy": np.__version__,
           "scipy": scipy.__version__, "pandas": pd.__version__, "python": platform.python_version(),
           "marketlens": _marketlens_version()}
    if deep:
        import safetensors
        import torch

        out |= {"torch": torch.__version__, "safetensors": safetensors.__version__}
    return out


# Types skops does not trust by default that the zoo's pipelines contain; a file
# with any other untrusted type is refused. Checked by tests against every model.
# functools.partial is safe to list: skops checks the function it wraps as a type
# of its own, and the only one listed is check_array (HistGradientBoosting's
# categorical preprocessing stores partial(check_array, ...)).
TRUSTED_TYPES: tuple[str, ...] = (
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.tree._tree.Tree",
)


def _marketlens_version() -> str:
    """The installed package's version, or the checkout's (pyproject.toml) when run from the source tree."""
    import tomllib
    from importlib.metadata import PackageNotFoundError, version

    try:
        with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError):
        pass
    try:
        return version("marketlens")
    except PackageNotFoundError:
        return "unknown"
