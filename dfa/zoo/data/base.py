"""The three kinds of data sets the trainer knows: images/vectors, text, one graph.

Every data set is a frozen object holding numpy arrays (the trainer moves them to torch) and
names its ``task``, which selects the loss and the metrics in :mod:`dfa.trainer.tasks`:

* :class:`ClassificationData` (``task = "classification"``): inputs ``x`` of shape
  (n, *input_shape) float32, integer labels in [0, n_classes);
* :class:`TextData` (``task = "language-model"``): token ids of a character or word corpus, split into
  a training and a test stretch, with the vocabulary;
* :class:`GraphData` (``task = "node-classification"``): one graph (undirected edges), node
  features, node labels and train/test node masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from photonics.errors import ShapeError, ValidationError

__all__ = ["ClassificationData", "TextData", "GraphData", "stratified_split"]


@dataclass(frozen=True)
class ClassificationData:
    """Labelled inputs split into train and test.

    Attributes
    ----------
    name : str
        Data set name (registry key).
    x_train, x_test : ndarray float32, (n, *input_shape)
        Inputs, scaled to O(1).
    y_train, y_test : ndarray int64, (n,)
        Labels in [0, n_classes).
    n_classes : int
        Number of classes.
    description : str
        One line: origin, sizes, preprocessing.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    description: str = ""
    task: str = field(default="classification", init=False)

    def __post_init__(self):
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise ShapeError(f"{self.name}: x_{part} {x.shape} and y_{part} {y.shape} must be (n, ...) and (n,)")
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise ValidationError(f"{self.name}: y_{part} labels must be in [0, {self.n_classes}) (got [{y.min()}, {y.max()}])")
            if not np.all(np.isfinite(x)):
                raise ValidationError(f"{self.name}: x_{part} contains NaN or infinite values")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ShapeError(f"{self.name}: train inputs {self.x_train.shape[1:]} and test inputs {self.x_test.shape[1:]} differ in shape")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input (without the batch axis)."""
        return tuple(self.x_train.shape[1:])

    def info(self) -> dict:
        """JSON-able summary."""
        return {
            "name": self.name,
            "task": self.task,
            "n_train": int(self.x_train.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "input_shape": list(self.input_shape),
            "n_classes": int(self.n_classes),
            "description": self.description,
        }


@dataclass(frozen=True)
class TextData:
    """A character- or word-level corpus for language modelling.

    Attributes
    ----------
    train_ids, test_ids : ndarray int64
        Token ids of the training stretch and of the (later, disjoint) test stretch.
    vocab : tuple of str
        Token of each id; ``vocab[unk_id]`` stands for characters too rare to keep.
    unk_id : int
        Id of the rare-character (or rare-word) token.
    separator : str
        What :meth:`decode` puts between tokens: "" for characters, " " for words.
    """

    name: str
    train_ids: np.ndarray
    test_ids: np.ndarray
    vocab: tuple
    unk_id: int
    description: str = ""
    separator: str = ""
    task: str = field(default="language-model", init=False)

    def __post_init__(self):
        for part in ("train_ids", "test_ids"):
            a = getattr(self, part)
            if a.ndim != 1 or a.size < 2:
                raise ShapeError(f"{self.name}: {part} must be a 1-D array of at least 2 tokens (got shape {a.shape})")
            if a.min() < 0 or a.max() >= len(self.vocab):
                raise ValidationError(f"{self.name}: {part} ids must be in [0, {len(self.vocab)})")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, ids) -> str:
        """Token ids -> text (tokens joined by :attr:`separator`)."""
        return self.separator.join(self.vocab[int(i)] for i in np.asarray(ids).ravel())

    def unigram_loss(self) -> float:
        """Cross-entropy of the test stretch under the training stretch's character frequencies [nats].

        The baseline a language model must beat: H = -mean_t log p_train(c_t), with add-one
        smoothing so that every token has a finite cost.
        """
        counts = np.bincount(self.train_ids, minlength=self.vocab_size).astype(np.float64) + 1.0
        logp = np.log(counts / counts.sum())
        return float(-logp[self.test_ids].mean())

    def info(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "n_train_tokens": int(self.train_ids.size),
            "n_test_tokens": int(self.test_ids.size),
            "vocab_size": self.vocab_size,
            "unigram_loss_nats": self.unigram_loss(),
            "description": self.description,
        }


@dataclass(frozen=True)
class GraphData:
    """One undirected graph with node features and labels (transductive node classification).

    Attributes
    ----------
    features : ndarray float32 (n_nodes, n_features)
    edges : ndarray int64 (2, n_edges)
        Each undirected edge once, as (i, j) with i < j; no self-loops.
    labels : ndarray int64 (n_nodes,)
    train_mask, test_mask : ndarray bool (n_nodes,)
        Disjoint node sets: losses use the train nodes, the score the test nodes.
    """

    name: str
    features: np.ndarray
    edges: np.ndarray
    labels: np.ndarray
    train_mask: np.ndarray
    test_mask: np.ndarray
    n_classes: int
    description: str = ""
    task: str = field(default="node-classification", init=False)

    def __post_init__(self):
        n = self.features.shape[0]
        if self.features.ndim != 2:
            raise ShapeError(f"{self.name}: features must be (n_nodes, n_features) (got {self.features.shape})")
        if self.edges.ndim != 2 or self.edges.shape[0] != 2:
            raise ShapeError(f"{self.name}: edges must be (2, n_edges) (got {self.edges.shape})")
        if self.edges.size and (self.edges.min() < 0 or self.edges.max() >= n):
            raise ValidationError(f"{self.name}: edge endpoints must be node ids in [0, {n})")
        for k in ("labels", "train_mask", "test_mask"):
            if getattr(self, k).shape != (n,):
                raise ShapeError(f"{self.name}: {k} must have shape ({n},) (got {getattr(self, k).shape})")
        if np.any(self.train_mask & self.test_mask):
            raise ValidationError(f"{self.name}: train and test nodes must be disjoint")

    @property
    def n_nodes(self) -> int:
        return int(self.features.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (int(self.features.shape[1]),)

    def normalized_adjacency(self) -> tuple[np.ndarray, np.ndarray]:
        """Entries of A_hat = D^-1/2 (A + I) D^-1/2 (Kipf & Welling), as (indices (2, nnz), values).

        D is the degree matrix of A + I; both edge directions and the self-loops are listed.
        """
        n = self.n_nodes
        i, j = self.edges
        rows = np.concatenate([i, j, np.arange(n)])
        cols = np.concatenate([j, i, np.arange(n)])
        deg = np.bincount(rows, minlength=n).astype(np.float64)
        vals = 1.0 / np.sqrt(deg[rows] * deg[cols])
        order = np.lexsort((cols, rows))
        return np.stack([rows[order], cols[order]]).astype(np.int64), vals[order].astype(np.float32)

    def homophily(self) -> float:
        """Fraction of edges joining two nodes of the same class."""
        i, j = self.edges
        return float(np.mean(self.labels[i] == self.labels[j])) if i.size else float("nan")

    def info(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "n_nodes": self.n_nodes,
            "n_edges": int(self.edges.shape[1]),
            "n_features": int(self.features.shape[1]),
            "n_classes": int(self.n_classes),
            "n_train_nodes": int(self.train_mask.sum()),
            "n_test_nodes": int(self.test_mask.sum()),
            "homophily": self.homophily(),
            "description": self.description,
        }


def stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with ``round(test_fraction * n_c)`` test samples from each class c."""
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        k = int(round(test_fraction * idx.size))
        test.append(idx[:k])
        train.append(idx[k:])
    tr = np.sort(np.concatenate(train))
    te = np.sort(np.concatenate(test))
    return tr, te
