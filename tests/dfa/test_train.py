"""The trainer: determinism, fixed feedback, exact resume after a crash, checkpoints, run folder,
alignment diagnostics, divergence."""

import json

import numpy as np
import pytest
import torch

from dfa import make_config, run_training, train_method
from dfa.errors import TrainingDivergedError
from dfa.trainer.checkpoint import load_checkpoint
from dfa.trainer.config import TrainConfig
from dfa.trainer.train import build_components
from photonics.errors import ConfigError, FileFormatError
from photonics.records import load_result

SMALL = dict(epochs=2, batch_size=64, model_options={"hidden": [32, 32]}, align_every=5)


def _cfg(**kw):
    return make_config("digits", **{**SMALL, **kw})


def _weights(path):
    return load_checkpoint(path)["model"]


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    cfg = _cfg(max_steps=12, methods=("dfa",))
    train_method(cfg, "dfa", checkpoint=tmp_path / "a.pt", progress=False)
    train_method(cfg, "dfa", checkpoint=tmp_path / "b.pt", progress=False)
    train_method(cfg.replace(seed=1), "dfa", checkpoint=tmp_path / "c.pt", progress=False)
    assert _same_state(_weights(tmp_path / "a.pt"), _weights(tmp_path / "b.pt"))
    assert not _same_state(_weights(tmp_path / "a.pt"), _weights(tmp_path / "c.pt"))


def test_methods_share_initial_weights_and_batches():
    cfg = _cfg()
    inits = []
    for _ in cfg.methods:
        _, model, task = build_components(cfg)
        inits.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(_same_state(inits[0], s) for s in inits[1:])
    _, _, task = build_components(cfg)
    b1 = [y for _, y in task.batches(0)]
    b2 = [y for _, y in task.batches(0)]
    b3 = [y for _, y in task.batches(1)]
    assert all(torch.equal(a, b) for a, b in zip(b1, b2))
    assert not all(torch.equal(a, b) for a, b in zip(b1, b3))


def test_feedback_stays_fixed_during_training(tmp_path):
    cfg = _cfg(max_steps=10, methods=("dfa", "optical-dfa"), feedback={"opu": "ideal"})
    from dfa.mechanism.feedback import build_feedback

    fresh = build_feedback("gaussian", 10, 64, seed=cfg.seed, config=cfg.feedback)
    train_method(cfg, "dfa", checkpoint=tmp_path / "dfa.pt", progress=False)
    saved = load_checkpoint(tmp_path / "dfa.pt")["method_state"]["feedback"]["matrix"]
    assert torch.equal(saved, fresh.matrix)
    # optical: the (noiseless) device projects a probe error identically before and after training
    opt = build_feedback("optical", 10, 64, seed=cfg.seed, config=cfg.feedback)
    e = torch.randn(5, 10, generator=torch.Generator().manual_seed(1))
    before = opt.project(e)
    r = train_method(cfg, "optical-dfa", checkpoint=tmp_path / "opt.pt", progress=False)
    assert r.optical_frames > 0
    after = build_feedback("optical", 10, 64, seed=cfg.seed, config=cfg.feedback)
    after.load_state_dict(load_checkpoint(tmp_path / "opt.pt")["method_state"]["feedback"])
    assert torch.equal(after.project(e), before)


class Crash(Exception):
    pass


def test_interrupted_run_resumes_bit_identical(tmp_path):
    """optical DFA on the noisy lab-cmos device: crash at step 17, resume from the step-14
    checkpoint, end with exactly the weights, noise-stream position and history of an
    uninterrupted run."""
    cfg = _cfg(max_steps=30, checkpoint_every=7, methods=("optical-dfa",), feedback={"n_probes": 8})
    ref = train_method(cfg, "optical-dfa", checkpoint=tmp_path / "ref.pt", progress=False)

    def crash(step, model):
        if step == 17:
            raise Crash()

    ck = tmp_path / "run.pt"
    with pytest.raises(Crash):
        train_method(cfg, "optical-dfa", checkpoint=ck, progress=False, on_step=crash)
    mid = load_checkpoint(ck)
    assert mid["trainer"]["step"] == 14 and not mid["trainer"]["finished"]
    res = train_method(cfg, "optical-dfa", checkpoint=ck, resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "ref.pt"), load_checkpoint(ck)
    assert _same_state(a["model"], b["model"])
    assert res.optical_frames == ref.optical_frames and res.device_time_s == ref.device_time_s
    fa, fb = a["method_state"]["feedback"]["_extra_state"], b["method_state"]["feedback"]["_extra_state"]
    assert fa["opu_state"]["frames"] == fb["opu_state"]["frames"] and fa["gain"] == fb["gain"]
    for k in ("test_accuracy", "test_loss", "train_loss", "step", "optical_frames"):
        assert np.array_equal(res.history[k], ref.history[k], equal_nan=True), k
    assert res.alignment["angle_deg"] == ref.alignment["angle_deg"]


def test_checkpoint_carries_config_seed_and_states(tmp_path):
    cfg = _cfg(max_steps=6, seed=3, methods=("optical-dfa",), feedback={"n_probes": 4})
    train_method(cfg, "optical-dfa", checkpoint=tmp_path / "c.pt", progress=False)
    ck = load_checkpoint(tmp_path / "c.pt")
    assert TrainConfig.from_dict(ck["config"]) == cfg and ck["seed"] == 3 and ck["method"] == "optical-dfa"
    extra = ck["method_state"]["feedback"]["_extra_state"]
    assert extra["opu_seed"] == ck["result"]["describe"]["feedback"]["device_seed"]
    assert json.loads(extra["opu_config"])["name"] == "lab-cmos"
    assert extra["opu_state"]["frames"] > 0 and extra["opu_state"]["reference_calibration"] is not None
    assert ck["optimizer"]["state"] and ck["trainer"]["finished"]
    # a different config cannot resume it; a corrupt file is reported as such
    with pytest.raises(ConfigError, match="different settings.*lr"):
        train_method(cfg.replace(lr=0.5), "optical-dfa", checkpoint=tmp_path / "c.pt", resume=True, progress=False)
    with pytest.raises(ConfigError, match="not among the configured methods"):
        train_method(cfg, "bp", progress=False)
    (tmp_path / "bad.pt").write_bytes(b"\x00garbage")
    with pytest.raises(FileFormatError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_nan_loss_stops_with_a_clear_message():
    cfg = _cfg(max_steps=10, methods=("dfa",))

    def poison(step, model):
        if step == 2:
            with torch.no_grad():
                model.head.weight.fill_(float("nan"))

    with pytest.raises(TrainingDivergedError, match=r"dfa: loss is nan.*at step 3 \(epoch 1\).*lower the learning rate"):
        train_method(cfg, "dfa", progress=False, on_step=poison)


def test_run_folder_contents_and_resume(tmp_path):
    cfg = _cfg(max_steps=8, feedback={"n_probes": 4})
    out = tmp_path / "run"
    res = run_training(cfg, out, progress=False)
    assert list(res) == ["bp", "dfa", "optical-dfa"]
    data = json.loads((out / "results.json").read_text())
    for m in ("bp", "dfa", "optical-dfa"):
        entry = data[m]
        assert {"test_accuracy", "test_loss", "steps", "wall_s", "optical_frames", "device_time_s"} <= set(entry)
        assert entry["steps"] == 8 and entry["test_accuracy"] == res[m].metrics["accuracy"]
    assert data["bp"]["optical_frames"] == 0 and data["optical-dfa"]["optical_frames"] > 0
    assert data["optical-dfa"]["device_time_s"] == pytest.approx(data["optical-dfa"]["optical_frames"] / 1000.0)
    assert data["config"]["feedback"]["opu"] == "lab-cmos" and data["config"]["optical_device"]["medium"]["n_in"] == 10
    assert set(data["dfa"]["alignment_deg_final"]) == {"h1 (Tanh)", "h2 (Tanh)"}
    m = load_result(out / "metrics.h5", "dfa.metrics")
    assert np.allclose(m["optical-dfa"]["test_accuracy"], res["optical-dfa"].history["test_accuracy"])
    assert m["dfa"]["align_angle_deg"].shape == (len(res["dfa"].alignment["step"]), 2)
    for f in ("learning_curves.png", "alignment.png", "config.json", "checkpoints/bp.pt", "checkpoints/optical-dfa.pt"):
        assert (out / f).is_file(), f
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    # resuming a finished run reads the results back, training nothing
    again = run_training(cfg, out, resume=True, progress=False, plots=False)
    assert again["dfa"].metrics == res["dfa"].metrics and again["optical-dfa"].wall_s == res["optical-dfa"].wall_s


def test_alignment_angles_are_real_angles():
    cfg = _cfg(max_steps=20, methods=("bp", "dfa"), align_every=4)
    r = train_method(cfg, "dfa", progress=False)
    ang = np.asarray(r.alignment["angle_deg"])
    assert r.alignment["step"] == [0, 4, 8, 12, 16] and ang.shape == (5, 2)
    assert np.all((ang > 0) & (ang < 180))
    assert train_method(cfg, "bp", progress=False).alignment["step"] == []


def test_config_validation_and_defaults():
    c = make_config("chars")
    assert c.model == "transformer" and c.steps_per_epoch == 100
    c2 = make_config("digits", model="cnn")
    assert c2.model_options == {}  # the MLP's defaults are not applied to another model
    assert TrainConfig.from_dict(json.loads(c.to_json())) == c
    with pytest.raises(ConfigError, match="unknown training setting.*'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="lr must be > 0"):
        make_config("digits", lr=0.0)
    with pytest.raises(ConfigError, match="unknown dataset"):
        make_config("imagenet")
    with pytest.raises(ConfigError, match="unknown method 'hebbian'"):
        train_method(make_config("digits", methods=("hebbian",)), "hebbian", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sees no CUDA GPU"):
            train_method(make_config("digits", device="cuda", methods=("bp",)), "bp", progress=False)


def test_head_only_control_keeps_hidden_layers(tmp_path):
    cfg = _cfg(max_steps=5, methods=("head-only",))
    _, model, _ = build_components(cfg)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    train_method(cfg, "head-only", checkpoint=tmp_path / "h.pt", progress=False)
    final = _weights(tmp_path / "h.pt")
    for k in init:
        assert torch.equal(init[k], final[k]) != k.startswith("head."), k


def test_dataset_feedback_defaults_merge_with_overrides():
    c = make_config("chars", feedback={"threshold": 0.2})
    assert (c.feedback.encoding, c.feedback.n_bits, c.feedback.rounding, c.feedback.threshold) == ("bitplanes", 1, "stochastic", 0.2)
    assert c.feedback.opu_overrides["camera.bit_depth"] == 12  # nested defaults survive the merge
    from dfa.mechanism.feedback import FeedbackConfig

    assert make_config("chars", feedback=FeedbackConfig()).feedback.encoding == "ternary"
    assert make_config("digits").feedback.encoding == "ternary"
