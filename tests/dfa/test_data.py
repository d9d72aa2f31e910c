"""Data sets: offline loaders, the procedural generators, the IDX reader and its failure modes."""

import gzip
import math

import numpy as np
import pytest

from dfa.zoo.data import dataset_names, load_dataset, make_mnist1d, read_idx, write_idx
from dfa.zoo.data.chars import UNK, python_help_text
from dfa.zoo.data.idx import load_mnist
from photonics.errors import ConfigError, FileFormatError, ShapeError, ValidationError


def test_registry_lists_all_and_rejects_unknown():
    assert set(dataset_names()) >= {"digits", "mnist1d", "mnist", "fashion-mnist", "chars", "graph"}
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'.*available: chars"):
        load_dataset("cifar")
    with pytest.raises(ConfigError, match="unknown option.*'n_trian'.*allowed"):
        load_dataset("mnist1d", n_trian=10)


def test_digits_stratified_split():
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and d.x_train.dtype == np.float32
    assert d.x_train.shape[0] + d.x_test.shape[0] == 1797
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    # each class contributes round(0.2 n_c) test samples
    counts = np.bincount(np.concatenate([d.y_train, d.y_test]), minlength=10)
    assert np.array_equal(np.bincount(d.y_test, minlength=10), np.round(0.2 * counts).astype(int))
    again = load_dataset("digits")
    assert np.array_equal(again.y_test, d.y_test) and np.array_equal(again.x_test, d.x_test)
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(other.x_test, d.x_test)


def test_mnist1d_deterministic_balanced_and_learnable():
    from sklearn.linear_model import LogisticRegression

    x, y = make_mnist1d(500, seed=3)
    x2, y2 = make_mnist1d(500, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(make_mnist1d(500, seed=4)[0], x)
    assert x.shape == (500, 40) and x.dtype == np.float32
    assert np.array_equal(np.bincount(y), np.full(10, 50))
    d = load_dataset("mnist1d", n_train=1000, n_test=1000)
    assert not np.array_equal(d.x_train[:10], d.x_test[:10])  # independent streams
    acc = LogisticRegression(max_iter=2000).fit(d.x_train, d.y_train).score(d.x_test, d.y_test)
    chance_sd = math.sqrt(0.1 * 0.9 / 1000)
    assert acc > 0.1 + 5 * chance_sd  # the templates carry the class
    # the noise makes it non-trivial: a clean copy is far easier than the noisy one
    xc, yc = make_mnist1d(1000, seed=3, noise=0, corr_noise=0, shear=0, stream="train")
    xt, yt = make_mnist1d(1000, seed=3, noise=0, corr_noise=0, shear=0, stream="test")
    acc_clean = LogisticRegression(max_iter=2000).fit(xc, yc).score(xt, yt)
    assert acc_clean > acc + 5 * math.sqrt(2 * 0.25 / 1000)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, rng, dtype, gz):
    a = (rng.random((3, 4, 5)) * 100).astype(dtype)
    p = write_idx(tmp_path / ("a.idx" + (".gz" if gz else "")), a)
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and np.array_equal(a, b)
    if gz:
        assert p.read_bytes()[:2] == b"\x1f\x8b"


def test_idx_corrupt_files(tmp_path):
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "g.idx", good).read_bytes()
    cases = {
        "magic": (b"\x01" + raw[1:], "not an IDX file"),
        "type": (raw[:2] + b"\x07" + raw[3:], "unknown IDX type code 0x07"),
        "truncated": (raw[:-5], "truncated"),
        "trailing": (raw + b"\x00\x00", "trailing bytes"),
        "header": (raw[:9], "truncated header"),
        "short": (raw[:3], "too short"),
        "gzip": (gzip.compress(raw)[:-8], "broken gzip"),
    }
    for name, (blob, msg) in cases.items():
        p = tmp_path / f"{name}.idx"
        p.write_bytes(blob)
        with pytest.raises(FileFormatError, match=msg):
            read_idx(p)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.idx")
    with pytest.raises(ValidationError, match="cannot be written as IDX"):
        write_idx(tmp_path / "c.idx", np.zeros(3, dtype=np.complex64))
    with pytest.raises(ShapeError):
        write_idx(tmp_path / "s.idx", np.float32(1.0))


def _write_mnist(folder, rng, n_train=20, n_test=10, gz=False):
    sfx = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_train, 28, 28)).astype(np.uint8))
    write_idx(folder / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_train).astype(np.uint8))
    write_idx(folder / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8))
    write_idx(folder / f"t10k-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_test).astype(np.uint8))


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loader_on_small_files(tmp_path, rng, gz):
    _write_mnist(tmp_path, rng, gz=gz)
    d = load_dataset("mnist", path=str(tmp_path))
    assert d.x_train.shape == (20, 1, 28, 28) and d.x_test.shape == (10, 1, 28, 28)
    raw = read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    assert np.allclose(d.x_train[:, 0] * 255.0, raw, atol=1e-3)
    f = load_dataset("fashion-mnist", path=str(tmp_path), n_train=5)
    assert f.name == "fashion-mnist" and f.x_train.shape[0] == 5


def test_mnist_loader_mismatched_files(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_mnist()
    _write_mnist(tmp_path, rng)
    write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 19).astype(np.uint8))
    with pytest.raises(FileFormatError, match="20 images but 19 labels"):
        load_mnist(str(tmp_path))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(20, 12, dtype=np.uint8))
    with pytest.raises(FileFormatError, match="label 12 out of range"):
        load_mnist(str(tmp_path))
    write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 20).astype(np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 14, 14)).astype(np.uint8))
    with pytest.raises(FileFormatError, match="train images are"):
        load_mnist(str(tmp_path))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.random((10, 28, 28)).astype(np.float32))
    with pytest.raises(FileFormatError, match="3-D uint8"):
        load_mnist(str(tmp_path))
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(str(tmp_path))


def test_chars_corpus_from_python_help():
    text = python_help_text()
    assert len(text) > 300_000  # ~0.47 MB of English help text ships with Python
    d = load_dataset("chars")
    assert d.vocab[d.unk_id] == UNK and len(set(d.vocab)) == len(d.vocab)
    n = d.train_ids.size + d.test_ids.size
    assert n == len(text) and abs(d.test_ids.size - 0.1 * n) <= 1
    # frequent characters decode to themselves, in order
    head = text[:200]
    assert d.decode(d.train_ids[:200]) == "".join(c if c in d.vocab else UNK for c in head)
    # unigram baseline, computed independently with add-one smoothing
    from collections import Counter

    train_text = d.decode(d.train_ids)
    cnt = Counter(train_text)
    total = len(train_text) + len(d.vocab)
    test_text = d.decode(d.test_ids)
    ref = -np.mean([math.log((cnt.get(c, 0) + 1) / total) for c in test_text])
    assert d.unigram_loss() == pytest.approx(ref, rel=1e-9)
    small = load_dataset("chars", max_chars=5000, min_count=1)
    assert small.train_ids.size + small.test_ids.size == 5000 and small.vocab[-1] == UNK


def test_graph_block_model_statistics():
    h, deg = 0.8, 6.0
    g = load_dataset("graph", n_nodes=3000, homophily=h, mean_degree=deg, seed=2)
    e = g.edges
    assert e.shape[0] == 2 and np.all(e[0] < e[1])
    assert np.unique(e, axis=1).shape[1] == e.shape[1]
    n_edges = e.shape[1]
    # homophily: fraction of intra-class edges, binomial spread
    assert abs(g.homophily() - h) < 5 * math.sqrt(h * (1 - h) / n_edges)
    # mean degree: Poisson-like count of edges (duplicate draws remove ~p/2, negligible here)
    expected = deg * g.n_nodes / 2
    assert abs(n_edges - expected) < 5 * math.sqrt(expected)
    assert g.train_mask.sum() == 20 * g.n_classes and not np.any(g.train_mask & g.test_mask)
    assert np.array_equal(np.bincount(g.labels[g.train_mask], minlength=g.n_classes), np.full(g.n_classes, 20))
    # features carry the class: nearest centroid (fit on train+unlabelled) beats chance
    cent = np.stack([g.features[g.labels == c].mean(0) for c in range(g.n_classes)])
    pred = np.argmax(g.features[g.test_mask] @ cent.T / np.linalg.norm(cent, axis=1), axis=1)
    acc = np.mean(pred == g.labels[g.test_mask])
    p0 = np.max(np.bincount(g.labels)) / g.n_nodes
    assert acc > p0 + 5 * math.sqrt(p0 * (1 - p0) / g.test_mask.sum())


def test_graph_normalized_adjacency_identity():
    g = load_dataset("graph", n_nodes=400, n_test=100, seed=1)
    idx, val = g.normalized_adjacency()
    n = g.n_nodes
    a = np.zeros((n, n))
    a[idx[0], idx[1]] = val
    assert np.allclose(a, a.T)
    deg = np.bincount(np.concatenate([g.edges[0], g.edges[1]]), minlength=n) + 1.0
    # D^-1/2 (A + I) D^-1/2 d^1/2 = d^1/2
    assert np.allclose(a @ np.sqrt(deg), np.sqrt(deg), rtol=1e-5)
    assert np.allclose(np.diag(a), 1.0 / deg, rtol=1e-5)


def test_graph_rejects_impossible_settings():
    with pytest.raises(ConfigError, match="train_per_class"):
        load_dataset("graph", n_nodes=50, n_classes=7)
    with pytest.raises(ConfigError, match="homophily"):
        load_dataset("graph", homophily=1.5)
