"""A sequential recommender: the next product from the order in which a user came to products (GRU4Rec-style).

The other recommenders see a user as a bag of products; this one reads them in
order, so "after A comes B" is learned even when B is no more popular than
anything else. It is the next-event network of
:mod:`analytics.sequences.nextitem` trained on each user's products in the order
they first came to them (the order the last-N evaluation hides them in), and
scores the whole catalogue from the state after the user's last product. It is
compared with the others under the same protocol in :func:`analytics.recommend.evaluate`.

Needs PyTorch (``requirements-deep.txt``); without it ``fit`` raises
:class:`analytics.sequences.DeepLearningUnavailableError`, which the evaluation
reports as "not evaluated" with the install command.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import scipy.sparse as sp

from analytics.checks import check_float, check_int
from analytics.recommend.base import Progress, Recommender
from analytics.recommend.interactions import Interactions


def interaction_sequences(interactions: Interactions, max_len: int = 50):
    """Each user's products in the order they first came to them (ties: the more frequent product first).

    Returns
    -------
    analytics.sequences.tokens.Sequences
        One event per (user, product), the most recent ``max_len`` per user; product
        ``j`` is item token ``FIRST_ID + j``. Only the order is given to the network:
        the continuous inputs are constant, so new data known only as a users x
        products matrix (:func:`matrix_sequences`) is read the same way.
    """
    pairs = interactions.pairs  # one row per (user, product) with its first time
    u = pairs["user"].to_numpy(np.int64)
    i = pairs["item"].to_numpy(np.int64)
    first = pairs["first_ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    order = np.lexsort((i, first, u))
    vocab = _vocabulary(interactions.item_ids, interactions.item_col, max_len)
    return _sequences(u[order], i[order], interactions.n_users, vocab)


def matrix_sequences(rows: sp.csr_matrix, vocab):
    """Sequences for users known only by a users x products matrix (no times): weakest product first.

    The state after the last product weighs most, so the products a user engaged
    with most are read last. Used for new data (``recommend(user_items=...)``).
    """
    rows = sp.csr_matrix(rows)
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    order = np.lexsort((-rows.indices, rows.data, r))
    return _sequences(r[order], rows.indices[order].astype(np.int64), rows.shape[0], vocab)


def _vocabulary(item_ids: np.ndarray, item_col: str, max_len: int):
    """One event type and the catalogue as product tokens (product j is token FIRST_ID + j)."""
    from analytics.sequences.vocabulary import Vocabulary

    return Vocabulary(events=("interaction",), items=tuple(str(x) for x in item_ids), item_column=str(item_col),
                      max_len=int(max_len))


def _sequences(user: np.ndarray, item: np.ndarray, n_users: int, vocab):
    """Sequences of (user, product) rows sorted by user then time, keeping each user's last ``vocab.max_len``."""
    from analytics.sequences.tokens import Sequences
    from analytics.sequences.vocabulary import FIRST_ID

    max_len = vocab.max_len
    counts = np.bincount(user, minlength=n_users)
    ends = np.cumsum(counts)
    from_end = ends[user] - np.arange(len(user))  # 1 for a user's last product
    keep = from_end <= max_len
    user, item = user[keep], item[keep]
    lengths = np.bincount(user, minlength=n_users).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = len(user)
    zeros = np.zeros(n, dtype=np.float32)
    return Sequences(user_ids=np.arange(n_users).astype(str).astype(object), lengths=lengths, offsets=offsets,
                     event_tokens=np.full(n, FIRST_ID, dtype=np.int32), item_tokens=(item + FIRST_ID).astype(np.int32),
                     gap_s=zeros, amount=np.full(n, np.nan, dtype=np.float32), hour=zeros,
                     weekday=np.zeros(n, dtype=np.int8), age_s=zeros, vocab=vocab, cutoff=datetime(2000, 1, 1),
                     truncated=counts > max_len)


class SequenceGRU(Recommender):
    """Next product from the order of a user's products: a GRU trained to predict each next product.

    Parameters
    ----------
    dim : int
        Size of the product embeddings and of the GRU state (8 to 256).
    epochs : int
        Passes over the users (1 to 100).
    max_len : int
        Most recent products read per user (2 to 500).
    max_users : int or None
        Learn from a seeded sample of at most this many users (20,000 by default; None: all).
    learning_rate : float
    batch_size : int
        Users per training step (smaller on small data, see the encoder's ``batch_size_for``).
    random_state : int
    """

    key = "gru4rec"
    label = "Sequence (GRU4Rec-style)"
    # Measured on a generated shop log (10k users, 2k products, last-5 hold-out, NDCG@20): batches of 64 users
    # 0.217 against 0.200 with 256 (same epochs), a learning rate of 2e-3 0.202; popularity 0.195, item-kNN 0.279.
    # Learning from at most 20,000 users keeps a fit on a 50k-user log within minutes on 2 cores.
    defaults = {"dim": 64, "epochs": 8, "max_len": 50, "max_users": 20_000, "learning_rate": 5e-3,
                "batch_size": 64, "random_state": 0}

    def _check_params(self) -> None:
        check_int("dim", self.params["dim"], 8, 256)
        check_int("epochs", self.params["epochs"], 1, 100)
        check_int("max_len", self.params["max_len"], 2, 500)
        if self.params["max_users"] is not None:
            check_int("max_users", self.params["max_users"], 10, 100_000_000)
        check_float("learning_rate", self.params["learning_rate"], 1e-5, 1.0)
        check_int("batch_size", self.params["batch_size"], 8, 4096)
        check_int("random_state", self.params["random_state"], 0, 2**31 - 1)

    def _fit(self, X: sp.csr_matrix, interactions: Interactions, progress: Progress | None) -> None:
        from analytics.sequences import require_torch

        require_torch()  # before anything: the message says how to install it
        from analytics.sequences.nextitem import fit_next_event

        p = self.params
        seqs = interaction_sequences(interactions, int(p["max_len"]))
        fit = fit_next_event(seqs, hidden=int(p["dim"]), item_dim=int(p["dim"]), max_epochs=int(p["epochs"]),
                             patience=2, learning_rate=float(p["learning_rate"]), batch_size=int(p["batch_size"]),
                             max_users=p["max_users"],
                             seed=int(p["random_state"]), progress=progress, label=self.label)
        self.net = fit.net
        self.note = " ".join(fit.notices) or None
        self.seq_offsets, self.seq_items = seqs.offsets, seqs.item_tokens

    def _score(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        from analytics.sequences.nextitem import item_logits, user_vectors
        from analytics.sequences.vocabulary import FIRST_ID

        vocab = getattr(self, "_score_vocab", None)
        if vocab is None:  # built once: names are not needed to score (the index is), only the sizes
            vocab = self._score_vocab = _vocabulary(np.arange(self.n_items), "item", int(self.params["max_len"]))
        if fresh:
            seqs = matrix_sequences(seen, vocab)
        else:
            lengths = np.diff(self.seq_offsets)[rows]
            user = np.repeat(np.arange(len(rows)), lengths)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            flat = np.repeat(self.seq_offsets[rows] - starts, lengths) + np.arange(int(lengths.sum()))
            seqs = _sequences(user, self.seq_items[flat].astype(np.int64) - FIRST_ID, len(rows), vocab)
        # A user without products gets the encoder's starting ("empty") vector: the product head's bias ranks.
        return item_logits(self.net, user_vectors(self.net, seqs))[:, FIRST_ID:]

    def _state(self) -> dict[str, np.ndarray]:
        from analytics.sequences.nextitem import net_arrays

        out = {f"net_{k}": v for k, v in net_arrays(self.net).items()}
        return out | {"seq_offsets": self.seq_offsets, "seq_items": self.seq_items}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        from analytics.sequences.nextitem import net_from_arrays
        from analytics.sequences.vocabulary import FIRST_ID

        self.net = net_from_arrays({k[4:]: v for k, v in state.items() if k.startswith("net_")})
        if self.net.config.n_item_tokens != self.n_items + FIRST_ID:
            raise ValueError(f"the network knows {self.net.config.n_item_tokens - FIRST_ID} products, the file "
                             f"{self.n_items}")
        self.seq_offsets = state["seq_offsets"].astype(np.int64)
        self.seq_items = state["seq_items"].astype(np.int32)
        if self.seq_offsets[-1] != len(self.seq_items):
            raise ValueError("the stored sequences do not match their offsets")
