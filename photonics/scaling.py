"""Scaling study: training-step time of backpropagation on GPUs vs DFA with an optical projection.

The question of the optical-DFA papers: as a network grows, does sending the random feedback
of Direct Feedback Alignment (DFA) through an optical processing unit (OPU) beat plain
backpropagation (BP) on GPUs? This module answers it with an explicit, roofline-style
*model* (nothing here is measured; every parameter is configurable).

The network
-----------
A multilayer perceptron, ``d_in -> width x depth hidden layers -> d_out``, trained with
mini-batches of ``batch`` samples; weights W_l of shape (dims[l], dims[l+1]), l = 0..depth.

Cost of one operation on a GPU (roofline)
-----------------------------------------
A GEMM (m x k) @ (k x n) takes

    t = max( 2 m k n / (flops_per_s * efficiency),  b (m k + k n + m n) / bandwidth ) + overhead

and an element-wise pass over v values read or written takes ``b v / bandwidth + overhead``
(b = bytes per value, overhead = kernel launch).

The three training steps
------------------------
* **BP**: forward (GEMM + activation per layer), backward layer by layer: dW_l = h_l^T delta_l
  (GEMM (dims[l] x batch) @ (batch x dims[l+1])) and, for l >= 1, delta_{l-1} = (delta_l
  W_l^T) * f'(a) (GEMM (batch x dims[l+1]) @ (dims[l+1] x dims[l]) + element-wise mask).
* **DFA, digital**: the same forward; the output error e (batch x d_out) is projected once to
  every hidden layer, delta_l = (e B_l) * f'(a_l), by a GEMM (batch x d_out) @ (d_out x
  depth*width) against a stored random matrix B; then dW_l per layer. No delta W^T GEMMs.
* **DFA, optical**: as digital DFA, but e B is measured by the OPU: e is ternarized and sent
  as ``frames_per_error`` binary frames per sample (2 frames for e+ / e-, times 2 for the
  exact linear scheme), one sample per frame, at ``frame_rate_hz``. The OPU has ``n_in``
  inputs and ``n_out`` outputs, so it needs ``ceil(d_out / n_in) * ceil(depth*width / n_out)``
  passes. Camera frames (``bytes_per_output`` per pixel) stream to the GPUs over a link of
  ``link_bytes_per_s``; acquisition and transfer overlap, so the OPU time is
  ``max(acquisition, transfer) + latency_s``; decoding the frames on the GPU is an
  element-wise pass.

All three share the forward pass and the SGD update (read W, read dW, write W per weight).

Several GPUs (``count > 1``)
----------------------------
Layers are split into ``count`` contiguous groups (model parallelism), one per GPU. The forward
pass and BP's backward pass are sequential through the groups (BP's *backward locking*);
activations/deltas of ``batch x width`` values cross each group boundary over the
interconnect. DFA has no backward locking: once e (digital: broadcast to all GPUs) or its
optical projection (streamed to all GPUs) is available, every GPU updates its own layers in
parallel, so DFA's backward time is the *maximum* over GPUs instead of the *sum*.

``overlap_opu=True`` models a pipelined schedule in which the OPU projects the error of step
t while the GPUs run step t+1 (updates one step late): the optical step time becomes
``max(GPU time, OPU time)``.

Memory and energy
-----------------
Per GPU: weights + gradients (2 b per parameter), the activations kept for the backward pass
(b * batch * dims[l] per layer on that GPU) and, for digital DFA, its slice of B (b * d_out *
units). A configuration that does not fit is still timed but flagged (``fits_*``). Energy
per step = (count * gpu power + OPU power for the optical method) * step time: both kinds of
device are assumed powered for the whole step.

Not modelled: convolutions/attention (an MLP only), mixed precision and tensor cores (set
``flops_per_s`` accordingly), pipelining of BP over micro-batches, data loading, the
accuracy gap between DFA and BP (this is a time model only), OPU calibration frames, and
GPU kernel fusion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from .errors import ValidationError
from .validation import check_int, check_real

__all__ = [
    "GPUModel",
    "OPUModel",
    "NetworkSpec",
    "StepTimes",
    "ScalingResult",
    "step_times",
    "crossover_width",
    "scaling_study",
    "write_study",
    "METHODS",
]

#: Training methods compared by the model.
METHODS = ("bp", "dfa_digital", "dfa_optical")


@dataclass(frozen=True)
class GPUModel:
    """A GPU (or ``count`` identical GPUs) as a roofline.

    Defaults: an H100-SXM-class GPU in plain FP32 (67 TFLOP/s peak, 3.35 TB/s HBM3, 80 GB,
    700 W, NVLink 450 GB/s per direction).

    Parameters
    ----------
    flops_per_s : float
        Peak arithmetic rate of the precision used [FLOP/s].
    efficiency : float
        Fraction of the peak reached by large GEMMs, in (0, 1].
    memory_bandwidth_bytes_per_s : float
        Device-memory bandwidth [B/s].
    memory_bytes : float
        Device memory per GPU [B].
    kernel_overhead_s : float
        Fixed cost of each kernel launch [s].
    power_w : float
        Board power while training [W].
    count : int
        GPUs sharing the layers (model parallel), >= 1.
    interconnect_bytes_per_s : float
        GPU-to-GPU bandwidth [B/s] (used when count > 1).
    bytes_per_value : int
        Bytes per weight / activation (4 for FP32).
    """

    flops_per_s: float = 67e12
    efficiency: float = 0.7
    memory_bandwidth_bytes_per_s: float = 3.35e12
    memory_bytes: float = 80e9
    kernel_overhead_s: float = 5e-6
    power_w: float = 700.0
    count: int = 1
    interconnect_bytes_per_s: float = 450e9
    bytes_per_value: int = 4

    def __post_init__(self):
        check_real(self.flops_per_s, "gpu.flops_per_s", low=0.0, low_inclusive=False, unit="FLOP/s")
        check_real(self.efficiency, "gpu.efficiency", low=0.0, high=1.0, low_inclusive=False)
        check_real(self.memory_bandwidth_bytes_per_s, "gpu.memory_bandwidth_bytes_per_s", low=0.0, low_inclusive=False, unit="B/s")
        check_real(self.memory_bytes, "gpu.memory_bytes", low=0.0, low_inclusive=False, unit="B")
        check_real(self.kernel_overhead_s, "gpu.kernel_overhead_s", low=0.0, unit="s")
        check_real(self.power_w, "gpu.power_w", low=0.0, unit="W")
        check_int(self.count, "gpu.count", low=1, high=1 << 16)
        check_real(self.interconnect_bytes_per_s, "gpu.interconnect_bytes_per_s", low=0.0, low_inclusive=False, unit="B/s")
        check_int(self.bytes_per_value, "gpu.bytes_per_value", low=1, high=16)

    # -- roofline ---------------------------------------------------------------------------
    def gemm_s(self, m: int, k: int, n: int) -> float:
        """Time of a GEMM (m x k) @ (k x n) [s]."""
        flops = 2.0 * m * k * n
        traffic = self.bytes_per_value * (float(m) * k + float(k) * n + float(m) * n)
        return max(flops / (self.flops_per_s * self.efficiency), traffic / self.memory_bandwidth_bytes_per_s) + self.kernel_overhead_s

    def elementwise_s(self, values: float) -> float:
        """Time of an element-wise pass reading or writing ``values`` numbers in total [s]."""
        return self.bytes_per_value * float(values) / self.memory_bandwidth_bytes_per_s + self.kernel_overhead_s

    def transfer_s(self, values: float) -> float:
        """Time to send ``values`` numbers to another GPU [s]."""
        return self.bytes_per_value * float(values) / self.interconnect_bytes_per_s


@dataclass(frozen=True)
class OPUModel:
    """The optical co-processor that computes the DFA feedback projection.

    Defaults: the lighton-like preset (1e6 inputs, 2e6 outputs, 1.5 kHz, 30 W, 8-bit
    camera), ternarized errors in the exact linear scheme (2 x 2 = 4 frames per sample), a
    PCIe-class host link of 12 GB/s.

    Parameters
    ----------
    n_in, n_out : int
        DMD inputs and camera outputs per frame.
    frame_rate_hz : float
        Frames per second [Hz].
    power_w : float
        Wall-plug power [W].
    frames_per_error : int
        Frames per error vector (encoding frames x linear-scheme frames).
    link_bytes_per_s : float
        Bandwidth that brings camera frames to the GPUs [B/s].
    bytes_per_output : float
        Bytes per camera pixel (1 for an 8-bit camera).
    latency_s : float
        Fixed latency per projection call (driver, first frame) [s].
    """

    n_in: int = 1_000_000
    n_out: int = 2_000_000
    frame_rate_hz: float = 1500.0
    power_w: float = 30.0
    frames_per_error: int = 4
    link_bytes_per_s: float = 12e9
    bytes_per_output: float = 1.0
    latency_s: float = 0.0

    def __post_init__(self):
        check_int(self.n_in, "opu.n_in", low=1)
        check_int(self.n_out, "opu.n_out", low=1)
        check_real(self.frame_rate_hz, "opu.frame_rate_hz", low=0.0, low_inclusive=False, unit="Hz")
        check_real(self.power_w, "opu.power_w", low=0.0, unit="W")
        check_int(self.frames_per_error, "opu.frames_per_error", low=1, high=1 << 16)
        check_real(self.link_bytes_per_s, "opu.link_bytes_per_s", low=0.0, low_inclusive=False, unit="B/s")
        check_real(self.bytes_per_output, "opu.bytes_per_output", low=0.0, low_inclusive=False, unit="B")
        check_real(self.latency_s, "opu.latency_s", low=0.0, unit="s")

    @classmethod
    def from_device(cls, config, *, error_encoding: str = "ternary", n_bits: int = 8, link_bytes_per_s: float = 12e9, latency_s: float = 0.0) -> "OPUModel":
        """The OPU a :class:`~photonics.config.DeviceConfig` describes.

        Frames per error = ``encoding_frames(error_encoding, n_bits)`` x the linear scheme's
        frames per input; power = ``power.electrical_power_w`` (0 W when unknown).
        """
        from .throughput import encoding_frames, frames_per_linear_input

        frames = encoding_frames(error_encoding, n_bits) * frames_per_linear_input(config.reference.scheme)
        power = config.power.electrical_power_w
        return cls(
            n_in=config.n_in,
            n_out=config.n_out,
            frame_rate_hz=config.frame_rate_hz,
            power_w=0.0 if power is None else float(power),
            frames_per_error=frames,
            link_bytes_per_s=link_bytes_per_s,
            bytes_per_output=math.ceil(config.camera.bit_depth / 8) if config.camera.quantize else 4.0,
            latency_s=latency_s,
        )

    def passes(self, d_out: int, units: int) -> int:
        """OPU passes to project d_out-dimensional errors onto ``units`` outputs."""
        return math.ceil(d_out / self.n_in) * math.ceil(units / self.n_out)

    def projection_s(self, batch: int, d_out: int, units: int) -> tuple[float, float]:
        """(acquisition time, transfer time) [s] to project ``batch`` errors onto ``units`` outputs."""
        frames = float(batch) * self.frames_per_error * self.passes(d_out, units)
        acquire = frames / self.frame_rate_hz
        transfer = float(batch) * self.frames_per_error * units * self.bytes_per_output * math.ceil(d_out / self.n_in) / self.link_bytes_per_s
        return acquire, transfer


@dataclass(frozen=True)
class NetworkSpec:
    """A multilayer perceptron d_in -> width (x depth) -> d_out, trained with mini-batches.

    Parameters
    ----------
    width : int
        Units per hidden layer.
    depth : int
        Hidden layers.
    d_in, d_out : int
        Input features and outputs (the error dimension).
    batch : int
        Samples per training step.
    """

    width: int
    depth: int
    d_in: int = 1024
    d_out: int = 10
    batch: int = 256

    def __post_init__(self):
        check_int(self.width, "width", low=1, error=ValidationError)
        check_int(self.depth, "depth", low=1, high=100_000, error=ValidationError)
        check_int(self.d_in, "d_in", low=1, error=ValidationError)
        check_int(self.d_out, "d_out", low=1, error=ValidationError)
        check_int(self.batch, "batch", low=1, error=ValidationError)

    @property
    def dims(self) -> list[int]:
        """Layer sizes [d_in, width, ..., width, d_out]."""
        return [self.d_in] + [self.width] * self.depth + [self.d_out]

    @property
    def n_params(self) -> int:
        """Weights (biases ignored)."""
        d = self.dims
        return sum(d[i] * d[i + 1] for i in range(len(d) - 1))

    @property
    def hidden_units(self) -> int:
        """Units receiving a DFA feedback signal, depth x width."""
        return self.depth * self.width


@dataclass(frozen=True)
class StepTimes:
    """Modelled time, memory and energy of one training step, per method.

    Attributes
    ----------
    seconds, energy_j, memory_bytes, fits : dict
        Keyed by method (:data:`METHODS`): step time [s], energy per step [J], peak memory of
        the busiest GPU [B], whether it fits in ``gpu.memory_bytes``.
    parts : dict
        Breakdown [s]: ``forward``, ``bp_backward``, ``dfa_digital_backward``,
        ``dfa_optical_gpu``, ``opu_acquire``, ``opu_transfer``, ``optimizer``.
    opu_passes : int
        OPU passes per step.
    """

    network: NetworkSpec
    seconds: dict
    energy_j: dict
    memory_bytes: dict
    fits: dict
    parts: dict
    opu_passes: int

    def speedup(self, method: str = "dfa_optical", baseline: str = "bp") -> float:
        """Time of ``baseline`` / time of ``method`` (> 1: ``method`` is faster)."""
        return self.seconds[baseline] / self.seconds[method]


def _groups(n_layers: int, count: int) -> list[list[int]]:
    """Contiguous, balanced assignment of layer indices to min(count, n_layers) GPUs."""
    g = min(count, n_layers)
    return [list(a) for a in np.array_split(np.arange(n_layers), g)]


def step_times(net: NetworkSpec, gpu: GPUModel | None = None, opu: OPUModel | None = None, *, overlap_opu: bool = False) -> StepTimes:
    """Model one training step of ``net`` by BP, digital DFA and optical DFA.

    See the module docstring for the model; all times in seconds.
    """
    gpu = GPUModel() if gpu is None else gpu
    opu = OPUModel() if opu is None else opu
    if not isinstance(net, NetworkSpec) or not isinstance(gpu, GPUModel) or not isinstance(opu, OPUModel):
        raise ValidationError("step_times needs a NetworkSpec, a GPUModel and an OPUModel")
    b = net.batch
    d = net.dims
    n_layers = len(d) - 1
    depth = net.depth
    groups = _groups(n_layers, gpu.count)
    g_used = len(groups)
    bpv = gpu.bytes_per_value

    fwd = [gpu.gemm_s(b, d[l], d[l + 1]) + (gpu.elementwise_s(2.0 * b * d[l + 1]) if l < depth else 0.0) for l in range(n_layers)]
    dw = [gpu.gemm_s(d[l], b, d[l + 1]) for l in range(n_layers)]
    dh = [gpu.gemm_s(b, d[l + 1], d[l]) + gpu.elementwise_s(3.0 * b * d[l]) if l >= 1 else 0.0 for l in range(n_layers)]
    mask_dfa = [gpu.elementwise_s(3.0 * b * d[l + 1]) if l < depth else 0.0 for l in range(n_layers)]
    opt = [gpu.elementwise_s(3.0 * d[l] * d[l + 1]) for l in range(n_layers)]
    boundary = (g_used - 1) * gpu.transfer_s(float(b) * net.width)  # one crossing per group boundary

    forward = sum(fwd) + boundary
    optimizer = max(sum(opt[l] for l in grp) for grp in groups)
    bp_backward = sum(dw) + sum(dh) + boundary

    def units_of(grp):
        return sum(d[l + 1] for l in grp if l < depth)

    bcast_e = gpu.transfer_s(float(b) * net.d_out) if g_used > 1 else 0.0
    dig = []
    opt_gpu = []
    for grp in groups:
        u = units_of(grp)
        proj = gpu.gemm_s(b, net.d_out, u) if u else 0.0
        upd = sum(dw[l] + mask_dfa[l] for l in grp)
        dig.append(proj + upd + sum(opt[l] for l in grp))
        decode = gpu.elementwise_s(float(b) * u * (opu.frames_per_error + 1)) if u else 0.0
        opt_gpu.append(decode + upd + sum(opt[l] for l in grp))
    dfa_digital_backward = bcast_e + max(dig)
    dfa_optical_gpu = max(opt_gpu)
    acquire, transfer = opu.projection_s(b, net.d_out, net.hidden_units)
    opu_s = max(acquire, transfer) + opu.latency_s

    t_bp = forward + bp_backward + optimizer
    t_dig = forward + dfa_digital_backward  # optimizer included per GPU in dig
    if overlap_opu:
        t_opt = max(forward + dfa_optical_gpu, opu_s)
    else:
        t_opt = forward + opu_s + dfa_optical_gpu
    seconds = {"bp": t_bp, "dfa_digital": t_dig, "dfa_optical": t_opt}

    # memory of the busiest GPU
    def mem(grp, with_b: bool) -> float:
        params = sum(d[l] * d[l + 1] for l in grp)
        acts = sum(b * d[l] for l in grp) + sum(b * d[l + 1] for l in grp if l < depth)
        extra = net.d_out * units_of(grp) if with_b else 0
        return float(bpv) * (2.0 * params + acts + extra)

    memory = {
        "bp": max(mem(g, False) for g in groups),
        "dfa_digital": max(mem(g, True) for g in groups),
        "dfa_optical": max(mem(g, False) for g in groups),
    }
    fits = {k: v <= gpu.memory_bytes for k, v in memory.items()}
    p_gpu = gpu.power_w * gpu.count
    energy = {"bp": p_gpu * t_bp, "dfa_digital": p_gpu * t_dig, "dfa_optical": (p_gpu + opu.power_w) * t_opt}
    parts = {
        "forward": forward,
        "bp_backward": bp_backward,
        "dfa_digital_backward": dfa_digital_backward,
        "dfa_optical_gpu": dfa_optical_gpu,
        "opu_acquire": acquire,
        "opu_transfer": transfer,
        "optimizer": optimizer,
    }
    return StepTimes(net, seconds, energy, memory, fits, parts, opu.passes(net.d_out, net.hidden_units))


def crossover_width(
    depth: int,
    *,
    method: str = "dfa_optical",
    baseline: str = "bp",
    gpu: GPUModel | None = None,
    opu: OPUModel | None = None,
    base: NetworkSpec | None = None,
    width_range: tuple[int, int] = (16, 1 << 22),
    overlap_opu: bool = False,
) -> int | None:
    """Smallest hidden width at which ``method`` is at least as fast as ``baseline``.

    Scans a geometric grid of widths over ``width_range`` for the first change from slower
    to faster, then bisects between the two neighbouring integers. Returns ``width_range[0]``
    if ``method`` is already faster there, None if it never is in the range.
    """
    for m in (method, baseline):
        if m not in METHODS:
            raise ValidationError(f"method must be one of {', '.join(METHODS)} (got {m!r})")
    lo_w, hi_w = (check_int(w, "width_range", low=1, error=ValidationError) for w in width_range)
    if hi_w <= lo_w:
        raise ValidationError(f"width_range must be increasing (got {width_range})")
    base = NetworkSpec(width=1, depth=1) if base is None else base
    check_int(depth, "depth", low=1, error=ValidationError)

    def faster(w: int) -> bool:
        st = step_times(replace(base, width=int(w), depth=depth), gpu, opu, overlap_opu=overlap_opu)
        return st.seconds[method] <= st.seconds[baseline]

    grid = np.unique(np.geomspace(lo_w, hi_w, 96).round().astype(np.int64))
    prev = None
    for w in grid:
        if faster(int(w)):
            if prev is None:
                return int(w)
            lo, hi = prev, int(w)  # slower at lo, faster at hi
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if faster(mid):
                    hi = mid
                else:
                    lo = mid
            return hi
        prev = int(w)
    return None


@dataclass(frozen=True)
class ScalingResult:
    """The table and crossovers of :func:`scaling_study`.

    Attributes
    ----------
    rows : list of dict
        One row per (depth, width): sizes, parameters, step time, energy, memory and fit per
        method, speed-up of optical DFA over BP and over digital DFA, OPU passes.
    crossovers : list of dict
        Per depth: ``optical_vs_bp_width`` (smallest width where optical DFA is at least as
        fast as BP), ``optical_vs_digital_width``, ``digital_vs_bp_width``, and
        ``bp_memory_limit_width`` (largest width whose BP step fits on the GPUs), None where
        not reached in the range.
    rate_crossovers : list of dict
        ``optical_vs_bp_width`` per (depth, OPU ``frame_rate_hz``): how the crossover moves
        with a faster OPU.
    settings : dict
        The GPU, OPU, base network and options used.
    """

    rows: list
    crossovers: list
    rate_crossovers: list
    settings: dict

    def to_dict(self) -> dict:
        return {"rows": self.rows, "crossovers": self.crossovers, "rate_crossovers": self.rate_crossovers, "settings": self.settings}


def _memory_limit_width(depth: int, base: NetworkSpec, gpu: GPUModel, opu: OPUModel, lo: int, hi: int) -> int | None:
    """Largest width in [lo, hi] whose BP step fits in GPU memory (memory grows with width)."""

    def fits(w):
        return step_times(replace(base, width=int(w), depth=depth), gpu, opu).fits["bp"]

    if not fits(lo):
        return None
    if fits(hi):
        return hi
    a, b = lo, hi
    while b - a > 1:
        m = (a + b) // 2
        if fits(m):
            a = m
        else:
            b = m
    return a


def scaling_study(
    widths=None,
    depths=(2, 4, 8, 16, 32),
    *,
    gpu: GPUModel | None = None,
    opu: OPUModel | None = None,
    base: NetworkSpec | None = None,
    overlap_opu: bool = False,
    frame_rates_hz=None,
) -> ScalingResult:
    """Step times of BP, digital DFA and optical DFA over a grid of widths and depths.

    Parameters
    ----------
    widths : sequence of int, optional
        Hidden widths (default: powers of two from 2^8 to 2^20).
    depths : sequence of int
        Hidden-layer counts.
    gpu, opu : GPUModel, OPUModel, optional
        Hardware (defaults: see the classes).
    base : NetworkSpec, optional
        d_in, d_out and batch of the networks (width and depth are replaced).
    overlap_opu : bool
        Pipelined OPU (see the module docstring).
    frame_rates_hz : sequence of float, optional
        OPU frame rates for the crossover-vs-rate table (default: the OPU's rate x 1, 10,
        100, 1000).
    """
    gpu = GPUModel() if gpu is None else gpu
    opu = OPUModel() if opu is None else opu
    base = NetworkSpec(width=1, depth=1) if base is None else base
    widths = [2**k for k in range(8, 21)] if widths is None else [check_int(w, "width", low=1, error=ValidationError) for w in widths]
    depths = [check_int(dp, "depth", low=1, error=ValidationError) for dp in depths]
    if not widths or not depths:
        raise ValidationError("scaling_study needs at least one width and one depth")
    rows = []
    for dp in depths:
        for w in widths:
            net = replace(base, width=w, depth=dp)
            st = step_times(net, gpu, opu, overlap_opu=overlap_opu)
            row = {"depth": dp, "width": w, "params": net.n_params, "batch": net.batch, "d_in": net.d_in, "d_out": net.d_out, "opu_passes": st.opu_passes}
            for m in METHODS:
                row[f"{m}_s"] = st.seconds[m]
                row[f"{m}_energy_j"] = st.energy_j[m]
                row[f"{m}_memory_bytes"] = st.memory_bytes[m]
                row[f"{m}_fits"] = st.fits[m]
            row["optical_speedup_vs_bp"] = st.speedup("dfa_optical", "bp")
            row["optical_speedup_vs_digital"] = st.speedup("dfa_optical", "dfa_digital")
            rows.append(row)
    lo, hi = min(widths), max(widths)
    crossovers = []
    for dp in depths:
        kw = dict(gpu=gpu, opu=opu, base=base, width_range=(lo, hi) if hi > lo else (lo, lo + 1), overlap_opu=overlap_opu)
        crossovers.append(
            {
                "depth": dp,
                "optical_vs_bp_width": crossover_width(dp, method="dfa_optical", baseline="bp", **kw),
                "optical_vs_digital_width": crossover_width(dp, method="dfa_optical", baseline="dfa_digital", **kw),
                "digital_vs_bp_width": crossover_width(dp, method="dfa_digital", baseline="bp", **kw),
                "bp_memory_limit_width": _memory_limit_width(dp, base, gpu, opu, kw["width_range"][0], kw["width_range"][1]),
            }
        )
    if frame_rates_hz is None:
        frame_rates_hz = [opu.frame_rate_hz * f for f in (1, 10, 100, 1000)]
    rates = [check_real(r, "frame_rates_hz", low=0.0, low_inclusive=False, unit="Hz", error=ValidationError) for r in frame_rates_hz]
    rate_crossovers = []
    for dp in depths:
        for r in rates:
            kw = dict(gpu=gpu, opu=replace(opu, frame_rate_hz=r), base=base, width_range=(lo, hi) if hi > lo else (lo, lo + 1), overlap_opu=overlap_opu)
            rate_crossovers.append({"depth": dp, "frame_rate_hz": r, "optical_vs_bp_width": crossover_width(dp, **kw)})
    settings = {
        "gpu": asdict(gpu),
        "opu": asdict(opu),
        "base": {k: v for k, v in asdict(base).items() if k not in ("width", "depth")},
        "overlap_opu": bool(overlap_opu),
        "widths": widths,
        "depths": depths,
        "frame_rates_hz": rates,
    }
    return ScalingResult(rows, crossovers, rate_crossovers, settings)


def write_study(result: ScalingResult, out_dir, *, plot: bool = True) -> dict:
    """Write ``scaling.csv``, ``scaling.json`` (table, crossovers, settings) and ``scaling.png``.

    Returns the paths written, by kind. Files are written atomically.
    """
    import csv
    import io as _io
    from pathlib import Path

    from .io import write_json_atomic, write_text_atomic

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"out_dir {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    buf = _io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=list(result.rows[0]))
    wr.writeheader()
    wr.writerows(result.rows)
    paths["csv"] = write_text_atomic(out / "scaling.csv", buf.getvalue())
    paths["json"] = write_json_atomic(out / "scaling.json", result.to_dict())
    if plot:
        from .plotting.throughput_plots import plot_scaling

        paths["png"] = plot_scaling(result, out / "scaling.png")
    return paths

