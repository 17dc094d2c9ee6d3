"""Deep learning on behaviour sequences: each user's recent events as tokens, a recurrent encoder, propensity.

Modules:

- ``tokens``: the most recent events of each user up to a cutoff as token ids and
  continuous inputs (:class:`~analytics.sequences.tokens.Sequences`), windowed in
  DuckDB, with the :class:`~analytics.sequences.vocabulary.Vocabulary` a model keeps.
- ``encoder``: the PyTorch encoder (GRU or a small Transformer), a classification
  head, the mini-batch training loop (early stopping, progress, cancellation),
  and turning a network into plain tensors and back (for safetensors files).
- ``propensity``: the two catalogue models ``seq`` and ``agg+seq`` of
  :mod:`analytics.models.zoo`, cross-validated on the same folds as the others.

PyTorch is optional (``requirements-deep.txt``): ``tokens`` needs only numpy and
DuckDB; everything that needs torch calls :func:`require_torch`, which raises
:class:`DeepLearningUnavailableError` (a :class:`~analytics.errors.MarketLensError`,
so the app shows it as a message and the CLI exits with code 2) when it is missing.
"""

from __future__ import annotations

from analytics.errors import MarketLensError

INSTALL_HINT = ("Sequence models need PyTorch: pip install -r requirements-deep.txt (on a machine without a GPU, "
                "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu avoids several GB of CUDA "
                "libraries).")


class DeepLearningUnavailableError(MarketLensError):
    """PyTorch (or safetensors) is not installed, so the sequence models cannot run."""


def torch_available() -> bool:
    """Whether PyTorch and safetensors can be imported (the sequence models can run)."""
    try:
        require_torch()
    except DeepLearningUnavailableError:
        return False
    return True


def require_torch():
    """The ``torch`` module, or :class:`DeepLearningUnavailableError` saying how to install it.

    Returns
    -------
    module
        ``torch``.
    """
    try:
        import safetensors  # noqa: F401 - model files need it as much as training needs torch
        import torch
    except ImportError as exc:  # also OSError-free: a broken install raises ImportError too
        raise DeepLearningUnavailableError(INSTALL_HINT) from exc
    return torch


__all__ = ["INSTALL_HINT", "DeepLearningUnavailableError", "require_torch", "torch_available"]
