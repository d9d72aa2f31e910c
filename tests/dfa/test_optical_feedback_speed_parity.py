"""The lean optical-DFA step gives the numbers of the step it replaced, bit for bit.

The reference here is the provider's earlier algorithm, written out independently in this file
from the public pieces it used (the quantizer's ``__call__``, ``quantizer.encoder()``,
``np.unique(rows, axis=0)``, ``OPU.linear`` and a Python loop that decodes frame by frame):
with ``blank_frames="skip"`` and ``gain_rule="signal"`` the fused, deduplicated, numba-decoded
step must return the same float32 bits, display the same frames in the same order (hence the
same camera noise) and leave the device in the same state. The torch backend on a CPU device
must return the numpy backend's bits in every mode. Small sizes: the whole file runs in seconds.
"""

import itertools
import math

import numpy as np
import pytest
import torch

from dfa.mechanism.feedback import FeedbackConfig, OpticalFeedback, StochasticQuantizer, decode_rows
from dfa.mechanism.quantize import ErrorQuantizer, pairwise_row_sum_torch
from photonics import OPU, DeviceConfig
from photonics.encoding import TernaryEncoder
from photonics.rng import generator


class LegacyOptical:
    """The optical feedback step before issue 20 (calibration, quantisation, encoding, decoding)."""

    def __init__(self, opu, quantizer, *, scale=1.0, rescale="probes", n_probes=8, dedupe=True, probe_seed=0, rounding_seed=0):
        self.opu, self.quantizer, self.scale, self.rescale = opu, quantizer, scale, rescale
        self.n_probes, self.dedupe, self.probe_seed, self.rounding_seed = n_probes, dedupe, probe_seed, rounding_seed
        self.encoder = quantizer.encoder()
        self.gain = None
        self.projections = 0
        self.frames_displayed = 0

    def calibrate(self):
        g = generator(self.probe_seed, "dfa", "feedback", "probes")
        p = g.choice(np.array([-1, 0, 1], dtype=np.int8), size=(self.n_probes, self.opu.n_in), p=[0.25, 0.5, 0.25])
        p[~p.any(axis=1), 0] = 1
        y1 = self.opu.linear(p, encoder=TernaryEncoder(0.0)).astype(np.float64)
        y2 = self.opu.linear(p, encoder=TernaryEncoder(0.0)).astype(np.float64)
        c2 = float(np.sum(y1 * y2)) / (self.opu.n_out * float(np.sum(p.astype(np.float64) ** 2)))
        self.gain = self.scale / math.sqrt(self.opu.n_in) / math.sqrt(c2)

    def measure(self, q):
        frames = self.encoder.encode(q)
        n_f, m, n = frames.shape
        flat = frames.reshape(n_f * m, n)
        shown = np.flatnonzero(flat.any(axis=1))
        if self.dedupe:
            uniq, inverse = np.unique(flat[shown], axis=0, return_inverse=True)
            measured, rows = self.opu.linear(uniq), inverse.reshape(-1)
        else:
            measured, rows = self.opu.linear(flat[shown]), np.arange(shown.size)
        self.frames_displayed += measured.shape[0]
        block = np.zeros((measured.shape[0] + 1, self.opu.n_out), dtype=np.float32)
        block[:-1] = measured
        code = np.full(n_f * m, measured.shape[0])
        code[shown] = rows
        code = code.reshape(n_f, m)
        unit = np.eye(n_f, dtype=np.float32)[:, :, None]
        weights = self.encoder.decode(unit)[:, 0].astype(np.float64)
        out = np.zeros((m, self.opu.n_out), dtype=np.float32)
        for f, w in enumerate(weights):
            out += np.float32(w) * block[code[f]]
        return out

    def project(self, error):
        e = error.to(dtype=torch.float64).numpy()
        if isinstance(self.quantizer, StochasticQuantizer):
            q, a = self.quantizer(e, rng=generator(self.rounding_seed, "dfa", "feedback", "rounding", str(self.projections)))
        else:
            q, a = self.quantizer(e)
        self.projections += e.shape[0]
        active = a > 0
        out = np.zeros((e.shape[0], self.opu.n_out), dtype=np.float32)
        if not active.any():
            return torch.from_numpy(out).to(error.dtype)
        if self.rescale == "probes" and self.gain is None:
            self.calibrate()
        y = self.measure(q[active])
        if self.rescale == "probes":
            row = a[active] * self.gain
        else:
            rms = np.sqrt(np.mean(np.square(y, dtype=np.float64), axis=1))
            target = self.scale * np.sqrt((q[active].astype(np.float64) ** 2).sum(axis=1) / self.opu.n_in)
            row = a[active] * target / np.where(rms > 0, rms, 1.0)
        y *= row.astype(np.float32)[:, None]
        out[active] = y
        return torch.from_numpy(out).to(error.dtype)


def _errors(n_in, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for step in range(3):
        e = torch.randn(21, n_in, generator=g) * 0.1
        e[[2, 7]] = 0.0  # no error: no frame
        e[3] = 0.0
        e[3, 1] = -0.5  # one sign only: the other frame is blank
        if step == 1:
            e = e.double()
        out.append(e)
    out.append(torch.zeros(4, n_in))
    return out


def _bits(t):
    return t.numpy().view(np.uint8)


VARIANTS = [
    # (preset, n_in, n_out, encoding, rounding, dedupe, rescale)
    ("lab-cmos", 10, 48, "ternary", "nearest", True, "probes"),
    ("lab-cmos", 10, 48, "ternary", "nearest", False, "probes"),
    ("lab-cmos", 10, 48, "bitplanes", "nearest", True, "probes"),
    ("lab-cmos", 10, 48, "bitplanes", "stochastic", True, "probes"),
    ("lab-cmos", 10, 48, "bitplanes", "stochastic", False, "per-projection"),
    ("lab-cmos", 10, 48, "ternary", "nearest", True, "per-projection"),
    ("lab-cmos", 70, 24, "ternary", "nearest", True, "probes"),  # rows of > 64 mirrors: other dedupe keys
    ("ideal", 3, 20, "bitplanes", "nearest", True, "probes"),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v)))
def test_lean_step_equals_the_earlier_step_bit_for_bit(variant):
    preset, n_in, n_out, enc, rounding, dedupe, rescale = variant
    cfg = DeviceConfig.preset(preset, n_in=n_in, n_out=n_out)
    qz = FeedbackConfig(encoding=enc, rounding=rounding, n_bits=3).quantizer()
    ref = LegacyOptical(OPU(cfg, seed=4), qz, dedupe=dedupe, rescale=rescale, probe_seed=1, rounding_seed=2)
    fb = OpticalFeedback(OPU(cfg, seed=4), quantizer=qz, dedupe=dedupe, rescale=rescale, n_probes=8, probe_seed=1, rounding_seed=2,
                         backend="numpy", blank_frames="skip", gain_rule="signal")
    for e in _errors(n_in, 0):
        y_ref, y = ref.project(e), fb.project(e)
        assert y.dtype == y_ref.dtype == e.dtype
        assert np.array_equal(_bits(y), _bits(y_ref))
    # same frames, in the same order: the device's clock and noise stream are where they were
    assert fb.opu.frames_used == ref.opu.frames_used and fb.frames_displayed == ref.frames_displayed
    x = (np.random.default_rng(0).random((3, n_in)) < 0.5).astype(np.uint8)
    assert np.array_equal(fb.opu.linear(x), ref.opu.linear(x))


@pytest.mark.parametrize("blank,rule,dedupe,enc", list(itertools.product(("measure", "skip"), ("snr", "signal"), (True, False),
                                                                          ("ternary", "bitplanes", "bitplanes-nearest"))))
def test_torch_backend_on_cpu_equals_numpy_bit_for_bit(blank, rule, dedupe, enc):
    """Every mode: the torch path (quantise, encode, dedupe, TorchOPU, decode, gain, gate) gives numpy's bits."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=10, n_out=40, camera__read_noise_e=60.0)
    rounding = "stochastic" if enc == "bitplanes" else "nearest"
    qz = FeedbackConfig(encoding=enc.split("-")[0], n_bits=2, rounding=rounding).quantizer()
    # a gate threshold near this device's signal fraction (~0.6): some variants run with it open, some closed
    kw = dict(quantizer=qz, dedupe=dedupe, n_probes=6, blank_frames=blank, gain_rule=rule, min_signal_fraction=0.62)
    a = OpticalFeedback(OPU(cfg, seed=9), backend="numpy", **kw)
    b = OpticalFeedback(OPU(cfg, seed=9), backend="torch", **kw)
    for e in _errors(10, 3):
        assert np.array_equal(_bits(a.project(e)), _bits(b.project(e)))
    assert a.opu.frames_used == b.opu.frames_used and a.frames_displayed == b.frames_displayed
    assert a.gated_projections == b.gated_projections
    sa, sb = a.state_dict()["_extra_state"], b.state_dict()["_extra_state"]
    assert sa["signal_fraction_average"] == sb["signal_fraction_average"] and sa["gate_open"] == sb["gate_open"]


def test_fused_planes_are_the_encoders_frames():
    """planes() / planes_torch() == encoder().encode(quantizer(e)), magnitudes and |q|^2 included."""
    rng = np.random.default_rng(5)
    e = rng.normal(size=(40, 13)) * np.exp(rng.uniform(-3, 3, size=(40, 1)))
    e[4] = 0.0
    e[5, :] = 0.0
    e[5, 3] = 2.0
    u = rng.random(e.shape)
    for qz in (ErrorQuantizer("ternary", 0.0), ErrorQuantizer("ternary", 0.35), ErrorQuantizer("bitplanes", n_bits=1),
               ErrorQuantizer("bitplanes", n_bits=3), ErrorQuantizer("bitplanes", n_bits=8), StochasticQuantizer("bitplanes", n_bits=2)):
        if isinstance(qz, StochasticQuantizer):
            q, s = qz._levels_numpy(e, np.where(np.abs(e).max(1) > 0, np.abs(e).max(1), 1.0), u), None
            _, s = ErrorQuantizer("bitplanes", n_bits=2)(e)
        else:
            q, s = qz(e)
        ref_frames = qz.encoder().encode(q)
        frames, a, q2 = qz.planes(e, u)
        assert frames.dtype == np.uint8 and np.array_equal(frames, ref_frames)
        assert np.array_equal(a.view(np.uint64), s.view(np.uint64)) and np.array_equal(q2, (q.astype(np.float64) ** 2).sum(1))
        # q = sum_f w_f frame_f
        assert np.array_equal(np.tensordot(qz.plane_weights, frames.astype(np.float64), axes=1), q)
        ft, at, q2t = qz.planes_torch(torch.from_numpy(e), torch.from_numpy(u))
        assert np.array_equal(ft.numpy().astype(np.uint8), frames)
        assert np.array_equal(at.numpy().view(np.uint64), a.view(np.uint64)) and np.array_equal(q2t.numpy(), q2)


@pytest.mark.parametrize("n", [1, 5, 7, 8, 9, 10, 16, 23, 96, 128, 129, 200, 256, 1000, 2048])
def test_pairwise_row_sum_is_numpys_sum(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(7, n)) * np.exp(rng.uniform(-30, 30, size=(7, n)))  # magnitudes far apart: order matters
    assert np.array_equal(pairwise_row_sum_torch(torch.from_numpy(x)).numpy(), x.sum(axis=1))


def test_decode_kernel_is_the_frame_loop():
    rng = np.random.default_rng(1)
    measured = rng.normal(size=(9, 700)).astype(np.float32) * 1e3
    code = rng.integers(-1, 9, size=(6, 50))
    w = np.array([1.0, 2.0, 4.0, -1.0, -2.0, -4.0])
    row = rng.random(50) * 3
    rows = rng.permutation(60)[:50]
    out = np.full((60, 700), 7.0, dtype=np.float32)
    decode_rows(measured, code, w, row, rows, out)
    block = np.concatenate([measured, np.zeros((1, 700), np.float32)])
    ref = np.zeros((50, 700), dtype=np.float32)
    for f in range(6):
        ref += np.float32(w[f]) * block[code[f]]
    ref *= row.astype(np.float32)[:, None]
    assert np.array_equal(out[rows], ref)
    untouched = np.setdiff1d(np.arange(60), rows)
    assert np.all(out[untouched] == 7.0)
    big = np.zeros((60, 3000), dtype=np.float32)  # the parallel kernel (same numbers)
    m2 = np.tile(measured, (1, 5))[:, :3000].copy()
    decode_rows(m2, code, w, row, rows, big)
    ref2 = np.zeros((50, 3000), dtype=np.float32)
    block2 = np.concatenate([m2, np.zeros((1, 3000), np.float32)])
    for f in range(6):
        ref2 += np.float32(w[f]) * block2[code[f]]
    assert np.array_equal(big[rows], ref2 * row.astype(np.float32)[:, None])


@pytest.mark.parametrize("n", [1, 3, 7, 8, 10, 17, 64])
def test_ternary_kernel_equals_the_fused_planes(n):
    """The one-pass numba ternary encoder: the frames behind its keys, its magnitudes and |q|^2 are planes()'s,
    bit for bit, and its keys sort like the rows (the display order)."""
    from dfa.mechanism.feedback import _frame_keys_numpy

    rng = np.random.default_rng(n)
    e = rng.normal(size=(300, n)) * np.exp(rng.uniform(-5, 5, size=(300, n)))
    e[0] = 0.0
    e[1, :] = 0.35  # on the threshold exactly: v = 1 > thr, and equal magnitudes
    for thr in (0.0, 0.35, 0.9):
        qz = ErrorQuantizer("ternary", thr)
        keys, a, q2 = qz.ternary_keys(e)
        frames, a_ref, q2_ref = qz.planes(e)
        bits = ((keys[..., None] >> np.arange(63, 63 - n, -1, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
        assert np.array_equal(bits, frames)
        assert np.array_equal(a.view(np.uint64), a_ref.view(np.uint64)) and np.array_equal(q2, q2_ref)
        flat = frames.reshape(-1, n)
        assert np.array_equal(np.argsort(keys.reshape(-1), kind="stable"), np.argsort(_frame_keys_numpy(flat), kind="stable"))


@pytest.mark.parametrize("skip_blank,dedupe", list(itertools.product((False, True), (False, True))))
def test_display_plan_is_the_unique_of_the_rows(skip_blank, dedupe):
    """The numba display plan: frames shown (rebuilt from their keys) and the code of every key, against
    np.unique(rows, axis=0) on the unpacked frames (the order and rows the provider displayed before)."""
    from dfa.mechanism.feedback import _display_plan

    rng = np.random.default_rng(5)
    n = 13
    rows = (rng.random((200, n)) < 0.2).astype(np.uint8)
    rows[::7] = 0  # blank frames
    rows[1::9] = rows[3]  # repeats
    keys = (rows.astype(np.uint64) << np.arange(63, 63 - n, -1, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    frames, code = _display_plan(keys, skip_blank, dedupe, n)
    shown = np.flatnonzero(rows.any(axis=1)) if skip_blank else np.arange(200)
    want_code = np.full(200, -1)
    if dedupe:
        uniq, inverse = np.unique(rows[shown], axis=0, return_inverse=True)
        want_frames, want_code[shown] = uniq, inverse.reshape(-1)
    else:
        want_frames, want_code[shown] = rows[shown], np.arange(shown.size)
    assert frames.dtype == np.uint8 and np.array_equal(frames, want_frames)
    assert np.array_equal(code, want_code)


def test_ternary_display_is_keys_then_plan():
    """The fused ternary pass: idx = rows with a > 0, their a and |q|^2 from ternary_keys, and the plan of their keys."""
    from dfa.mechanism.feedback import _display_plan, _fused_display

    rng = np.random.default_rng(8)
    e = rng.normal(size=(40, 10))
    e[[3, 17]] = 0.0
    e[5] = 0.0
    e[5, 2] = 0.4  # one sign only
    for skip in (False, True):
        idx, frames, code, a, q2 = _fused_display(e, True, 0.35, 3, 7.0, skip, True)
        keys, a_ref, q2_ref = ErrorQuantizer("ternary", 0.35).ternary_keys(e)
        act = np.flatnonzero(a_ref > 0)
        assert np.array_equal(idx, act) and np.array_equal(a, a_ref[act]) and np.array_equal(q2, q2_ref[act])
        f_ref, c_ref = _display_plan(np.ascontiguousarray(keys[:, act].reshape(-1)), skip, True, 10)
        assert np.array_equal(frames, f_ref) and np.array_equal(code, c_ref.reshape(2, act.size))


@pytest.mark.parametrize("n_bits", [1, 3, 8])
def test_bitplane_display_is_planes_then_plan(n_bits):
    """The fused bit-plane pass: idx = rows with s > 0, their s and |q|^2, the frames and the code of
    ErrorQuantizer.planes followed by the sort keys of its frames and the plan (ties of rint included)."""
    from dfa.mechanism.feedback import _display_plan, _frame_keys_numpy, _fused_display

    rng = np.random.default_rng(9)
    qz = ErrorQuantizer("bitplanes", n_bits=n_bits)
    for n in (1, 10, 64):
        e = rng.normal(size=(50, n)) * np.exp(rng.uniform(-4, 4, size=(50, 1)))
        e[[3, 17]] = 0.0
        if n >= 4:
            e[6] = 0.0
            e[6, :4] = [8.0, 4.0, -4.0, 2.0]  # e / max|e| = +-1/2: q = +-levels / 2, a tie of rint (levels is odd)
            e[7] = -np.abs(e[7])  # one sign only
        frames_ref, s_ref, q2_ref = qz.planes(e)
        act = np.flatnonzero(s_ref > 0)
        keys = _frame_keys_numpy(frames_ref[:, act].reshape(-1, n)).astype(np.uint64)
        for skip, dedupe in itertools.product((False, True), (False, True)):
            idx, frames, code, s, q2 = _fused_display(e, False, 0.35, n_bits, float(qz.levels), skip, dedupe)
            assert np.array_equal(idx, act) and np.array_equal(s, s_ref[act]) and np.array_equal(q2, q2_ref[act])
            f_ref, c_ref = _display_plan(np.ascontiguousarray(keys), skip, dedupe, n)
            assert np.array_equal(frames, f_ref) and np.array_equal(code, c_ref.reshape(2 * n_bits, act.size))


@pytest.mark.parametrize("per_row", [False, True])
def test_snr_factor_kernel_is_the_numpy_expression(per_row):
    """h_i a_i = a g sqrt(v), v = S / (S + sigma^2 n), and the gate on np.mean(v): the numba pass returns
    the numpy expressions' bits, for batches below and above numpy's pairwise block (128)."""
    from dfa.mechanism.feedback import _NO_ROWS, GATE_CALLS, _snr_gate_rows

    rng = np.random.default_rng(2)
    for m in (7, 128, 300, 1000):
        a = rng.random(m) * np.exp(rng.uniform(-9, 3, m))
        q2 = rng.integers(1, 11, m).astype(np.float64)
        nw = rng.integers(1, 3, m).astype(np.float64) if per_row else 2.0
        c2, noise_var, gain = 0.37, rng.uniform(1e-3, 1.0), 3.3
        s = c2 * q2
        v_ref = s / (s + noise_var * nw)
        row_ref = a * gain * np.sqrt(v_ref)
        r = float(np.mean(v_ref))
        args = (a, q2, c2, noise_var, gain, nw if per_row else _NO_ROWS, 0.0 if per_row else nw)
        row, avg, is_open = _snr_gate_rows(*args, 0.0, np.nan, True)  # no gate
        assert np.array_equal(row, row_ref) and is_open
        row, avg, is_open = _snr_gate_rows(*args, 0.1, np.nan, True)  # first call: rho = r
        assert avg == r and is_open == (r >= 0.1)
        for prev, was in ((0.3, True), (0.3, False), (0.05, True)):
            want = prev + (r - prev) / GATE_CALLS
            want_open = want >= (0.1 if was else 0.2)
            row, avg, is_open = _snr_gate_rows(*args, 0.1, prev, was)
            assert avg == want and is_open == want_open
            assert np.array_equal(row, row_ref if want_open else row_ref * 0.0)


@pytest.mark.parametrize("n", [1, 7, 8, 127, 128, 129, 136, 255, 256, 1000, 4097, 20000])
def test_pairwise_sum_kernel_is_numpys_sum(n):
    from dfa.mechanism.feedback import _pairwise_sum

    x = np.random.default_rng(n).normal(size=n) * np.exp(np.random.default_rng(n + 1).uniform(-30, 30, n))
    assert _pairwise_sum(x, n) == np.add.reduce(x)
