"""Reference calibration for linear mode: |u|^2, the error budget of both schemes, strength."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import ReferenceCharacterization, characterize_reference, choose_reference_fraction
from photonics.calibration.reference import reference_truth
from photonics.errors import CalibrationError, ValidationError

#: The lab estimates rest on model relations (speckle statistics, sqrt(t) scaling of the
#: linear outputs, the leak correction): they must agree with the truth to this fraction.
REL_TOL = 0.15


@pytest.fixture(scope="module")
def lab():
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=256, n_out=512), seed=2)
    c = characterize_reference(opu, n_inputs=64, seed=1)
    return opu, c, reference_truth(opu, c, seed=1)


def test_estimated_errors_match_truth(lab):
    opu, c, truth = lab
    for scheme in ("exact", "strong-reference"):
        est = c.relative_error(scheme)
        assert abs(est.value / truth[scheme] - 1) < REL_TOL, (scheme, est, truth[scheme])
    # the budget adds up, and with 8-bit clipping the clipping term is a large part of it
    parts = np.sqrt(c.noise_exact.value**2 + c.calibration_exact.value**2 + c.clipping_exact.value**2)
    assert abs(parts - c.relative_error_exact.value) < 1e-9
    assert c.saturated_fraction.value > 0.01 and c.clipping_exact.value > 0.1
    # strong reference at half the modes: the |Tx|^2 term dominates (|u|^2 ~ |Tx|^2 here)
    assert c.quadratic_strong.value > 0.5 and c.relative_error_strong.value > c.relative_error_exact.value


def test_reference_level_matches_truth(lab):
    opu, c, _ = lab
    cfg = opu.config
    t = opu.device_time_s
    leak = opu.modulator.beta * opu.medium.column_sum(slice(0, cfg.n_in), time_s=t)
    ref = opu.medium.column_sum(slice(cfg.n_in, cfg.n_modes_total), time_s=t)
    c_on = leak + opu.modulator.reference_amplitude(True) * ref
    c_off = leak + opu.modulator.reference_amplitude(False) * ref
    z_true = opu.pixel_gain_dn_per_field2(c.exposure_s) * (np.abs(c_on) ** 2 - np.abs(c_off) ** 2)
    # per pixel: the measured Z is within its own standard error (clipped pixels excepted)
    ok = c.r_dn < opu.config.camera.max_dn - 5
    z_err = (c.z_dn - z_true)[ok] / c.z_se_dn[ok]
    assert abs(np.mean(z_err)) < 0.2 and 0.7 < np.std(z_err) < 1.3
    assert abs(c.reference_level_median_dn.value - np.median(z_true)) < 4 * c.reference_level_median_dn.uncertainty


def test_ideal_device_exact_scheme_is_exact():
    opu = OPU(DeviceConfig.preset("ideal", n_in=128, n_out=256), seed=2)
    c = characterize_reference(opu, n_inputs=32)
    truth = reference_truth(opu, c)
    assert c.relative_error_exact.value < 1e-5 and truth["exact"] < 1e-5
    # the strong-reference error remains: |T x|^2 / (2 |u|), estimated from the additivity test
    assert abs(c.relative_error_strong.value / truth["strong-reference"] - 1) < REL_TOL


@pytest.mark.parametrize(
    "name, over, n_in, n_out",
    [
        ("gaussian", {}, 128, 256),
        ("filtered-random", {"medium.model": "filtered-random"}, 128, 256),
        ("fiber, mode basis, weak", {"medium.model": "fiber", "medium.core_radius_m": 10e-6, "medium.output_basis": "modes",
                                     "medium.deformation_rms": 3e-4, "medium.mode_dependent_loss_db": 3.0}, 68, 68),
        ("fiber, pixels, strong", {"medium.model": "fiber", "medium.core_radius_m": 10e-6, "medium.deformation_rms": 3e-3,
                                   "medium.bend_curvature_rms_per_m": 30.0, "medium.perturbation_correlation_m": 1e-4,
                                   "medium.mode_dependent_loss_db": 10.0}, 128, 256),
    ],
)
def test_strong_reference_estimate_free_of_the_gaussian_assumption(name, over, n_in, n_out):
    """Acceptance: the strong-reference error estimate is within 5 % of the truth on Gaussian,
    filtered-random-matrix and fiber media (it was 22 % low on a fiber with the additivity test,
    which assumed circular Gaussian fields). The truth is measured on 512 fresh inputs; the
    tolerance is 5 % or 4 combined standard errors, whichever is larger (measured: within 3 %)."""
    from photonics.calibration import choose_exposure

    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=n_in, n_out=n_out).replace(over), seed=3)
    exposure = choose_exposure(opu).exposure_s  # a fiber concentrates light: the lab sets the exposure first
    c = characterize_reference(opu, n_inputs=128, seed=1, exposure_s=exposure)
    truth = reference_truth(opu, c, seed=2, n_inputs=512)["strong-reference"]
    est = c.relative_error_strong
    # the truth's own sampling error: rms over 512 inputs vs 128, ~ the estimate's / 2
    tol = max(0.05 * truth, 4 * math.hypot(est.uncertainty, 0.5 * est.uncertainty))
    assert abs(est.value - truth) < tol, (name, est, truth)
    assert c.quadratic_strong.value > 0.5  # the |Tx|^2 term dominates at this reference strength


def test_reference_strength_scan(tmp_path):
    cfg = DeviceConfig.preset("lab-cmos", n_in=128, n_out=256, camera__exposure_s=2e-4)
    choice = choose_reference_fraction(cfg, seed=3, fractions=(0.125, 0.5, 2.0), n_inputs=32, with_truth=True)
    # a stronger reference shrinks the strong-reference error (~ |Tx| / |u|)
    assert np.all(np.diff(choice.relative_error_strong) < 0)
    assert np.all(np.diff(choice.reference_to_signal) > 0)
    # the estimates track the truth across the scan
    assert np.all(np.abs(choice.relative_error_exact / choice.true_relative_error_exact - 1) < REL_TOL)
    assert np.all(np.abs(choice.relative_error_strong / choice.true_relative_error_strong - 1) < REL_TOL)
    # the choice is the smallest estimated error of the configured (exact) scheme
    assert choice.chosen_fraction == choice.fractions[np.argmin(choice.relative_error_exact)]
    back = type(choice).load(choice.save(tmp_path / "choice.h5"))
    assert np.array_equal(back.fractions, choice.fractions) and back.chosen_fraction == choice.chosen_fraction
    with pytest.raises(CalibrationError, match="saturates"):
        choose_reference_fraction(DeviceConfig.preset("lab-cmos", n_in=64, n_out=128), seed=0, fractions=(2.0,), max_saturated_fraction=0.0)


def test_roundtrip_and_bad_inputs(lab, tmp_path):
    opu, c, _ = lab
    back = ReferenceCharacterization.load(c.save(tmp_path / "ref.h5"))
    assert back.relative_error_exact == c.relative_error_exact and np.array_equal(back.z_dn, c.z_dn)
    with pytest.raises(ValidationError, match="scheme"):
        c.relative_error("holographic")
    with pytest.raises(ValidationError, match="n_inputs"):
        characterize_reference(opu, n_inputs=1)
    with pytest.raises(ValidationError, match="fractions"):
        choose_reference_fraction(opu.config, fractions=())


def test_reference_choice_counts_the_frames_of_its_candidate_devices():
    from photonics import OPU, DeviceConfig
    from photonics.calibration import characterize_reference, choose_reference_fraction

    cfg = DeviceConfig.preset("lab-cmos", n_in=32, n_out=64)
    choice = choose_reference_fraction(cfg, seed=0, fractions=(0.25, 0.5), n_inputs=4, n_calibration_frames=4)
    expected = 0
    for f in (0.25, 0.5):  # each candidate characterised on a fresh device of its own
        opu = OPU(cfg.replace({"reference.fraction": f}), seed=0)
        characterize_reference(opu, n_inputs=4, n_calibration_frames=4, seed=0)
        expected += opu.frames_used
    assert choice.frames_used == expected > 0
    assert choice.device_time_s == pytest.approx(expected * cfg.frame_period_s)
