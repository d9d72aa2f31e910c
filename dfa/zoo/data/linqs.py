"""Citation graphs in the LINQS text formats: Cora, CiteSeer (``.content`` / ``.cites``) and PubMed-Diabetes.

Read from the files a user already has; nothing is downloaded.

Cora and CiteSeer (folder ``cora/`` or ``citeseer/``)::

    <name>.content   one paper per line, tab-separated: <paper id> <word_1> ... <word_W> <class label>
                     (word_k in {0, 1}: absence / presence of dictionary word k)
    <name>.cites     one link per line: <cited paper id> <citing paper id>

Paper ids are strings (CiteSeer's are not all numbers); a link naming a paper absent from
``.content`` is dropped (CiteSeer has a few), as are self-links and duplicates; links are
taken as undirected. Class labels are strings, numbered in sorted order.

PubMed-Diabetes (folder ``Pubmed-Diabetes/data/`` or the folder holding the two files)::

    Pubmed-Diabetes.NODE.paper.tab
        line 1: NODE<TAB>paper
        line 2: declarations: cat=1,2,3:label<TAB>numeric:<word>:0.0<TAB>... (the feature names)
        then one paper per line: <id><TAB>label=<1|2|3><TAB><word>=<tf-idf><TAB>...<TAB>summary=...
        (only the non-zero words are listed)
    Pubmed-Diabetes.DIRECTED.cites.tab
        line 1: DIRECTED<TAB>cites;  line 2: NO_FEATURES
        then: <link id><TAB>paper:<cited id><TAB>|<TAB>paper:<citing id>

Features are row-normalised to sum 1 (the usual preprocessing of these graphs). The split
follows the Planetoid recipe (Yang et al. 2016) in distribution, not in its exact node lists
(which ship only as pickles, not read here): ``train_per_class`` labelled nodes per class and
``n_test`` test nodes, drawn from the split seed among the rest. Results on it are therefore
comparable in kind, not node for node, with papers that use the public Planetoid split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dfa.zoo.data.base import GraphData
from dfa.zoo.data.registry import register_dataset
from photonics.errors import ConfigError, FileFormatError
from photonics.rng import check_seed, generator
from photonics.validation import check_int

__all__ = ["read_linqs", "read_pubmed_diabetes", "load_cora", "load_citeseer", "load_pubmed", "PUBMED_FILES"]

#: file names of PubMed-Diabetes
PUBMED_FILES = ("Pubmed-Diabetes.NODE.paper.tab", "Pubmed-Diabetes.DIRECTED.cites.tab")


def _undirected(pairs: list[tuple[int, int]], n: int) -> np.ndarray:
    if not pairs:
        return np.zeros((2, 0), dtype=np.int64)
    e = np.asarray(pairs, dtype=np.int64).T
    e = e[:, e[0] != e[1]]
    e = np.stack([np.minimum(e[0], e[1]), np.maximum(e[0], e[1])])
    return np.unique(e, axis=1).astype(np.int64)


def read_linqs(content: str | os.PathLike, cites: str | os.PathLike):
    """Read a LINQS ``.content`` / ``.cites`` pair.

    Returns
    -------
    features : ndarray float32 (n, W)
        The 0/1 word vectors (not normalised).
    labels : ndarray int64 (n,)
        Class numbers (index into ``classes``).
    edges : ndarray int64 (2, E)
        Undirected links (i < j) between papers of the content file.
    classes : tuple of str
        The class labels, sorted.
    dropped : int
        Links naming a paper absent from the content file.
    """
    content, cites = Path(content), Path(cites)
    for p in (content, cites):
        if not p.is_file():
            raise FileNotFoundError(f"LINQS file {str(p)!r} does not exist")
    ids, rows, labs = {}, [], []
    width = None
    with open(content, encoding="utf-8") as fh:
        for k, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 3:
                raise FileFormatError(f"{content}:{k}: expected '<paper id> <word bits...> <label>' (got {len(parts)} fields)")
            w = len(parts) - 2
            if width is None:
                width = w
            elif w != width:
                raise FileFormatError(f"{content}:{k}: {w} word columns, but the first line has {width}")
            try:
                bits = np.asarray(parts[1:-1], dtype=np.float32)
            except ValueError:
                raise FileFormatError(f"{content}:{k}: word columns must be numbers (0/1)") from None
            if parts[0] in ids:
                raise FileFormatError(f"{content}:{k}: paper id {parts[0]!r} appears twice")
            ids[parts[0]] = len(rows)
            rows.append(bits)
            labs.append(parts[-1])
    if not rows:
        raise FileFormatError(f"{content}: no paper found")
    classes = tuple(sorted(set(labs)))
    index = {c: i for i, c in enumerate(classes)}
    pairs, dropped = [], 0
    with open(cites, encoding="utf-8") as fh:
        for k, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise FileFormatError(f"{cites}:{k}: expected '<cited paper id> <citing paper id>' (got {len(parts)} fields)")
            a, b = parts
            if a not in ids or b not in ids:
                dropped += 1
                continue
            pairs.append((ids[a], ids[b]))
    feats = np.stack(rows).astype(np.float32)
    labels = np.asarray([index[c] for c in labs], dtype=np.int64)
    return feats, labels, _undirected(pairs, len(rows)), classes, dropped


def read_pubmed_diabetes(node_file: str | os.PathLike, cites_file: str | os.PathLike):
    """Read PubMed-Diabetes' two ``.tab`` files; returns (features tf-idf, labels 0..2, edges, classes, dropped)."""
    node_file, cites_file = Path(node_file), Path(cites_file)
    for p in (node_file, cites_file):
        if not p.is_file():
            raise FileNotFoundError(f"PubMed-Diabetes file {str(p)!r} does not exist")
    with open(node_file, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    if len(lines) < 3 or not lines[0].startswith("NODE"):
        raise FileFormatError(f"{node_file}: expected 'NODE\\tpaper', a declaration line and one line per paper")
    words = []
    for decl in lines[1].split("\t"):
        f = decl.split(":")
        if len(f) == 3 and f[0] == "numeric":
            words.append(f[1])
    if not words:
        raise FileFormatError(f"{node_file}: line 2 declares no 'numeric:<word>:0.0' feature")
    col = {w: i for i, w in enumerate(words)}
    ids, labels, feats = {}, [], []
    for k, line in enumerate(lines[2:], 3):
        parts = line.split("\t")
        if not parts or not parts[0].strip():
            continue
        row = np.zeros(len(words), dtype=np.float32)
        label = None
        for item in parts[1:]:
            if "=" not in item:
                continue
            key, val = item.split("=", 1)
            if key == "label":
                label = val
            elif key == "summary":
                continue
            elif key in col:
                try:
                    row[col[key]] = float(val)
                except ValueError:
                    raise FileFormatError(f"{node_file}:{k}: feature {key!r} has value {val!r}, not a number") from None
            else:
                raise FileFormatError(f"{node_file}:{k}: feature {key!r} is not declared on line 2")
        if label is None:
            raise FileFormatError(f"{node_file}:{k}: paper {parts[0]} has no 'label=' entry")
        if parts[0] in ids:
            raise FileFormatError(f"{node_file}:{k}: paper id {parts[0]!r} appears twice")
        ids[parts[0]] = len(feats)
        feats.append(row)
        labels.append(label)
    classes = tuple(sorted(set(labels)))
    index = {c: i for i, c in enumerate(classes)}
    pairs, dropped = [], 0
    with open(cites_file, encoding="utf-8") as fh:
        for k, line in enumerate(fh, 1):
            parts = line.split("\t")
            if k <= 2 or not line.strip():
                continue
            if len(parts) != 4 or parts[2].strip() != "|":
                raise FileFormatError(f"{cites_file}:{k}: expected '<id>\\tpaper:<cited>\\t|\\tpaper:<citing>'")
            a = parts[1].strip().split(":", 1)[-1]
            b = parts[3].strip().split(":", 1)[-1]
            if a not in ids or b not in ids:
                dropped += 1
                continue
            pairs.append((ids[a], ids[b]))
    return (np.stack(feats), np.asarray([index[c] for c in labels], dtype=np.int64), _undirected(pairs, len(feats)),
            classes, dropped)


def _split(labels: np.ndarray, n_classes: int, train_per_class: int, n_test: int, seed: int, name: str):
    rng = generator(seed, "dfa", "data", name, "split")
    train = np.zeros(labels.size, dtype=bool)
    for c in range(n_classes):
        idx = np.flatnonzero(labels == c)
        if idx.size < train_per_class + 1:
            raise ConfigError(f"{name}: class {c} has {idx.size} nodes, fewer than train_per_class + 1 = {train_per_class + 1}")
        train[rng.choice(idx, size=train_per_class, replace=False)] = True
    rest = np.flatnonzero(~train)
    if n_test > rest.size:
        raise ConfigError(f"{name}: n_test={n_test} exceeds the {rest.size} unlabelled nodes")
    test = np.zeros(labels.size, dtype=bool)
    test[rng.choice(rest, size=n_test, replace=False)] = True
    return train, test


def _graph(name, feats, labels, edges, classes, dropped, seed, train_per_class, n_test, source) -> GraphData:
    seed = check_seed(seed)
    train_per_class = check_int(train_per_class, "train_per_class", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    train, test = _split(labels, len(classes), train_per_class, n_test, seed, name)
    feats = feats / np.maximum(feats.sum(axis=1, keepdims=True), np.float32(1e-12))
    return GraphData(
        name=name, features=feats.astype(np.float32), edges=edges, labels=labels, train_mask=train, test_mask=test,
        n_classes=len(classes),
        description=f"{name} from {source}: {labels.size} nodes, {edges.shape[1]} undirected links ({dropped} links to unknown "
        f"papers dropped), {feats.shape[1]} features (row-normalised), {len(classes)} classes; Planetoid-style random split: "
        f"{int(train.sum())} train / {n_test} test nodes (split seed {seed})",
    )


def _find_linqs(path, name: str) -> tuple[Path, Path]:
    layout = f"{name}/{name}.content and {name}/{name}.cites (LINQS format: '<id> <0/1 word bits> <label>' and '<cited> <citing>')"
    if path is None:
        raise FileNotFoundError(f"dataset {name!r} reads local LINQS files: give their folder (option path=..., or --data-option "
                                f"path=DIR) holding {layout}; nothing is downloaded")
    folder = Path(path)
    for f in (folder, folder / name):
        if (f / f"{name}.content").is_file() and (f / f"{name}.cites").is_file():
            return f / f"{name}.content", f / f"{name}.cites"
    raise FileNotFoundError(f"{name}: {name}.content / {name}.cites not found in {str(folder)!r}; expected {layout}")


_GRAPH_DEFAULTS = {"model": "gcn", "epochs": 200, "batch_size": 0, "lr": 1e-2, "weight_decay": 5e-4,
                   "model_options": {"hidden": [16], "dropout": 0.5}}


@register_dataset("cora", description="Cora citation graph from local LINQS files (option path=FOLDER)", defaults=_GRAPH_DEFAULTS)
def load_cora(path: str | None = None, seed: int = 0, train_per_class: int = 20, n_test: int = 1000) -> GraphData:
    """Cora (2,708 papers, 7 classes, 1,433 words) from ``cora.content`` / ``cora.cites``; Planetoid-style split."""
    content, cites = _find_linqs(path, "cora")
    return _graph("cora", *read_linqs(content, cites), seed, train_per_class, n_test, content.parent)


@register_dataset("citeseer", description="CiteSeer citation graph from local LINQS files (option path=FOLDER)",
                  defaults=_GRAPH_DEFAULTS)
def load_citeseer(path: str | None = None, seed: int = 0, train_per_class: int = 20, n_test: int = 1000) -> GraphData:
    """CiteSeer (3,312 papers, 6 classes, 3,703 words) from ``citeseer.content`` / ``citeseer.cites``."""
    content, cites = _find_linqs(path, "citeseer")
    return _graph("citeseer", *read_linqs(content, cites), seed, train_per_class, n_test, content.parent)


@register_dataset("pubmed", description="PubMed-Diabetes citation graph from its local .tab files (option path=FOLDER)",
                  defaults=_GRAPH_DEFAULTS)
def load_pubmed(path: str | None = None, seed: int = 0, train_per_class: int = 20, n_test: int = 1000) -> GraphData:
    """PubMed-Diabetes (19,717 papers, 3 classes, 500 tf-idf words) from its NODE / DIRECTED ``.tab`` files."""
    layout = f"{PUBMED_FILES[0]} and {PUBMED_FILES[1]} (PubMed-Diabetes .tab format), e.g. in Pubmed-Diabetes/data/"
    if path is None:
        raise FileNotFoundError(f"dataset 'pubmed' reads local files: give their folder (option path=...) holding {layout}; "
                                "nothing is downloaded")
    folder = Path(path)
    for f in (folder, folder / "data", folder / "Pubmed-Diabetes" / "data"):
        if all((f / n).is_file() for n in PUBMED_FILES):
            return _graph("pubmed", *read_pubmed_diabetes(f / PUBMED_FILES[0], f / PUBMED_FILES[1]), seed, train_per_class,
                          n_test, f)
    raise FileNotFoundError(f"pubmed: {PUBMED_FILES[0]} / {PUBMED_FILES[1]} not found in {str(folder)!r}; expected {layout}")
