"""The ``dfa`` command: train, table, run folder, resume, errors with exit status 2."""

import json
import subprocess
import sys

import torch

from dfa.cli import main

FAST = ["--epochs", "1", "--max-steps", "6", "--batch-size", "64", "--model-option", "hidden=[16]", "--n-probes", "4",
        "--no-progress", "--no-plots"]


def test_train_prints_table_and_writes_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "test accuracy" in lines[0] and "optical frames" in lines[0] and "device time" in lines[0]
    for m in ("bp", "dfa", "optical-dfa"):
        assert any(line.startswith(m + " ") for line in lines), m
    assert f"run folder: {out}" in text
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["model_options"] == {"hidden": [16]} and res["optical-dfa"]["steps"] == 6
    # the optical frames in the table are those of results.json
    row = next(line for line in lines if line.startswith("optical-dfa"))
    assert f"{res['optical-dfa']['optical_frames']:,}" in row
    # continue the same run for more steps
    assert main(["train", "--resume", str(out), "--max-steps", "9", "--no-progress", "--no-plots"]) == 0
    res2 = json.loads((out / "results.json").read_text())
    assert res2["dfa"]["steps"] == 9 and res2["config"]["max_steps"] == 9
    assert main(["train", "--resume", str(out), "--lr", "0.1"]) == 2
    assert "only --epochs, --max-steps, --checkpoint-every may change" in capsys.readouterr().err


def test_train_options_reach_the_config(tmp_path, capsys):
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text('dataset = "mnist1d"\nepochs = 1\n[dataset_options]\nn_train = 200\nn_test = 100\n[feedback]\nthreshold = 0.5\n')
    out = tmp_path / "r"
    rc = main(["train", "--config", str(cfg_file), "--methods", "dfa,optical-dfa", "--opu", "ideal", "--opu-set",
               "camera.exposure_s=2e-6", "--scale", "0.5", "--seed", "4", "--max-steps", "3", "--no-progress", "--no-plots",
               "--json", "--out", str(out)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    c = res["config"]
    assert c["dataset"] == "mnist1d" and c["dataset_options"] == {"n_train": 200, "n_test": 100}
    assert c["feedback"]["threshold"] == 0.5 and c["feedback"]["scale"] == 0.5 and c["seed"] == 4
    assert c["optical_device"]["name"] == "ideal" and c["optical_device"]["camera"]["exposure_s"] == 2e-6
    assert set(res) >= {"dfa", "optical-dfa"} and "bp" not in res


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["train", "--dataset", "cifar", "--out", str(tmp_path / "x")]) == 2
    assert "unknown dataset 'cifar'" in capsys.readouterr().err
    assert main(["train", "--methods", "bp,hebbian", *FAST, "--out", str(tmp_path / "y")]) == 2
    assert "unknown method 'hebbian'" in capsys.readouterr().err
    assert main(["train", "--dataset", "mnist", "--out", str(tmp_path / "z")]) == 2
    assert "nothing is downloaded" in capsys.readouterr().err
    assert main(["train", "--model-option", "hidden", "--out", str(tmp_path / "w")]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["train", "--threshold", "1.5", "--out", str(tmp_path / "v")]) == 2
    assert "feedback.threshold must be < 1" in capsys.readouterr().err
    import numpy as np

    from dfa.mechanism.feedback import save_feedback_matrix

    save_feedback_matrix(tmp_path / "b.h5", np.ones((20, 10)))  # the model needs 16 x 10
    assert main(["train", "--methods", "stored-dfa", "--stored-feedback", str(tmp_path / "b.h5"), *FAST,
                 "--out", str(tmp_path / "s")]) == 2
    assert "20 x 10 (n_out x n_in) but the model needs 16 x 10" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train", "--device", "cuda", *FAST, "--out", str(tmp_path / "u")]) == 2
        assert "no CUDA" in capsys.readouterr().err


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "dfa.cli", "train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--opu" in r.stdout and "--resume" in r.stdout


def test_shipped_configs_are_valid():
    from pathlib import Path

    from dfa import make_config
    from dfa.cli import build_parser
    from dfa.commands.train import build_config

    folder = Path(__file__).resolve().parents[2] / "data" / "configs"
    files = sorted(folder.glob("*.toml"))
    assert {f.name for f in files} >= {"digits-mlp.toml", "chars-transformer.toml", "graph-gcn.toml", "mnist1d-mlp.toml"}
    parser = build_parser()
    for f in files:
        cfg = build_config(parser.parse_args(["train", "--config", str(f)]))
        assert cfg.dataset in f.name
    # the digits file is the default run written out
    assert build_config(parser.parse_args(["train", "--config", str(folder / "digits-mlp.toml")])) == make_config(
        "digits", model_options={"hidden": [256, 256], "activation": "tanh"}
    )
    assert make_config("digits").model_options == {"hidden": [256, 256]}
