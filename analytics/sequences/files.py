"""A sequence network's weights on disk: safetensors (plain tensors, no pickle), checked before use.

The file holds only named tensors and a small text header (:data:`HEADER`). The
network's shape (:class:`~analytics.sequences.encoder.EncoderConfig`), its
vocabulary and the file's SHA-256 are in the model's ``metadata.json``
(:mod:`analytics.models.persistence`); loading refuses a file whose hash, header,
tensor names, shapes or dtypes differ from that description, or that holds
empty/infinite weights.
"""

from __future__ import annotations

import os
from pathlib import Path

from analytics.checksums import file_sha256
from analytics.errors import ModelCompatibilityError
from analytics.sequences import require_torch

WEIGHTS_FILE = "network.safetensors"
HEADER = {"format": "marketlens-sequence-network", "format_version": "1"}


def save_network(network, directory: Path) -> str:
    """Write ``network.safetensors`` into ``directory`` (atomically) and return its SHA-256."""
    require_torch()
    from safetensors.torch import save_file

    from analytics.sequences.encoder import network_tensors

    tmp = Path(directory) / (WEIGHTS_FILE + ".tmp")
    save_file(network_tensors(network), str(tmp), metadata=dict(HEADER))
    digest = file_sha256(tmp)
    os.replace(tmp, Path(directory) / WEIGHTS_FILE)
    return digest


def load_network(directory: Path, encoder: dict, expected_sha256: str | None):
    """The :class:`~analytics.sequences.encoder.SequenceClassifier` saved in ``directory``, checked.

    Raises
    ------
    ModelCompatibilityError
        Missing file, changed since saving, not a MarketLens network, or weights that
        do not fit ``encoder``.
    DeepLearningUnavailableError
        PyTorch is not installed.
    """
    require_torch()
    from safetensors import safe_open

    from analytics.sequences.encoder import EncoderConfig

    d = Path(directory)
    path = d / WEIGHTS_FILE
    if not path.is_file():
        raise ModelCompatibilityError(f"The network file {WEIGHTS_FILE} is missing from '{d}'; save the model again.")
    if file_sha256(path) != expected_sha256:
        raise ModelCompatibilityError(f"The network file in '{d}' has changed since it was saved (it does not match "
                                      "its description); it is refused. Save the model again.")
    config = EncoderConfig.from_dict(encoder if isinstance(encoder, dict) else {})
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            header = fh.metadata() or {}
            weights = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 - safe_open is not a dict
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same answer
        raise ModelCompatibilityError(f"The network file in '{d}' cannot be read ({type(exc).__name__}); it is "
                                      "refused.") from exc
    if {k: header.get(k) for k in HEADER} != HEADER:
        raise ModelCompatibilityError(f"The network file in '{d}' was not written by this MarketLens (header "
                                      f"{header}); it is refused.")
    return _classifier(config, weights)


def _classifier(encoder, weights: dict):
    """A :class:`~analytics.sequences.encoder.SequenceClassifier` of this shape with these weights,
    refusing any name or shape that differs.

    Raises
    ------
    ModelCompatibilityError
        Missing, extra or differently shaped weights (a file that is not what its metadata says).
    """
    import torch

    from analytics.sequences.encoder import SequenceClassifier
    from analytics.sequences.threads import seeded

    model = seeded(0, lambda: SequenceClassifier(encoder))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if tuple(weights[k].shape) != tuple(expected[k].shape)
                   or weights[k].dtype != expected[k].dtype)
    if missing or extra or wrong:
        detail = "; ".join(part for part in (f"missing {', '.join(missing[:3])}" if missing else "",
                                             f"unexpected {', '.join(extra[:3])}" if extra else "",
                                             f"wrong shape {', '.join(wrong[:3])}" if wrong else "") if part)
        raise ModelCompatibilityError(f"The network's weights do not match its description ({detail}); the file was "
                                      "not saved by MarketLens or has been altered, so it is refused.")
    model.load_state_dict(weights, strict=True)
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ModelCompatibilityError(f"The network's weights hold empty or infinite values ({name}); the file is "
                                          "refused.")
    model.eval()
    return model
