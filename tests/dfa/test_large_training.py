"""Training at scale: per-step costs (frames and modelled device time next to the compute time),
bf16 mixed precision, the optical feedback on a procedural (never stored) medium, shipped configs."""

from pathlib import Path

import numpy as np
import pytest
import torch

from dfa import make_config, train_method
from dfa.mechanism.feedback import FeedbackConfig, GaussianFeedback, build_feedback
from dfa.trainer.checkpoint import load_checkpoint
from dfa.trainer.result import summarize_step_costs
from dfa.trainer.train import build_components
from photonics.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "data" / "configs"
GPT_TINY = dict(dataset_options={"max_chars": 20000}, model="gpt", epochs=1, steps_per_epoch=6, batch_size=4, align_every=0,
                model_options={"d_model": 16, "n_layers": 2, "n_heads": 2, "context": 16})


def test_per_step_costs_of_optical_dfa_add_up():
    cfg = make_config("chars", methods=("optical-dfa",), feedback={"n_probes": 4}, **GPT_TINY)
    r = train_method(cfg, "optical-dfa", progress=False)
    c = r.step_costs
    assert c["steps"] == r.steps == 6
    # every camera frame of the run (calibration included) happened inside a step
    assert c["total_frames"] == r.optical_frames > 0
    assert c["total_device_time_s"] == pytest.approx(r.device_time_s, rel=1e-12)
    assert c["device_time_s"] == pytest.approx(c["frames"] / 1000.0)  # lab-cmos: 1 kHz frame rate
    assert c["calibration_frames"] > 0  # the first step measures the reference and the probes
    assert 0 < c["feedback_wall_s"] < c["step_wall_s"] and c["rest_wall_s"] > 0


def test_summarize_step_costs_by_hand():
    s = summarize_step_costs({"step_wall_s": [1.0, 0.2, 0.3], "feedback_wall_s": [0.9, 0.1, 0.1], "frames": [100, 10, 10],
                              "device_time_s": [0.1, 0.01, 0.01]})
    # steady state = the steps after the first: the columns add up exactly (the median version did not)
    assert s["steps"] == 3 and s["step_wall_s"] == pytest.approx(0.25) and s["feedback_wall_s"] == pytest.approx(0.1)
    assert s["rest_wall_s"] == pytest.approx(0.15) and s["step_wall_s"] == pytest.approx(s["feedback_wall_s"] + s["rest_wall_s"])
    assert s["first_step_wall_s"] == 1.0 and s["median_step_wall_s"] == pytest.approx(0.25)
    assert s["frames"] == 10 and s["total_frames"] == 120 and s["calibration_frames"] == 90
    assert summarize_step_costs({"step_wall_s": []}) == {"steps": 0}


def test_bf16_autocast_trains_and_resume_keeps_the_precision(tmp_path):
    cfg = make_config("chars", methods=("dfa",), **{**GPT_TINY, "steps_per_epoch": 10})
    r = train_method(cfg.replace(precision="bf16"), "dfa", progress=False, checkpoint=tmp_path / "c.pt")
    assert r.describe["precision"] == "bf16" and np.isfinite(r.metrics["loss"])
    assert r.history["test_loss"][-1] < r.history["test_loss"][0]
    ck = load_checkpoint(tmp_path / "c.pt")
    assert ck["precision"] == "bf16"
    with pytest.raises(ConfigError, match="trained in bf16, not fp32"):
        train_method(cfg.replace(max_steps=12, precision="fp32"), "dfa", progress=False, checkpoint=tmp_path / "c.pt", resume=True)
    with pytest.raises(ConfigError, match="precision must be one of"):
        cfg.replace(precision="fp16")


def test_bf16_forward_and_float32_projection():
    from dfa.trainer.train import _AutocastTask

    cfg = make_config("chars", methods=("dfa",), **GPT_TINY)
    _, model, task = build_components(cfg)
    at = _AutocastTask(task, torch.device("cpu"), torch.bfloat16)
    batch = task.sample_batch()
    out = at.forward(model, batch)
    assert out.dtype == torch.bfloat16 and at.loss(out, batch).dtype == torch.float32
    fb = GaussianFeedback(8, 5, seed=1)
    e = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    y = fb.project(e.to(torch.bfloat16))  # projected in float32, returned in the error's dtype
    assert y.dtype == torch.bfloat16
    ref = (e.to(torch.bfloat16).float() @ fb.matrix.T).to(torch.bfloat16)
    assert torch.equal(y, ref)


def test_optical_feedback_on_a_procedural_medium_equals_the_dense_one():
    """A feedback matrix too large to store is regenerated block by block from the seed:
    the same projections (batched ternary errors) as the stored matrix, and nothing stored."""
    base = {"encoding": "ternary", "n_probes": 8, "opu": "ideal"}
    dense = build_feedback("optical", 40, 300, seed=5, config=FeedbackConfig(**base, opu_overrides={"medium.storage": "dense"}))
    proc = build_feedback("optical", 40, 300, seed=5,
                          config=FeedbackConfig(**base, opu_overrides={"medium.storage": "procedural", "medium.block_rows": 64}))
    assert proc.opu.medium.procedural and proc.opu.medium._w is None and not dense.opu.medium.procedural
    e = torch.randn(16, 40, generator=torch.Generator().manual_seed(2))
    a, b = dense.project(e), proc.project(e)
    assert proc.frames_used == dense.frames_used > 0
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6 * float(a.abs().max()))


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.toml")))
def test_shipped_configs_load_and_build(name):
    """Every shipped config is a valid TrainConfig; its model builds (the GPU-sized ones on the
    meta device, so that they cost no memory)."""
    from dfa.cli import build_parser
    from dfa.commands.train import _load_file, build_config
    from dfa.zoo.data import load_dataset
    from dfa.zoo.models import build_model

    args = build_parser().parse_args(["train", "--config", str(CONFIGS / name)])
    cfg = build_config(args)
    raw = _load_file(str(CONFIGS / name))
    assert raw.get("precision", "fp32") in ("fp32", "bf16")
    opts = dict(cfg.dataset_options)
    if cfg.dataset in ("mnist", "fashion-mnist"):
        pytest.skip("reads local IDX files")  # the config itself was validated above
    data = load_dataset(cfg.dataset, **opts)
    with torch.device("meta" if cfg.device == "cuda" else "cpu"):
        model = build_model(cfg.model, data, **cfg.model_options)
    assert hasattr(model, "feedback_points") and len(model.feedback_points()) >= 1


def test_stochastic_rounding_is_unbiased_and_replays():
    """E[s q] = e for the stochastic bit-plane quantizer (k-sigma test over draws), |q| <= L,
    and the draws are a pure function of (seed, draw index)."""
    from dfa.mechanism.feedback import StochasticQuantizer, _quantize
    from dfa.mechanism.quantize import ErrorQuantizer
    from photonics.errors import ValidationError

    g = np.random.default_rng(0)
    e = g.normal(size=(3, 50)) * np.array([[1.0], [0.01], [5.0]])
    e[1, :40] = 0.0
    for n_bits in (1, 3):
        qz = StochasticQuantizer("bitplanes", n_bits=n_bits)
        draws = np.stack([np.asarray(_quantize(qz, e, 7, k)[0], dtype=np.float64) for k in range(1500)])
        q0, s = qz(e, rng=np.random.default_rng(1))
        assert np.abs(draws).max() <= 2**n_bits - 1 and q0.dtype == np.int16
        est = draws.mean(0) * s[:, None]
        se = draws.std(0) * s[:, None] / np.sqrt(draws.shape[0])
        z = (est - e) / np.where(se > 0, se, 1.0)
        assert np.all(np.abs(z) < 5.5) and np.all(est[se == 0] == e[se == 0])  # exact where no rounding happens
    near = ErrorQuantizer("bitplanes", n_bits=1)(e)[0] * ErrorQuantizer("bitplanes", n_bits=1)(e)[1][:, None]
    assert np.abs(near.mean(1) - e.mean(1)).max() > 10 * np.abs(est.mean(1) - e.mean(1)).max()  # nearest rounding is biased
    a, b = _quantize(qz, e, 7, 3)[0], _quantize(qz, e, 7, 3)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, _quantize(qz, e, 7, 4)[0])
    with pytest.raises(ValidationError, match="needs the bitplanes encoding"):
        StochasticQuantizer("ternary")
    with pytest.raises(ValidationError, match="Generator"):
        qz(e)
    with pytest.raises(ConfigError, match="needs feedback.encoding 'bitplanes'"):
        FeedbackConfig(encoding="ternary", rounding="stochastic")
    fb = build_feedback("gaussian", 50, 20, seed=1, config=FeedbackConfig(encoding="bitplanes", n_bits=1, rounding="stochastic",
                                                                          quantize_digital=True))
    t = torch.from_numpy(e)
    y1, y2 = fb.project(t), fb.project(t)
    assert not torch.equal(y1, y2)  # a new draw per call...
    fb2 = build_feedback("gaussian", 50, 20, seed=1, config=FeedbackConfig(encoding="bitplanes", n_bits=1, rounding="stochastic",
                                                                           quantize_digital=True))
    fb2.load_state_dict(fb.state_dict())
    assert torch.equal(fb.project(t), fb2.project(t))  # ...replayed exactly from the saved state
