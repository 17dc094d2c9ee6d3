"""Saving a fitted recommender without pickle: numpy arrays plus a JSON description.

A model folder holds ``arrays.npz`` (the fitted arrays, the training matrix and
the user and product ids, plain numeric/text arrays written with ``np.savez`` and read with
``allow_pickle=False``) and ``metadata.json`` (model, parameters, library
versions, item column, event weights, data fingerprint, the SHA-256 of the
arrays file and the name, shape and type of every array). Loading checks all of
it before anything is used: a file that is not what its description says is
refused with :class:`analytics.errors.ModelCompatibilityError`.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from analytics.checksums import file_sha256
from analytics.errors import InvalidParameterError, ModelCompatibilityError
from analytics.jsonable import json_safe
from analytics.recommend.base import Recommender, csr_from_state, csr_state
from analytics.recommend.interactions import Interactions
from analytics.recommend.zoo import MODELS

FORMAT = "marketlens-recommender"
FORMAT_VERSION = 1
ARRAYS_FILE = "arrays.npz"
META_FILE = "metadata.json"
# Array dtypes a saved model may contain: numbers and fixed-width text, never objects.
_ALLOWED_KINDS = set("fiuU")


@dataclass
class SavedRecommender:
    """A loaded model with the ids it was fitted on.

    ``model.recommend`` works with row indices of ``user_ids`` (the training
    users) or with ``user_items`` rows in the order of ``item_ids``.
    """

    model: Recommender
    item_ids: np.ndarray
    user_ids: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def save_recommender(model: Recommender, interactions: Interactions, directory: str | Path, *,
                     overwrite: bool = False, extra: dict[str, Any] | None = None) -> Path:
    """Write ``arrays.npz`` and ``metadata.json`` of a fitted model into ``directory``.

    Parameters
    ----------
    model : Recommender
        Fitted on ``interactions``.
    interactions : Interactions
        Gives the user and product ids, the item column, the weights and the data fingerprint.
    directory : path
        Created if needed; must be empty unless ``overwrite``.
    extra : dict, optional
        More metadata (dataset id, evaluation metrics, ...), JSON-safe.

    Returns
    -------
    Path
        The directory.
    """
    if not isinstance(model, Recommender) or not model.fitted:
        raise InvalidParameterError("Only a fitted recommender can be saved: call fit first.")
    if model.n_items != interactions.n_items:
        raise InvalidParameterError(f"The model knows {model.n_items:,} products, the interactions "
                                    f"{interactions.n_items:,}: save it with the interactions it was fitted on.")
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise InvalidParameterError(f"'{d}' is a file, not a folder; choose a folder for the model.")
    if d.is_dir() and any(d.iterdir()) and not overwrite:
        raise InvalidParameterError(f"The folder '{d}' is not empty; choose a new folder or allow overwriting.")
    d.mkdir(parents=True, exist_ok=True)
    arrays = {f"state_{k}": np.ascontiguousarray(v) for k, v in model._state().items()}
    # The training matrix too, so the loaded model recommends for its users (and leaves out what they had).
    arrays |= csr_state("train", model._train)
    arrays["item_ids"] = np.asarray([str(x) for x in interactions.item_ids], dtype=str)
    arrays["user_ids"] = np.asarray([str(x) for x in interactions.user_ids], dtype=str)
    for name, a in arrays.items():
        if a.dtype.kind not in _ALLOWED_KINDS:  # pragma: no cover - a model bug
            raise InvalidParameterError(f"Array '{name}' of type {a.dtype} cannot be saved without pickle.")
    tmp = d / (ARRAYS_FILE + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    digest = file_sha256(tmp)
    os.replace(tmp, d / ARRAYS_FILE)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": model.key, "label": model.label,
        "params": json_safe(model.params), "note": model.note, "n_items": int(model.n_items),
        "n_users": int(interactions.n_users), "item_column": interactions.item_col,
        "weights": dict(interactions.weights), "data_fingerprint": interactions.fingerprint(),
        "arrays_file": ARRAYS_FILE, "arrays_sha256": digest,
        "arrays": {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()},
        "versions": library_versions(), "created_at": datetime.now(UTC).isoformat(),
        "extra": json_safe(extra or {}),
    }
    tmp_meta = d / (META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2))
    os.replace(tmp_meta, d / META_FILE)
    return d


def read_recommender_metadata(directory: str | Path) -> dict[str, Any]:
    """The ``metadata.json`` of a saved recommender (cheap, for listings); refused if not ours."""
    d = Path(directory)
    path = d / META_FILE
    if not path.is_file() or not (d / ARRAYS_FILE).is_file():
        raise ModelCompatibilityError(
            f"There is no saved recommender in '{d}' (expected {ARRAYS_FILE} and {META_FILE}).")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelCompatibilityError(
            f"The description of the recommender in '{d}' cannot be read ({exc}); save the model "
            "again.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelCompatibilityError(f"'{d}' does not hold a MarketLens recommender.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelCompatibilityError(
            f"The recommender in '{d}' was saved in format version {meta.get('format_version')}; "
            f"this MarketLens reads version {FORMAT_VERSION}. Fit it again.")
    if meta.get("model") not in MODELS:
        raise ModelCompatibilityError(f"The recommender in '{d}' is of an unknown kind ({meta.get('model')!r}).")
    return meta


def load_recommender(directory: str | Path) -> SavedRecommender:
    """Load a model saved with :func:`save_recommender`, refusing a file that is not what it claims.

    Raises
    ------
    ModelCompatibilityError
        Missing or unreadable files, a changed arrays file (SHA-256), arrays
        that differ from the description, objects that would need pickle, or
        parameters the model refuses.
    """
    d = Path(directory)
    meta = read_recommender_metadata(d)
    path = d / ARRAYS_FILE
    if file_sha256(path) != meta.get("arrays_sha256"):
        raise ModelCompatibilityError(
            f"The recommender file in '{d}' has changed since it was saved (it does not match its "
            "description); it is refused. Save the model again.")
    expected = meta.get("arrays") or {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            if sorted(npz.files) != sorted(expected):
                raise ModelCompatibilityError(
                    f"The recommender file in '{d}' holds other arrays than its description says; "
                    "it is refused.")
            arrays = {name: npz[name] for name in npz.files}
    except ModelCompatibilityError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ModelCompatibilityError(
            f"The recommender file in '{d}' cannot be read ({type(exc).__name__}: {exc}); it is "
            "refused.") from exc
    for name, a in arrays.items():
        want = expected[name]
        if a.dtype.kind not in _ALLOWED_KINDS or list(a.shape) != list(want.get("shape", [])) \
                or a.dtype.str != want.get("dtype"):
            raise ModelCompatibilityError(
                f"Array '{name}' in '{d}' is not what the description says ({a.dtype} {a.shape}); "
                "the file is refused.")
    item_ids, user_ids = arrays.pop("item_ids", None), arrays.pop("user_ids", None)
    if item_ids is None or user_ids is None or len(item_ids) != meta.get("n_items"):
        raise ModelCompatibilityError(f"The recommender in '{d}' lacks its product index; it is refused.")
    try:
        model = MODELS[meta["model"]](**(meta.get("params") or {}))
    except InvalidParameterError as exc:
        raise ModelCompatibilityError(
            f"The recommender in '{d}' has parameters this MarketLens refuses ({exc}).") from exc
    model.n_items = int(meta["n_items"])
    model.note = meta.get("note")
    try:
        model._load_state({k[len("state_"):]: v for k, v in arrays.items() if k.startswith("state_")})
        model._train = csr_from_state("train", arrays)
        if model._train.shape != (len(user_ids), model.n_items):
            raise ValueError(f"the training matrix is {model._train.shape} for {len(user_ids)} users")
        _check_shapes(model)
    except (KeyError, ValueError, IndexError) as exc:
        raise ModelCompatibilityError(
            f"The recommender in '{d}' is incomplete or inconsistent ({exc}); it is refused.") \
            from exc
    return SavedRecommender(model=model, item_ids=item_ids.astype(object), user_ids=user_ids.astype(object),
                            meta=meta)


def _check_shapes(model: Recommender) -> None:
    """Every state array must fit the catalogue size (a consistent file, not just an intact one)."""
    n = model.n_items
    for name, a in model._state().items():
        if name in ("popularity",) and a.shape != (n,):
            raise ValueError(f"{name} has {a.shape[0]} values for {n} products")
        if name == "item_factors" and a.shape[0] != n:
            raise ValueError(f"item_factors has {a.shape[0]} rows for {n} products")
        if name == "similarity_shape" and tuple(a) != (n, n):
            raise ValueError(f"similarity is {tuple(a)} for {n} products")
        if name == "B" and (a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] > n):
            raise ValueError(f"B is {a.shape} for {n} products")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved recommender was made with."""
    import scipy

    out = {"numpy": np.__version__, "scipy": scipy.__version__, "python": platform.python_version()}
    try:
        import implicit

        out["implicit"] = implicit.__version__
    except ImportError:  # pragma: no cover
        pass
    return out
