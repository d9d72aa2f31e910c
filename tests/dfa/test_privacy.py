"""Differential privacy of the optical error projection: the accountant against closed forms and
numerical integration, the sensitivity enumeration, the device noise floor against measured noise."""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from dfa.mechanism.quantize import ErrorQuantizer
from dfa.studies.privacy import (
    RDP_ORDERS,
    compose_mu,
    feedback_privacy,
    gaussian_delta,
    gaussian_epsilon,
    max_sign_norm,
    participations,
    projection_noise,
    rdp_epsilon,
    run_privacy,
)
from photonics import OPU, DeviceConfig
from photonics.errors import ValidationError


def _delta_by_integration(eps, mu):
    """delta(eps) = E[(1 - exp(eps - L))_+], L ~ N(mu^2/2, mu^2) the Gaussian privacy loss."""
    f = lambda l: (1.0 - math.exp(eps - l)) * norm.pdf(l, loc=mu * mu / 2, scale=mu)  # noqa: E731
    val, err = integrate.quad(f, eps, mu * mu / 2 + 40 * mu, epsabs=1e-14, epsrel=1e-10, limit=200)
    return val


@pytest.mark.parametrize("eps,mu", [(0.0, 0.5), (0.5, 1.0), (1.0, 0.3), (2.0, 2.0), (5.0, 3.0), (20.0, 5.0)])
def test_gaussian_delta_matches_the_privacy_loss_integral(eps, mu):
    assert gaussian_delta(eps, mu) == pytest.approx(_delta_by_integration(eps, mu), rel=1e-7, abs=1e-13)


def test_gaussian_epsilon_inverts_delta_and_beats_the_classic_bound():
    for mu in (0.05, 0.3, 1.0, 4.0, 50.0):
        for delta in (1e-3, 1e-5, 1e-9):
            eps = gaussian_epsilon(mu, delta)
            if eps > 0:
                assert gaussian_delta(eps, mu) == pytest.approx(delta, rel=1e-6)
            else:
                assert gaussian_delta(0.0, mu) <= delta
    # Dwork & Roth, Thm A.1: sigma = Delta sqrt(2 ln(1.25/delta)) / eps gives (eps, delta)-DP for eps < 1;
    # the analytic mechanism is exact, hence never worse
    for eps_c in (0.1, 0.5, 0.9):
        for delta in (1e-3, 1e-5):
            mu = eps_c / math.sqrt(2 * math.log(1.25 / delta))
            assert gaussian_epsilon(mu, delta) <= eps_c
    assert gaussian_epsilon(0.0, 1e-5) == 0.0
    assert gaussian_epsilon(math.inf, 1e-5) == math.inf
    # a large mu (a bright, noiseless-looking device) stays finite and ~ mu^2/2 + mu sqrt(2 log(1/delta))
    mu = 3000.0
    assert gaussian_epsilon(mu, 1e-5) == pytest.approx(mu * mu / 2 + mu * math.sqrt(2 * math.log(1e5)), rel=1e-3)


def test_rdp_accountant_against_its_closed_form_optimum_and_the_exact_composition():
    for mu, k, delta in [(0.1, 100, 1e-5), (0.5, 30, 1e-5), (1.0, 10, 1e-6), (0.05, 1000, 1e-5)]:
        eps_rdp, order = rdp_epsilon(mu, k, delta)
        # min over real alpha > 1 of k alpha mu^2 / 2 + log(1/delta) / (alpha - 1)
        r = k * mu * mu
        closed = r / 2 + math.sqrt(2 * r * math.log(1 / delta))
        assert order == pytest.approx(1 + math.sqrt(2 * math.log(1 / delta) / r), rel=0.05)
        assert closed <= eps_rdp <= closed * (1 + 1e-3)
        # RDP is an upper bound of the exact composition (k Gaussian mechanisms = one with sqrt(k) mu)
        exact = gaussian_epsilon(compose_mu(mu, k), delta)
        assert exact <= eps_rdp
    assert compose_mu(0.3, 16) == pytest.approx(1.2)
    assert RDP_ORDERS.min() > 1


def test_max_sign_norm_is_the_maximum_over_the_clipping_box():
    g = np.random.default_rng(7)
    w = g.standard_normal((12, 6))
    best, how = max_sign_norm(w)
    assert how.startswith("exact")
    brute = max(np.linalg.norm(w @ np.array(s)) for s in itertools.product((-1, 1), repeat=6))
    assert best == pytest.approx(brute, rel=1e-12)
    # no point of the box [-1, 1]^n does better (convexity: the max is at a vertex)
    box = g.uniform(-1, 1, size=(2000, 6))
    assert np.linalg.norm(box @ w.T, axis=1).max() <= best + 1e-12
    # above the enumeration limit: the bound sqrt(n) ||W||_2 is >= the exact value
    import dfa.studies.privacy as priv

    lim = priv.EXACT_ENUMERATION_MAX_N
    try:
        priv.EXACT_ENUMERATION_MAX_N = 3
        bound, how2 = priv.max_sign_norm(w)
    finally:
        priv.EXACT_ENUMERATION_MAX_N = lim
    assert how2.startswith("bound") and bound >= best


def _device(**over):
    base = {"n_in": 6, "n_out": 64, "camera.quantize": False, "camera.prnu": 0.0, "camera.dark_current_sd_e_per_s": 0.0,
            "camera.offset_sd_dn": 0.0}
    base.update(over)
    return DeviceConfig.preset("lab-cmos", **base)


def test_noise_floor_equals_the_measured_noise_without_shot_noise():
    cfg = _device(**{"camera.shot_noise": False, "camera.read_noise_e": 5.0})
    opu = OPU(cfg, seed=3)
    pn = projection_noise(opu)
    assert np.allclose(pn.sigma_floor_e, math.sqrt(2) * 5.0)  # two camera frames, read noise only
    assert np.allclose(pn.sigma_floor_e, pn.sigma_typical_e)
    n_rep = 400
    x = np.array([1, 0, 1, 1, 0, 0], dtype=np.uint8)
    y = opu.linear(np.tile(x, (n_rep, 1))).astype(np.float64)
    norm_k = opu.reference_calibration.normalisation("exact").astype(np.float64)
    sigma_y = pn.sigma_floor_e / (cfg.camera.gain_e_per_dn * norm_k)
    ratio = y.var(axis=0, ddof=1) / sigma_y**2  # each ~ chi2(n-1)/(n-1): mean 1, sd sqrt(2/(n-1))
    se = math.sqrt(2 / (n_rep - 1)) / math.sqrt(ratio.size)
    assert abs(ratio.mean() - 1) < 5 * se, (ratio.mean(), se)
    # W is the linear signal 2 G s Re(conj(u) alpha T) [DN] in units of the floor [e-] (normalisation-free)
    gs = opu.pixel_gain_dn_per_field2()
    signal_dn = 2 * gs[:, None] * np.real(np.conj(opu.reference_field())[:, None] * opu.modulator.alpha * opu.transmission_matrix)
    assert np.allclose(pn.snr_matrix, signal_dn * cfg.camera.gain_e_per_dn / pn.sigma_floor_e[:, None], rtol=1e-5)
    # and the measured mean is that signal plus the reference calibration's offset Z - Z_hat
    blank = np.zeros((1, 6), dtype=np.uint8)
    z_true = opu.camera.gain_dn_per_w() * (opu.optical_power(blank, reference=True)[0] - opu.optical_power(blank, reference=False)[0])
    mean_dn = y.mean(axis=0) * norm_k
    expect_dn = signal_dn @ x + z_true - opu.reference_calibration.z_dn
    sd_dn = pn.sigma_floor_e / cfg.camera.gain_e_per_dn
    assert np.all(np.abs(mean_dn - expect_dn) < 5 * sd_dn / math.sqrt(n_rep) + 1e-3 * np.abs(expect_dn))


def test_noise_floor_is_below_the_measured_noise_with_shot_noise():
    cfg = _device(**{"laser.power_w": 2e-11})  # ~100 photons per pixel: far from the full well
    opu = OPU(cfg, seed=4)
    pn = projection_noise(opu)
    assert pn.min_intensity_method == "enumeration"
    assert np.all(pn.sigma_floor_e <= pn.sigma_typical_e + 1e-12)
    assert np.median(pn.sigma_floor_e / pn.sigma_typical_e) < 0.95  # shot noise makes the typical noise larger
    n_rep = 300
    g = np.random.default_rng(5)
    norm_k = None
    ratios = []
    for _ in range(4):
        x = (g.random(6) < 0.5).astype(np.uint8)
        x[0] = 1
        y = opu.linear(np.tile(x, (n_rep, 1))).astype(np.float64)
        norm_k = opu.reference_calibration.normalisation("exact").astype(np.float64)
        sigma_y = pn.sigma_floor_e / (cfg.camera.gain_e_per_dn * norm_k)
        ratios.append(y.var(axis=0, ddof=1) / sigma_y**2)
    ratios = np.concatenate(ratios)
    # every pixel's variance is at least the floor, up to the sampling spread of a variance
    assert np.all(ratios > 1 - 6 * math.sqrt(2 / (n_rep - 1)))


def test_privacy_report_behaves_physically():
    q = ErrorQuantizer("ternary", 0.35)
    r_dim = feedback_privacy(OPU(_device(**{"laser.power_w": 1e-12}), seed=1), q, participations=10)
    r_bright = feedback_privacy(OPU(_device(**{"laser.power_w": 1e-10}), seed=1), q, participations=10)
    r_noisy = feedback_privacy(OPU(_device(**{"laser.power_w": 1e-10, "camera.read_noise_e": 30.0}), seed=1), q, participations=10)
    for r in (r_dim, r_bright, r_noisy):
        assert r.applicable and r.sensitivity_method.startswith("exact")
        assert r.mu_step == pytest.approx(r.sensitivity_signal + r.calibration_offset)
        assert r.mu_total == pytest.approx(r.mu_step * math.sqrt(10))
        assert r.epsilon_step <= r.epsilon_total <= r.epsilon_total_rdp
    # more light: more signal over the same read-noise floor; more read noise: more privacy
    assert r_bright.sensitivity_signal > 10 * r_dim.sensitivity_signal
    assert r_noisy.epsilon_total < r_bright.epsilon_total
    # bit planes display |q| up to 2^n - 1: the clipping bound scales with it
    r_bits = feedback_privacy(OPU(_device(**{"laser.power_w": 1e-10}), seed=1), ErrorQuantizer("bitplanes", n_bits=3), participations=10)
    assert r_bits.clip_levels == 7
    assert r_bits.sensitivity_signal == pytest.approx(7 * r_bright.sensitivity_signal, rel=1e-9)
    # JSON round trip keeps infinities
    d = r_bright.to_dict()
    assert type(r_bright).from_dict(d) == r_bright


def test_privacy_not_applicable_or_infinite_where_it_must_be():
    q = ErrorQuantizer()
    r = feedback_privacy(OPU(_device(), seed=0), q, participations=3, dedupe=True)
    assert not r.applicable and "dedupe" in r.reason and r.epsilon_step is None
    ideal = DeviceConfig.preset("ideal", n_in=6, n_out=64)
    r = feedback_privacy(OPU(ideal, seed=0), q, participations=3)
    assert r.applicable and math.isinf(r.epsilon_step) and math.isinf(r.epsilon_total)
    strong = _device(**{"reference.scheme": "strong-reference"})
    r = feedback_privacy(OPU(strong, seed=0), q, participations=3)
    assert not r.applicable and "exact" in r.reason
    used = OPU(_device(), seed=0)
    used.calibrate_reference()
    with pytest.raises(ValidationError, match="fresh OPU"):
        feedback_privacy(used, q, participations=3)
    with pytest.raises(ValidationError, match="delta"):
        feedback_privacy(OPU(_device(), seed=0), q, participations=3, delta=0.0)


def test_participations_rule():
    assert participations("classification", 90, 45)[0] == 2
    assert participations("classification", 91, 45)[0] == 3
    assert participations("node-classification", 200, 1)[0] == 200
    assert participations("language-model", 10, 10)[0] is None


def test_run_privacy_of_a_training_run():
    from dfa import make_config, train_method
    from dfa.zoo.data import load_dataset

    data = load_dataset("digits")
    cfg = make_config("digits", epochs=3, max_steps=50, batch_size=64, model_options={"hidden": [16]}, align_every=0,
                      methods=("dfa", "optical-dfa"), feedback={"dedupe": False})
    r = train_method(cfg, "optical-dfa", progress=False, data=data)
    rep = run_privacy(cfg, r, data, delta=1e-6)
    spe = math.ceil(len(data.y_train) / 64)  # 23 steps per epoch: 50 steps touch a sample 3 times
    assert r.steps == 50 and rep.applicable and rep.participations == math.ceil(50 / spe) == 3 and rep.delta == 1e-6
    assert rep.n_error == 10 and rep.clip_levels == 1
    assert run_privacy(cfg, train_method(cfg, "dfa", progress=False, data=data), data) is None


def test_privacy_command_on_a_train_run_folder(tmp_path, capsys):
    import json

    from dfa.cli import main

    run = tmp_path / "run"
    argv = ["train", "--epochs", "2", "--max-steps", "30", "--batch-size", "64", "--model-option", "hidden=[8]", "--no-dedupe",
            "--methods", "dfa,optical-dfa", "--align-every", "0", "--out", str(run), "--no-plots", "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["privacy", str(run), "--json", "--delta", "1e-7"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert list(reports) == ["optical-dfa"]
    r = reports["optical-dfa"]
    assert r["applicable"] and r["delta"] == 1e-7 and r["participations"] == 2  # 30 steps of 23 per epoch
    assert r["epsilon_step"] == pytest.approx(gaussian_epsilon(r["mu_step"], 1e-7), rel=1e-9)
    assert r["epsilon_total"] == pytest.approx(gaussian_epsilon(r["mu_step"] * math.sqrt(2), 1e-7), rel=1e-9)
    assert main(["privacy", str(run)]) == 0
    assert "per step" in capsys.readouterr().out
    assert main(["privacy", str(tmp_path / "nothing")]) == 2
    assert "run folder written by dfa train" in capsys.readouterr().err


def test_measured_blank_frames_remove_the_calibration_term():
    """With every frame measured (feedback.blank_frames = "measure") the calibration offset
    cancels in each output, so the sensitivity is the signal term alone."""
    q = ErrorQuantizer("ternary", 0.35)
    skip = feedback_privacy(OPU(_device(**{"laser.power_w": 1e-10}), seed=1), q, participations=10)
    measure = feedback_privacy(OPU(_device(**{"laser.power_w": 1e-10}), seed=1), q, participations=10, blank_frames="measure")
    assert skip.calibration_offset > 0 and measure.calibration_offset == 0
    assert measure.sensitivity_signal == pytest.approx(skip.sensitivity_signal)
    assert measure.mu_step == pytest.approx(measure.sensitivity_signal) and measure.epsilon_step < skip.epsilon_step
    with pytest.raises(ValidationError, match="blank_frames"):
        feedback_privacy(OPU(_device(), seed=1), q, participations=1, blank_frames="sometimes")
