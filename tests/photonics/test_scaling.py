"""The BP-on-GPU vs optical-DFA scaling model (photonics.scaling) and `photonics scaling`."""

import csv
import json
import math
from dataclasses import replace

import pytest

from photonics.cli import main
from photonics.errors import ConfigError, ValidationError
from photonics.scaling import (
    GPUModel,
    NetworkSpec,
    OPUModel,
    crossover_width,
    scaling_study,
    step_times,
)

# A GPU with free memory traffic and no launch overhead: times are pure FLOP counts.
COMPUTE_ONLY = GPUModel(flops_per_s=1e14, efficiency=0.5, memory_bandwidth_bytes_per_s=1e40, kernel_overhead_s=0.0)
FREE_LINK = dict(link_bytes_per_s=1e40, latency_s=0.0)


def _macs(net):
    d = net.dims
    return [d[i] * d[i + 1] for i in range(len(d) - 1)]


def test_step_times_count_the_flops_of_each_method():
    net = NetworkSpec(width=300, depth=3, d_in=50, d_out=7, batch=16)
    opu = OPUModel(frame_rate_hz=1000.0, frames_per_error=4, **FREE_LINK)
    st = step_times(net, COMPUTE_ONLY, opu)
    f = COMPUTE_ONLY.flops_per_s * COMPUTE_ONLY.efficiency
    m = _macs(net)
    b = net.batch
    fwd = 2 * b * sum(m)
    dw = 2 * b * sum(m)
    dh = 2 * b * sum(m[1:])  # no input gradient for the first layer
    proj = 2 * b * net.d_out * net.depth * net.width
    assert st.seconds["bp"] * f == pytest.approx(fwd + dw + dh, rel=1e-9)
    assert st.seconds["dfa_digital"] * f == pytest.approx(fwd + dw + proj, rel=1e-9)
    assert st.seconds["dfa_optical"] == pytest.approx((fwd + dw) / f + b * 4 / 1000.0, rel=1e-9)
    assert st.opu_passes == 1 and st.parts["opu_acquire"] == pytest.approx(b * 4 / 1000.0)


def test_crossover_matches_the_closed_form():
    """Compute-bound GPU: BP - DFA = (depth-1) 2 b w^2 + 2 b d_out w flops vs b f / R on the OPU.

    Crossover width w* solves (depth-1) w^2 + d_out w = F f / (2 R), F = flops/s x efficiency.
    """
    opu = OPUModel(frame_rate_hz=1500.0, frames_per_error=4, **FREE_LINK)
    base = NetworkSpec(width=1, depth=1, d_in=1000, d_out=10, batch=64)
    F = COMPUTE_ONLY.flops_per_s * COMPUTE_ONLY.efficiency
    for depth in (2, 5, 9):
        c = F * 4 / (2 * 1500.0)
        a1, b1 = depth - 1, base.d_out
        w_star = (-b1 + math.sqrt(b1 * b1 + 4 * a1 * c)) / (2 * a1)
        w = crossover_width(depth, gpu=COMPUTE_ONLY, opu=opu, base=base, width_range=(16, 1 << 22))
        assert w == math.ceil(w_star - 1e-9)


def test_trends_depth_gpu_speed_opu_rate():
    base = NetworkSpec(width=1, depth=1)
    gpu, opu = GPUModel(), OPUModel()
    ws = [crossover_width(d, gpu=gpu, opu=opu, base=base) for d in (2, 8, 32)]
    assert all(w is not None for w in ws) and ws[0] > ws[1] > ws[2]  # deeper: optical DFA wins earlier
    # compute-bound asymptotics: w* ~ sqrt(F / R)
    w1 = crossover_width(8, gpu=COMPUTE_ONLY, opu=OPUModel(**FREE_LINK), base=base)
    w4 = crossover_width(8, gpu=replace(COMPUTE_ONLY, flops_per_s=4e14), opu=OPUModel(**FREE_LINK), base=base)
    assert w4 / w1 == pytest.approx(2.0, rel=0.02)
    fast = crossover_width(8, gpu=COMPUTE_ONLY, opu=OPUModel(frame_rate_hz=6000.0, **FREE_LINK), base=base)
    assert w1 / fast == pytest.approx(2.0, rel=0.02)
    # never in range when the range is too small
    assert crossover_width(2, gpu=gpu, opu=opu, base=base, width_range=(16, 1024)) is None


def test_several_gpus_remove_backward_locking_for_dfa_only():
    net = NetworkSpec(width=8192, depth=8, batch=128)
    one = step_times(net, GPUModel())
    many = step_times(net, GPUModel(count=9))  # one layer per GPU
    # DFA updates run in parallel: backward time = the slowest GPU, not the sum
    assert many.parts["dfa_digital_backward"] < one.parts["dfa_digital_backward"] / 4
    assert many.parts["dfa_optical_gpu"] < one.parts["dfa_optical_gpu"] / 4
    # BP stays sequential through the layers (plus the transfers between GPUs)
    assert many.parts["bp_backward"] >= one.parts["bp_backward"]
    assert many.memory_bytes["bp"] < one.memory_bytes["bp"] / 4


def test_memory_limit_passes_and_overlap():
    gpu = GPUModel(memory_bytes=1e9)
    res = scaling_study([256, 4096, 65536], [4], gpu=gpu, frame_rates_hz=[1500.0])
    lim = res.crossovers[0]["bp_memory_limit_width"]
    assert lim is not None
    assert step_times(NetworkSpec(width=lim, depth=4), gpu).fits["bp"]
    assert not step_times(NetworkSpec(width=lim + 1, depth=4), gpu).fits["bp"]
    # more hidden units than camera pixels: several OPU passes
    opu = OPUModel(n_out=1000, **FREE_LINK)
    st1 = step_times(NetworkSpec(width=500, depth=2, batch=8), opu=opu)
    st3 = step_times(NetworkSpec(width=1001, depth=2, batch=8), opu=opu)
    assert st1.opu_passes == 1 and st3.opu_passes == 3
    assert st3.parts["opu_acquire"] == pytest.approx(3 * st1.parts["opu_acquire"])
    # a pipelined OPU hides behind the GPU work
    net = NetworkSpec(width=2048, depth=4)
    seq, pipe = step_times(net), step_times(net, overlap_opu=True)
    gpu_part = seq.parts["forward"] + seq.parts["dfa_optical_gpu"]
    opu_part = seq.parts["opu_acquire"]
    assert pipe.seconds["dfa_optical"] == pytest.approx(max(gpu_part, opu_part))
    assert seq.seconds["dfa_optical"] == pytest.approx(gpu_part + opu_part)
    # energy: both devices powered for the whole step
    assert seq.energy_j["dfa_optical"] == pytest.approx((700.0 + 30.0) * seq.seconds["dfa_optical"])


def test_validation():
    with pytest.raises(ConfigError, match="gpu.efficiency"):
        GPUModel(efficiency=0.0)
    with pytest.raises(ConfigError, match="opu.frame_rate_hz"):
        OPUModel(frame_rate_hz=-1.0)
    with pytest.raises(ValidationError, match="width"):
        NetworkSpec(width=0, depth=2)
    with pytest.raises(ValidationError, match="method"):
        crossover_width(2, method="sgd")
    with pytest.raises(ValidationError, match="width_range"):
        crossover_width(2, width_range=(100, 10))


def test_opu_model_from_device():
    from photonics import DeviceConfig

    o = OPUModel.from_device(DeviceConfig.preset("lighton-like"))
    assert (o.n_in, o.n_out, o.frame_rate_hz, o.power_w, o.frames_per_error, o.bytes_per_output) == (1_000_000, 2_000_000, 1500.0, 30.0, 4, 1)
    s = OPUModel.from_device(DeviceConfig.preset("lab-cmos").replace(reference__scheme="strong-reference"), error_encoding="sign-split", n_bits=4)
    assert s.frames_per_error == 8 and s.power_w == 0.0


def test_cli_writes_table_plot_and_json(tmp_path, capsys):
    out = tmp_path / "study"
    rc = main(["scaling", "--out", str(out), "--depths", "2,8", "--widths", "1024,16384,262144", "--gpu-tflops", "100",
               "--opu-rate-hz", "3000", "--rates-hz", "3000,30000"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "optical=BP width" in text and "scaling.png" in text
    with open(out / "scaling.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {r["depth"] for r in rows} == {"2", "8"}
    d = json.loads((out / "scaling.json").read_text())
    assert d["settings"]["gpu"]["flops_per_s"] == 100e12 and d["settings"]["opu"]["frame_rate_hz"] == 3000.0
    ref = scaling_study([1024, 16384, 262144], [2, 8], gpu=GPUModel(flops_per_s=100e12), opu=OPUModel(frame_rate_hz=3000.0),
                        frame_rates_hz=[3000.0, 30000.0])
    assert d["crossovers"] == ref.crossovers
    assert (out / "scaling.png").stat().st_size > 10_000
    assert not list(out.glob(".*tmp*"))
    assert main(["scaling", "--out", str(tmp_path / "x"), "--depths", "2,a"]) == 2
    assert "integers" in capsys.readouterr().err
    assert main(["scaling", "--out", str(tmp_path / "x"), "--gpu-efficiency", "2"]) == 2
    assert "gpu.efficiency" in capsys.readouterr().err
