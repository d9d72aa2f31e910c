"""A synthetic citation-style graph: stochastic block model + class-correlated bag of words.

Like the Cora / Citeseer citation graphs used to benchmark graph networks, but generated:

* **nodes** belong to ``n_classes`` topics (sizes drawn from a Dirichlet(5) so classes are
  mildly unbalanced);
* **edges** follow a stochastic block model: two nodes of the same class are linked with
  probability p_in, of different classes with p_out, chosen so that the mean degree is
  ``mean_degree`` and the expected fraction of intra-class edges (homophily) is ``homophily``;
* **features** are binary bags of words over ``n_words`` words: each class has its own
  ``topic_words`` characteristic words; a node's document has 5 + Poisson(``doc_length``)
  word draws, each from its class's characteristic words with probability ``signal`` and
  from the whole vocabulary (Zipf-like background frequencies) otherwise. Rows are
  normalised to sum to 1 (the usual preprocessing of citation features);
* **split**: ``train_per_class`` labelled nodes per class (20, as in the Planetoid split),
  ``n_test`` test nodes drawn from the rest.

Words alone leave the classes ambiguous at the default ``signal``; the graph resolves them, so
a GCN clearly beats a model that sees each node alone. Everything is drawn from
:func:`photonics.rng.generator` streams of ``seed``.
"""

from __future__ import annotations

import numpy as np

from dfa.zoo.data.base import GraphData
from dfa.zoo.data.registry import register_dataset
from photonics.errors import ConfigError
from photonics.rng import check_seed, generator
from photonics.validation import check_int, check_real

__all__ = ["load_graph", "stochastic_block_edges"]


def stochastic_block_edges(labels: np.ndarray, p_in: float, p_out: float, rng: np.random.Generator) -> np.ndarray:
    """Undirected SBM edges (2, E) with i < j, no self-loops, no duplicates.

    For every class pair the number of edges is Binomial(pairs, p) and the endpoints are
    drawn uniformly (duplicate draws are dropped: a relative deficit of about p / 2).
    """
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    parts = []
    for a, ma in enumerate(members):
        for b in range(a, len(members)):
            mb = members[b]
            if a == b:
                pairs = ma.size * (ma.size - 1) // 2
                k = rng.binomial(pairs, p_in) if pairs else 0
                i = ma[rng.integers(0, ma.size, k)]
                j = ma[rng.integers(0, ma.size, k)]
            else:
                k = rng.binomial(ma.size * mb.size, p_out)
                i = ma[rng.integers(0, ma.size, k)]
                j = mb[rng.integers(0, mb.size, k)]
            keep = i != j
            parts.append(np.stack([np.minimum(i, j)[keep], np.maximum(i, j)[keep]]))
    e = np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), dtype=np.int64)
    e = np.unique(e, axis=1)
    return e.astype(np.int64)


@register_dataset(
    "graph",
    description="synthetic citation-style graph: stochastic block model + class-correlated bag of words",
    defaults={"model": "gcn", "epochs": 200, "batch_size": 0, "lr": 1e-2, "weight_decay": 5e-4, "model_options": {"hidden": [64]}},
)
def load_graph(
    seed: int = 0,
    n_nodes: int = 1500,
    n_classes: int = 7,
    mean_degree: float = 5.0,
    homophily: float = 0.8,
    n_words: int = 600,
    topic_words: int = 40,
    doc_length: float = 15.0,
    signal: float = 0.25,
    train_per_class: int = 20,
    n_test: int = 500,
) -> GraphData:
    """Generate the graph (see module docstring for every parameter)."""
    seed = check_seed(seed)
    n_nodes = check_int(n_nodes, "n_nodes", low=10, high=10_000_000)
    n_classes = check_int(n_classes, "n_classes", low=2, high=1000)
    mean_degree = check_real(mean_degree, "mean_degree", low=0.0, high=n_nodes - 1)
    homophily = check_real(homophily, "homophily", low=0.0, high=1.0)
    n_words = check_int(n_words, "n_words", low=2)
    topic_words = check_int(topic_words, "topic_words", low=1, high=n_words)
    doc_length = check_real(doc_length, "doc_length", low=0.0)
    signal = check_real(signal, "signal", low=0.0, high=1.0)
    train_per_class = check_int(train_per_class, "train_per_class", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    rng = generator(seed, "dfa", "data", "graph")

    props = rng.dirichlet(np.full(n_classes, 5.0))
    labels = rng.choice(n_classes, size=n_nodes, p=props).astype(np.int64)
    sizes = np.bincount(labels, minlength=n_classes).astype(np.float64)
    if sizes.min() < train_per_class + 1:
        raise ConfigError(
            f"the smallest class has {int(sizes.min())} nodes, fewer than train_per_class + 1 = {train_per_class + 1}; "
            "raise n_nodes or lower n_classes / train_per_class"
        )
    # expected edges: intra = p_in * sum n_c(n_c-1)/2, inter = p_out * sum_{a<b} n_a n_b
    intra_pairs = float((sizes * (sizes - 1) / 2).sum())
    inter_pairs = float((sizes.sum() ** 2 - (sizes**2).sum()) / 2)
    n_edges = mean_degree * n_nodes / 2
    p_in = min(1.0, homophily * n_edges / max(intra_pairs, 1.0))
    p_out = min(1.0, (1 - homophily) * n_edges / max(inter_pairs, 1.0))
    edges = stochastic_block_edges(labels, p_in, p_out, rng)

    # bag of words: class topics + Zipf background
    perm = rng.permutation(n_words)
    topics = np.stack([rng.choice(n_words, size=topic_words, replace=False) for _ in range(n_classes)])
    background = 1.0 / np.arange(1, n_words + 1) ** 0.8
    background = background[np.argsort(perm)]
    background /= background.sum()
    lengths = 5 + rng.poisson(doc_length, n_nodes)
    feats = np.zeros((n_nodes, n_words), dtype=np.float32)
    for v in range(n_nodes):
        m = lengths[v]
        from_topic = rng.random(m) < signal
        words = np.where(
            from_topic,
            topics[labels[v]][rng.integers(0, topic_words, m)],
            rng.choice(n_words, size=m, p=background),
        )
        feats[v, words] = 1.0
    feats /= np.maximum(feats.sum(axis=1, keepdims=True), 1.0)

    train = np.zeros(n_nodes, dtype=bool)
    for c in range(n_classes):
        idx = np.flatnonzero(labels == c)
        train[rng.choice(idx, size=train_per_class, replace=False)] = True
    rest = np.flatnonzero(~train)
    if n_test > rest.size:
        raise ConfigError(f"n_test={n_test} exceeds the {rest.size} unlabelled nodes; lower n_test or raise n_nodes")
    test = np.zeros(n_nodes, dtype=bool)
    test[rng.choice(rest, size=n_test, replace=False)] = True
    return GraphData(
        name="graph",
        features=feats,
        edges=edges,
        labels=labels,
        train_mask=train,
        test_mask=test,
        n_classes=n_classes,
        description=f"SBM graph: {n_nodes} nodes, {edges.shape[1]} edges (mean degree {2 * edges.shape[1] / n_nodes:.2f}), "
        f"{n_classes} classes, {n_words}-word bag of words (signal {signal:g}); "
        f"{int(train.sum())} train / {n_test} test nodes (seed {seed})",
    )
