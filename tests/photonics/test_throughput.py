"""Hardware model (photonics.throughput) and the fast generation kernel of the simulator."""

import json

import numba
import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics import kernels as K
from photonics.cli import main
from photonics.encoding import BitPlaneEncoder, SignSplitEncoder, TernaryEncoder
from photonics.errors import ValidationError
from photonics.throughput import (
    ENCODINGS,
    encoding_frames,
    format_si,
    frames_per_linear_input,
    hardware_model,
    simulator_work,
)

# Published figures of the commercial OPU (LightOn Aurora class): ~1e6 x 1e6 random projection
# at ~1.5 kHz, "1500 TeraOPS" at ~30 W.
PUBLISHED_OPS = 1500e12
PUBLISHED_W = 30.0


def test_lighton_preset_reproduces_published_order_of_magnitude():
    cfg = DeviceConfig.preset("lighton-like")
    hw = hardware_model(cfg)
    # same order of magnitude as the published 1500 TeraOPS (the preset has 2e6 outputs)
    assert PUBLISHED_OPS / 3 <= hw["ops_per_s"] <= PUBLISHED_OPS * 3
    assert hw["electrical_power_w"] == PUBLISHED_W and hw["energy_basis"] == "electrical"
    # at the published 1e6 x 1e6 size the count is exactly n_in * n_out * rate
    sq = hardware_model(DeviceConfig.preset("lighton-like", n_out=1_000_000))
    assert sq["ops_per_s"] == pytest.approx(1e6 * 1e6 * 1.5e3, rel=1e-12)
    assert sq["ops_per_s"] == pytest.approx(PUBLISHED_OPS, rel=1e-12)
    assert sq["tera_ops_per_w"] == pytest.approx(PUBLISHED_OPS / PUBLISHED_W / 1e12, rel=1e-12)  # 50 TeraOPS/W
    assert sq["energy_per_op_j"] == pytest.approx(PUBLISHED_W / PUBLISHED_OPS, rel=1e-12)  # 20 fJ
    assert sq["energy_per_frame_j"] == pytest.approx(PUBLISHED_W / 1.5e3, rel=1e-12)  # 20 mJ
    assert hw["rate_limited_by"] == "camera"


def test_existing_keys_keep_their_meaning():
    cfg = DeviceConfig.preset("lab-cmos", n_in=4096, n_out=8192)
    hw = hardware_model(cfg, encoder_frames=3)
    rate = min(cfg.dmd.frame_rate_hz, cfg.camera.frame_rate_hz)
    assert hw["frame_rate_hz"] == rate
    assert hw["ops_per_frame"] == 4096 * 8192
    assert hw["ops_per_s"] == 4096 * 8192 * rate
    assert hw["native_projections_per_s"] == pytest.approx(rate / 3)
    assert hw["linear_projections_per_s"] == pytest.approx(rate / 6)  # exact scheme: 2 frames
    assert hw["effective_linear_ops_per_s"] == pytest.approx(4096 * 8192 * rate / 6)
    strong = hardware_model(cfg.replace(reference__scheme="strong-reference"), encoder_frames=3)
    assert strong["linear_projections_per_s"] == pytest.approx(rate / 3)
    assert frames_per_linear_input("exact") == 2 and frames_per_linear_input("strong-reference") == 1


def test_encodings_table_and_encoder_objects():
    cfg = DeviceConfig.preset("lab-cmos", n_in=64, n_out=64)
    hw = hardware_model(cfg, n_bits=6)
    assert set(hw["encodings"]) == set(ENCODINGS)
    expect = {"binary": 1, "ternary": 2, "bit-planes": 6, "sign-split": 12}
    for name, n in expect.items():
        e = hw["encodings"][name]
        assert e["frames_per_native_projection"] == n == encoding_frames(name, 6)
        assert e["frames_per_linear_projection"] == 2 * n
        assert e["native_projections_per_s"] * n == pytest.approx(hw["frame_rate_hz"])
        assert e["energy_per_linear_projection_j"] == pytest.approx(2 * n * hw["energy_per_frame_j"])
    assert hardware_model(cfg, encoder=TernaryEncoder())["encoder_frames"] == 2
    assert hardware_model(cfg, encoder=BitPlaneEncoder(5))["encoder_frames"] == 5
    sign = SignSplitEncoder(n_bits=4)
    with pytest.raises(ValidationError, match="n_frames"):
        hardware_model(cfg, encoder=sign)  # frames known only after encode
    sign.encode(np.array([[0.5, -1.0]]))
    assert hardware_model(cfg, encoder=sign)["encoder_frames"] == 8


def test_model_matches_the_simulators_device_time_accounting(rng):
    """Frames the model predicts == frames the simulated OPU actually spends."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=32, n_out=48)
    opu = OPU(cfg, seed=1)
    batch = 5
    opu.linear(rng.normal(size=(batch, 32)), encoder=TernaryEncoder(threshold=0.1))
    hw = hardware_model(cfg, encoder=TernaryEncoder())
    assert opu.frames_used == hw["reference_calibration_frames"] + batch * hw["frames_per_linear_projection"]
    assert opu.device_time_s == pytest.approx(opu.frames_used / hw["frame_rate_hz"], rel=1e-12)
    opu2 = OPU(cfg, seed=1)
    ints = rng.integers(0, 16, size=(batch, 32))
    opu2.project(ints, encoder=BitPlaneEncoder(4))
    assert opu2.frames_used == batch * hardware_model(cfg, encoder_frames=4)["frames_per_native_projection"]


def test_energy_basis_and_overrides():
    cfg = DeviceConfig.preset("lab-cmos", n_in=64, n_out=64)  # no electrical power given
    hw = hardware_model(cfg)
    assert hw["energy_basis"] == "optical" and hw["electrical_power_w"] is None
    assert hw["power_w"] == cfg.laser.power_w
    hw2 = hardware_model(cfg, electrical_power_w=12.0)
    assert hw2["energy_basis"] == "electrical" and hw2["energy_per_frame_j"] == pytest.approx(12.0 / hw2["frame_rate_hz"])
    assert hw2["ops_per_joule"] * hw2["energy_per_op_j"] == pytest.approx(1.0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValidationError, match="electrical_power_w"):
            hardware_model(cfg, electrical_power_w=bad)
    with pytest.raises(ValidationError, match="encoder_frames"):
        hardware_model(cfg, encoder_frames=0)
    with pytest.raises(ValidationError, match="encoding"):
        encoding_frames("gray-code")
    with pytest.raises(ValidationError, match="n_bits"):
        encoding_frames("bit-planes", 33)


def test_simulator_work_and_si_format():
    w = simulator_work(DeviceConfig.preset("lighton-like"), 10)
    assert w["procedural"] and w["gemm_flops"] == 2 * 10 * 1e6 * 2 * 2e6 and w["tm_normals"] == 2 * 1e6 * 2e6
    d = simulator_work(DeviceConfig.preset("ideal", n_in=100, n_out=50), 3)
    assert not d["procedural"] and d["tm_normals"] == 0 and d["dense_tm_bytes"] == 8 * 100 * 50
    with pytest.raises(ValidationError, match="batch"):
        simulator_work(DeviceConfig.preset("ideal"), 0)
    assert format_si(2e-14, "J") == "20 fJ" and format_si(1.5e15, "OPS") == "1.5 POPS" and format_si(None, "W") == "n/a"


def test_info_prints_the_extended_model(capsys):
    assert main(["info", "lighton-like"]) == 0
    out = capsys.readouterr().out
    assert "3000 TeraOPS" in out and "100 TeraOPS/W" in out and "10 fJ/op" in out and "20 mJ/frame" in out
    for name in ENCODINGS:
        assert name in out
    assert main(["info", "lab-cmos", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["hardware"]["energy_basis"] == "optical" and "encodings" in d["hardware"]
    assert main(["info", "ideal"]) == 0
    assert "laser only" in capsys.readouterr().out


def test_fast_gaussian_block_kernel_twin_and_threads():
    """kernels.gaussian_block_fast_numba: same numbers as the numpy twin and the original kernel."""
    out = np.empty((300, 2 * 17), dtype=np.float32)
    K.gaussian_block_fast_numba(np.uint64(99), 3, 17, 5, 300, 0.25, out)
    assert np.array_equal(out, K.gaussian_block_numpy(99, 3, 17, 5, 300, 0.25))
    big = np.empty((4096, 2 * 64), dtype=np.float32)  # ~5000 rejections: the slow path is exercised
    ref = np.empty_like(big)
    K.gaussian_block_fast_numba(np.uint64(7), 1000, 64, 0, 4096, 1.0, big)
    K.gaussian_block_numba(np.uint64(7), 1000, 64, 0, 4096, 1.0, ref)
    assert np.array_equal(big, ref)
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = np.empty_like(big)
        K.gaussian_block_fast_numba(np.uint64(7), 1000, 64, 0, 4096, 1.0, one)
    finally:
        numba.set_num_threads(prev)
    assert np.array_equal(one, big)
