"""Self-supervised next-event model: the sequence encoder trained to predict each user's next event, no labels.

After every event of a user, the GRU of :class:`~analytics.sequences.encoder.SequenceEncoder`
predicts the next one: the next *product* when the log names products, and the
next *event type* when the log has more than one. Nothing else is needed, so the
one trained network serves two uses:

- **user profiles** (:mod:`analytics.sequences.profiles`): the encoder's state after
  a user's last event (its user vector) summarises how they behave; the Segments
  page clusters and maps it;
- **next-item recommendations** (:class:`analytics.recommend.sequential.SequenceGRU`):
  the product head scores the whole catalogue from that state, as GRU4Rec
  (Hidasi et al. 2016) does.

Why self-supervised rather than the propensity network's embedding: segments have
no target, and an embedding trained on one would carry that label into every model
later fitted per segment (leakage); predicting the next event is the training
signal of GRU4Rec and SASRec, so profiles and recommendations share one objective.

Everything else is the encoder module's: the network, the mini-batches of similar
lengths, the training loop with early stopping on 10% of the users, progress,
cancellation (whatever the progress callback raises stops training), torch threads
capped, determinism with a seed. This module adds the two heads, the loss, and
reading the GRU's state after *every* event (the encoder itself returns only the
last one). With more than :data:`FULL_SOFTMAX_MAX` product tokens the product head
is trained on each batch's own next products plus :data:`SAMPLED_NEGATIVES`
uniformly drawn ones (a sampled softmax): the full softmax over 10k products at
every position would cost ~100x more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analytics.errors import InvalidParameterError, ModelCompatibilityError, NoDataError
from analytics.progress import Progress
from analytics.sequences import require_torch
from analytics.sequences.encoder import (
    SCORE_BATCH,
    EncoderConfig,
    FitHistory,
    SequenceEncoder,
    TrainConfig,
    embed,
    fit_network,
    length_batches,
    network_tensors,
    tensors,
)
from analytics.sequences.threads import seeded, torch_threads
from analytics.sequences.tokens import Sequences
from analytics.sequences.vocabulary import FIRST_ID

torch = require_torch()
nn = torch.nn

FULL_SOFTMAX_MAX = 4096
SAMPLED_NEGATIVES = 1024
# Below this many trainable users no validation users are held out (all epochs run, last weights kept).
MIN_USERS_FOR_VALIDATION = 50


class NextEventNet(nn.Module):
    """:class:`SequenceEncoder` (GRU) plus a next-event-type head and a next-product head."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.kind != "gru":
            raise InvalidParameterError("The next-event model reads the state after every event, which only the GRU "
                                        "encoder gives; use kind='gru'.")
        self.encoder = SequenceEncoder(config)
        # One real event type (a purchases-only log) teaches nothing: no head for it.
        self.event_head = nn.Linear(config.hidden, config.n_event_tokens) \
            if config.n_event_tokens - FIRST_ID > 1 else None
        self.item_head = nn.Linear(config.hidden, config.n_item_tokens) if config.n_item_tokens else None

    @property
    def config(self) -> EncoderConfig:
        return self.encoder.config

    def states(self, events, items, numeric, lengths):
        """The GRU state after each event, ``(b, t, hidden)`` (the encoder's inputs, step by step)."""
        out, _ = self.encoder.gru(self.encoder.inputs(events, items, numeric))
        return out

    def forward(self, events, items, numeric, lengths):
        """The user vectors (the state after each user's last event), as the encoder gives them."""
        return self.encoder(events, items, numeric, lengths)


@dataclass
class NextEventFit:
    """A trained next-event network and how it was trained."""

    net: NextEventNet
    history: FitHistory
    users_trained: int
    events_trained: int
    notices: list[str] = field(default_factory=list)

    @property
    def losses(self) -> list[float]:
        return [e["train_loss"] for e in self.history.epochs]


def next_event_loss(sampled_items: bool, rng: np.random.Generator):
    """The loss function for :func:`~analytics.sequences.encoder.fit_network`: cross-entropy of each next event.

    Position ``t`` predicts event ``t + 1`` of the same user: its type (when there
    is an event head) and its product (when it names one).
    """

    def loss(net: NextEventNet, batch, rows):
        events, items, numeric, lengths = tensors(batch)
        h = net.states(events, items, numeric, lengths)[:, :-1]
        t = h.shape[1]
        valid = torch.arange(t)[None, :] < (lengths - 1)[:, None]
        total = h.sum() * 0.0  # a batch with nothing to predict still gives a (zero) loss with a graph
        if net.event_head is not None:
            hv = h[valid]
            total = total + nn.functional.cross_entropy(net.event_head(hv), events[:, 1:][valid])
        if net.item_head is not None and items is not None:
            has = valid & (items[:, 1:] > 0)
            if bool(has.any()):
                hv, target = h[has], items[:, 1:][has]
                if sampled_items:
                    t_np = target.numpy()
                    cand = np.union1d(t_np, rng.integers(1, net.item_head.out_features, SAMPLED_NEGATIVES))
                    idx = torch.from_numpy(cand)
                    logits = hv @ net.item_head.weight[idx].T + net.item_head.bias[idx]
                    target = torch.from_numpy(np.searchsorted(cand, t_np))
                else:
                    logits = net.item_head(hv)
                total = total + nn.functional.cross_entropy(logits, target)
        return total

    return loss


def fit_next_event(seqs: Sequences, *, hidden: int = 64, item_dim: int = 32, max_epochs: int = 5,
                   patience: int = 1, batch_size: int = 256, learning_rate: float = 3e-3,
                   max_users: int | None = None, seed: int = 0, progress: Progress | None = None,
                   label: str = "Learning the order of events") -> NextEventFit:
    """Train the next-event network on users' sequences (self-supervised: no labels).

    Parameters
    ----------
    seqs : Sequences
        From :mod:`analytics.sequences.tokens` (or :func:`analytics.recommend.sequential.interaction_sequences`).
    hidden : int
        Size of the GRU state: the length of each user's profile.
    item_dim : int
        Size of the product embedding (when the sequences have products).
    max_epochs, patience, batch_size, learning_rate
        As :class:`~analytics.sequences.encoder.TrainConfig`; 10% of the users
        (50 or more) are held out to stop early and keep the best epoch.
    max_users : int, optional
        Learn from a seeded sample of at most this many users; every user can
        still be read afterwards. Bounds the time on large logs.
    seed : int
        Seeds the weights, the sample, the batch order and the sampled negatives.
    progress : callable, optional
        ``progress(fraction, message)``; whatever it raises stops training.

    Returns
    -------
    NextEventFit

    Raises
    ------
    NoDataError
        No user has two events: there is no "next event" to learn.
    """
    if max_users is not None and (isinstance(max_users, bool) or not isinstance(max_users, (int, np.integer))
                                  or max_users < 10):
        raise InvalidParameterError(f"max_users must be a whole number of at least 10, got {max_users!r}.")
    trainable = np.flatnonzero(seqs.lengths >= 2)
    if not len(trainable):
        raise NoDataError("No user has two or more events, so there is no 'next event' to learn from. Sequence "
                          "models need users who came back at least once.")
    rng = np.random.default_rng(seed)
    notices = []
    if max_users is not None and len(trainable) > max_users:
        trainable = np.sort(rng.choice(trainable, size=int(max_users), replace=False))
        notices.append(f"The sequence model learned from a random sample of {len(trainable):,} of the users with two "
                       "or more events; every user was then read by it.")
    val_rows = np.zeros(0, dtype=np.int64)
    fit_rows = trainable
    if len(trainable) >= MIN_USERS_FOR_VALIDATION:
        val_rows = np.sort(rng.choice(trainable, size=max(5, len(trainable) // 10), replace=False))
        fit_rows = np.setdiff1d(trainable, val_rows)
    vocab = seqs.vocab
    settings = {"hidden": hidden}
    if vocab.n_item_tokens:
        settings["item_dim"] = item_dim
    config = EncoderConfig.for_vocabulary(vocab, **settings)
    net = seeded(seed, lambda: NextEventNet(config))
    train = TrainConfig(max_epochs=max_epochs, patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                        seed=seed)
    sampled = config.n_item_tokens > FULL_SOFTMAX_MAX
    history = fit_network(net, seqs, fit_rows, val_rows, next_event_loss(sampled, rng), train, progress, label)
    return NextEventFit(net=net, history=history, users_trained=len(trainable),
                        events_trained=int(seqs.lengths[trainable].sum()), notices=notices)


def user_vectors(net: NextEventNet, seqs: Sequences, rows: np.ndarray | None = None,
                 pooling: str = "last") -> np.ndarray:
    """One vector per user of ``rows`` (default all), ``(len(rows), hidden)`` float32, in the order of ``rows``.

    ``pooling="last"``: the GRU state after the user's last event, what the product
    head reads to say what comes next (the encoder's user vector). ``"mean"``: the
    average state over the user's events, a profile of *how* they behave. The last
    state is dominated by the latest event (measured: two groups that differ only in
    the order of the same events were not separated by it, adjusted Rand 0.0, and
    were by the mean, 1.0). Users without events get the encoder's "empty" vector.
    """
    if pooling == "last":
        return embed(net.encoder, seqs, rows)
    if pooling != "mean":
        raise InvalidParameterError(f"pooling must be 'last' or 'mean', got {pooling!r}.")
    rows = np.arange(len(seqs)) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.zeros((len(rows), net.config.hidden), dtype=np.float32)
    where = np.empty(len(seqs), dtype=np.int64)
    where[rows] = np.arange(len(rows))
    net.eval()
    with torch_threads(), torch.no_grad():
        for batch_rows in length_batches(seqs, rows, SCORE_BATCH):
            events, items, numeric, lengths = tensors(seqs.batch(batch_rows))
            h = net.states(events, items, numeric, lengths)
            mask = (torch.arange(h.shape[1])[None, :] < lengths[:, None]).to(h.dtype)[..., None]
            mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            mean = torch.where((lengths > 0)[:, None], mean, net.encoder.empty.expand_as(mean))
            out[where[batch_rows]] = mean.numpy()
    return out


def item_logits(net: NextEventNet, vectors: np.ndarray) -> np.ndarray:
    """Next-product scores from user vectors: ``(n, n_item_tokens)``; token ``FIRST_ID + j`` is product ``j``."""
    if net.item_head is None:
        raise InvalidParameterError("This sequence model was trained without products, so it cannot score them.")
    with torch_threads(), torch.no_grad():
        return net.item_head(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))).numpy()


# --- weights as plain arrays (no pickle) ---------------------------------------------------------------------------

_CONFIG_FIELDS = ("n_event_tokens", "n_item_tokens", "event_dim", "item_dim", "numeric_dim", "hidden", "max_len")


def net_arrays(net: NextEventNet) -> dict[str, np.ndarray]:
    """The weights as float32 numpy arrays (``.`` in names written ``__``) and the network's shape as ``config``."""
    out = {name.replace(".", "__"): t.numpy() for name, t in network_tensors(net).items()}
    out["config"] = np.asarray([getattr(net.config, f) for f in _CONFIG_FIELDS], dtype=np.int64)
    return out


def net_from_arrays(arrays: dict[str, np.ndarray]) -> NextEventNet:
    """The network again from :func:`net_arrays`, refusing weights that do not fit its shape."""
    cfg = arrays.get("config")
    if cfg is None or len(cfg) != len(_CONFIG_FIELDS):
        raise ModelCompatibilityError("The sequence model's shape is missing from the file; it is refused.")
    try:
        config = EncoderConfig(**{f: int(v) for f, v in zip(_CONFIG_FIELDS, cfg)})
    except InvalidParameterError as exc:
        raise ModelCompatibilityError(f"The sequence model's shape is not valid ({exc}); it is refused.") from exc
    net = seeded(0, lambda: NextEventNet(config))
    weights = {k.replace("__", "."): torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()
               if k != "config"}
    expected = net.state_dict()
    if set(weights) != set(expected) or any(tuple(weights[k].shape) != tuple(expected[k].shape) for k in expected):
        raise ModelCompatibilityError("The sequence model's weights do not match its shape; the file is refused.")
    net.load_state_dict(weights, strict=True)
    net.eval()
    return net
