"""Sweep specs: clear validation errors; the plan (parameter mapping onto the configs, point ids,
shared reference runs) without training."""

import math

import pytest

from dfa.studies.sweep import load_spec, plan_sweep, spec_from_dict
from photonics import DeviceConfig
from photonics.budget import noise_budget
from photonics.errors import ConfigError, FileFormatError

TINY_BASE = {"dataset": "digits", "methods": ["bp", "dfa", "optical-dfa"], "epochs": 1, "max_steps": 2, "batch_size": 16,
             "model_options": {"hidden": [8]}}


def _spec(params=None, sweep=None, base=None):
    return spec_from_dict({"sweep": {"seeds": [0], **(sweep or {})}, "base": {**TINY_BASE, **(base or {})},
                           "parameters": params or {}}, source="spec.toml")


@pytest.mark.parametrize(
    "params,sweep,base,match",
    [
        ({"photon_per_pixel": [1, 2]}, None, None, r"unknown sweep parameter 'photon_per_pixel' \(did you mean 'photons_per_pixel'\?\)"),
        ({"read_noise_e": []}, None, None, r"parameter 'read_noise_e' has no values \(empty grid\)"),
        ({"read_noise_e": {"values": []}}, None, None, "empty grid"),
        ({"read_noise_e": ["seven"]}, None, None, r"'read_noise_e' takes numbers \(got 'seven' of type str\)"),
        ({"read_noise_e": [True]}, None, None, "takes numbers"),
        ({"read_noise_e": [-1.0]}, None, None, "must be >= 0"),
        ({"bit_depth": [8.5]}, None, None, r"'bit_depth' takes integers \(got 8.5"),
        ({"bit_depth": [0]}, None, None, "must be >= 1"),
        ({"dmd_contrast": ["infinite"]}, None, None, r"must be one of \['inf'\]"),
        ({"threshold": [0.2, 0.2]}, None, None, "lists 0.2 twice"),
        ({"read_noise_e": 3.0}, None, None, "must be a list of values"),
        ({"read_noise_e": {"logspace": [0, 10, 3]}}, None, None, "logspace start and stop must be > 0"),
        ({"read_noise_e": {"linspace": [0, 10]}}, None, None, r"linspace needs \[start, stop, num\]"),
        ({"read_noise_e": {"grid": [0, 10]}}, None, None, "must be a list of values or a table with one of"),
        ({"opu.camera.read_nois_e": [1.0]}, None, None, "opu.camera has no key 'read_nois_e'; allowed: .*read_noise_e"),
        ({"opu.camera": [1.0]}, None, None, "names a section"),
        ({"feedback.treshold": [0.1]}, None, None, "feedback fields: .*threshold"),
        ({"feedback.opu_overrides": [1]}, None, None, r"swept as opu.<section>.<key>"),
        ({"train.seed": [1, 2]}, None, None, "not sweepable .*sweep.seeds"),
        ({"train.lr": [{"a": 1}]}, None, None, "values must be numbers, strings or booleans"),
        ({"bit_depth": [8], "opu.camera.bit_depth": [8]}, None, None, "both set opu.camera.bit_depth"),
        ({"read_noise_e": [1.0, 2.0], "threshold": [0.1]}, {"mode": "zip"}, None, "equal length"),
        (None, {"seeds": []}, None, "sweep.seeds must be a non-empty list"),
        (None, {"seeds": [1, 1]}, None, "sweep.seeds lists 1 twice"),
        (None, {"seeds": [-1]}, None, "seeds entry must be >= 0"),
        (None, {"seeds": ["0"]}, None, "seeds entry must be an integer"),
        (None, {"mode": "product"}, None, "sweep.mode must be one of grid, zip"),
        (None, {"privacy_delta": 2.0}, None, r"privacy_delta must be a number in \(0, 1\)"),
        (None, {"threads": 0}, None, "sweep.threads must be an integer >= 1"),
        (None, {"worker": 2}, None, r"unknown key\(s\) 'worker' in \[sweep\]"),
        (None, None, {"seed": 3}, "list the training seeds in sweep.seeds"),
    ],
)
def test_spec_validation_errors_are_clear(params, sweep, base, match):
    with pytest.raises(ConfigError, match=match) as exc:
        _spec(params, sweep, base)
    assert str(exc.value).startswith("spec.toml: ")


def test_unknown_tables_and_files(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown table\(s\) 'parameter' \(did you mean 'parameters'\?\)"):
        spec_from_dict({"parameter": {"read_noise_e": [1]}})
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep\nseeds = [0]")
    with pytest.raises(FileFormatError, match="not valid TOML"):
        load_spec(bad)


def test_plan_time_errors_name_the_point():
    with pytest.raises(ConfigError, match=r"spec.toml: point opu.camera.bit_depth = 40, .*camera.bit_depth must be <= 16"):
        plan_sweep(_spec({"opu.camera.bit_depth": [8, 40]}))
    with pytest.raises(ConfigError, match=r"\[base\].*unknown training setting"):
        plan_sweep(_spec(base={"epoch": 3}))
    with pytest.raises(ConfigError, match="unknown method 'optical'"):
        plan_sweep(_spec(base={"methods": ["optical"]}))
    with pytest.raises(ConfigError, match="feedback.threshold must be < 1"):
        plan_sweep(_spec({"feedback.threshold": [0.5, 1.5]}))
    with pytest.raises(ConfigError, match="sweep.metric 'accurracy' is not reported"):
        plan_sweep(_spec(sweep={"metric": "accurracy"}))


def test_value_generators_and_dotted_tables():
    s = spec_from_dict({
        "sweep": {"seeds": 0},
        "parameters": {
            "photons_per_pixel": {"logspace": [1, 1000, 4]},
            "read_noise_e": {"linspace": [0, 6, 3]},
            "bit_depth": {"range": [4, 10, 2]},
            "opu": {"camera": {"exposure_s": [0.0005]}},  # opu.camera.exposure_s written as a TOML table
            "dmd_contrast": [100, "inf"],
        },
    })
    values = dict(s.parameters)
    assert values["photons_per_pixel"] == (1.0, 10.0, 100.0, 1000.0)
    assert values["read_noise_e"] == (0.0, 3.0, 6.0)
    assert values["bit_depth"] == (4, 6, 8)
    assert values["opu.camera.exposure_s"] == (0.0005,)
    assert values["dmd_contrast"] == (100.0, "inf")
    assert len(s.assignments()) == 4 * 3 * 3 * 1 * 2
    z = _spec({"read_noise_e": [1.0, 2.0], "threshold": [0.1, 0.2]}, {"mode": "zip"})
    assert z.assignments() == [{"read_noise_e": 1.0, "threshold": 0.1}, {"read_noise_e": 2.0, "threshold": 0.2}]


def _device_of(plan, **assignment):
    pts = {p.id: p for p in plan.points}
    for c in plan.cells:
        if c.method == "optical-dfa" and all(c.assignment[k] == v for k, v in assignment.items()):
            return DeviceConfig.from_dict(_restore_inf(pts[c.point_id].device)), pts[c.point_id]
    raise AssertionError(assignment)


def _restore_inf(d):
    if isinstance(d, dict):
        return {k: _restore_inf(v) for k, v in d.items()}
    return math.inf if d == "inf" else d


def test_photons_per_pixel_maps_onto_the_laser_power_exactly():
    plan = plan_sweep(_spec({"photons_per_pixel": [3.0, 300.0], "reference_fraction": [0.5, 1.0]}))
    for ph in (3.0, 300.0):
        for frac in (0.5, 1.0):
            dev, pt = _device_of(plan, photons_per_pixel=ph, reference_fraction=frac)
            assert (dev.n_in, dev.n_out) == (10, 8)  # digits error -> hidden width of the MLP
            assert dev.reference.fraction == frac
            assert noise_budget(dev)["photons"] == pytest.approx(ph, rel=1e-9)
            assert pt.budget["photons"] == pytest.approx(ph, rel=1e-9)
    # the power is what changed, linearly
    d3, _ = _device_of(plan, photons_per_pixel=3.0, reference_fraction=0.5)
    d300, _ = _device_of(plan, photons_per_pixel=300.0, reference_fraction=0.5)
    assert d300.laser.power_w / d3.laser.power_w == pytest.approx(100.0)
    assert d300.camera == d3.camera


def test_named_parameters_map_onto_the_device_and_feedback():
    plan = plan_sweep(_spec({"bit_depth": [4, 12], "grain_size_px": [2.0], "decorrelation_time_s": ["inf", 5.0],
                             "recalibration_period_s": ["never", 0.5], "dmd_contrast": ["inf"], "threshold": [0.2]}))
    base = DeviceConfig.preset("lab-cmos")
    full_scale = (base.camera.max_dn - base.camera.black_level_dn) * base.camera.gain_e_per_dn
    for bits in (4, 12):
        dev, pt = _device_of(plan, bit_depth=bits, decorrelation_time_s=5.0, recalibration_period_s=0.5)
        assert dev.camera.bit_depth == bits
        assert (dev.camera.max_dn - dev.camera.black_level_dn) * dev.camera.gain_e_per_dn == pytest.approx(full_scale)
        assert dev.medium.model == "speckle" and dev.medium.grain_size_px == 2.0
        assert dev.medium.decorrelation_time_s == 5.0 and math.isinf(dev.dmd.contrast_ratio)
        fb = pt.config["feedback"]
        assert fb["recalibrate_every_s"] == 0.5 and fb["threshold"] == 0.2
    dev, pt = _device_of(plan, bit_depth=4, decorrelation_time_s="inf", recalibration_period_s="never")
    assert dev.medium.decorrelation_time_s is None and pt.config["feedback"]["recalibrate_every_s"] is None


def test_reference_methods_share_one_run_per_seed_and_ids_are_deterministic():
    spec = _spec({"photons_per_pixel": [10.0, 100.0, 1000.0], "read_noise_e": [1.0, 7.0]}, {"seeds": [0, 1]})
    plan = plan_sweep(spec)
    assert len(plan.cells) == 3 * 2 * 2 * 3
    by = {}
    for c in plan.cells:
        by.setdefault((c.method, c.seed), set()).add(c.point_id)
    assert all(len(by[("bp", s)]) == 1 and len(by[("dfa", s)]) == 1 for s in (0, 1))
    assert all(len(by[("optical-dfa", s)]) == 6 for s in (0, 1))
    assert len(plan.points) == 2 * (1 + 1 + 6)
    assert by[("bp", 0)] != by[("bp", 1)]
    again = plan_sweep(spec)
    assert [p.id for p in again.points] == [p.id for p in plan.points]
    # the runs train the seed itself, with only their method
    for p in plan.points:
        assert p.config["seed"] == p.seed and p.config["methods"] == [p.method]
        assert (p.device is None) == (p.method != "optical-dfa")
    # a digital DFA that quantizes its error like the optics depends on the threshold
    q = plan_sweep(_spec({"threshold": [0.2, 0.5]}, base={"feedback": {"quantize_digital": True}}))
    assert len({c.point_id for c in q.cells if c.method == "dfa"}) == 2
    assert len({c.point_id for c in q.cells if c.method == "bp"}) == 1


def test_shipped_example_spec_is_valid():
    from photonics.config import data_dir

    spec = load_spec(data_dir() / "sweeps" / "photons_digits.toml")
    assert spec.parameter_names == ("photons_per_pixel",)
    assert spec.base["feedback"]["dedupe"] is False
    plan = plan_sweep(spec)
    n_ph = len(spec.parameters[0][1])
    assert len(plan.points) == len(spec.seeds) * (2 + n_ph)
    for p in plan.points:
        if p.budget:
            assert any(p.budget["photons"] == pytest.approx(float(v), rel=1e-9) for v in spec.parameters[0][1])


def test_every_feedback_field_is_classified_for_the_shared_reference_runs():
    """A new FeedbackConfig field must be placed in one of plan.py's lists: otherwise a digital-DFA
    reference run could be retrained for every optical setting (or, worse, reset wrongly)."""
    from dataclasses import fields

    from dfa.mechanism.feedback import FeedbackConfig
    from dfa.studies.sweep.plan import COMMON_FEEDBACK_FIELDS, OPTICAL_FEEDBACK_FIELDS, QUANTIZER_FIELDS

    lists = (COMMON_FEEDBACK_FIELDS, OPTICAL_FEEDBACK_FIELDS, QUANTIZER_FIELDS)
    names = [f.name for f in fields(FeedbackConfig)]
    unclassified = [n for n in names if sum(n in lst for lst in lists) != 1]
    assert not unclassified, unclassified
    # the optical-only settings do not split the digital reference runs
    plan = plan_sweep(_spec({"feedback.opu_power_scale": [1.0, 4.0], "feedback.n_probes": [4, 8]}))
    assert len({c.point_id for c in plan.cells if c.method == "dfa"}) == 1
    assert len({c.point_id for c in plan.cells if c.method == "optical-dfa"}) == 4


def test_photons_per_pixel_accounts_for_the_base_power_scale():
    plan = plan_sweep(_spec({"photons_per_pixel": [30.0]}, base={"feedback": {"opu_power_scale": 8.0}}))
    dev, pt = _device_of(plan, photons_per_pixel=30.0)
    assert noise_budget(dev)["photons"] == pytest.approx(30.0, rel=1e-9)
    # the one power knob carries it: the base scale times photons / (photons of the base device)
    base_dev = _device_of(plan_sweep(_spec({"reference_fraction": [0.5]}, base={"feedback": {"opu_power_scale": 8.0}})), reference_fraction=0.5)[0]
    assert pt.config["feedback"]["opu_power_scale"] == pytest.approx(8.0 * 30.0 / noise_budget(base_dev)["photons"], rel=1e-9)
    assert "laser.power_w" not in pt.config["feedback"]["opu_overrides"]
    with pytest.raises(ConfigError, match="both set feedback.opu_power_scale"):
        _spec({"photons_per_pixel": [30.0], "feedback.opu_power_scale": [2.0]})


def test_the_parameter_table_is_the_one_mapping():
    """Every named parameter sets exactly the keys its table entry declares (which the spec's
    conflict check reads), for each of its kinds of value."""
    from dfa.studies.sweep.parameters import NAMED_PARAMETERS, parameter_assignment, validate_value
    from photonics import DeviceConfig

    base = DeviceConfig.preset("lab-cmos").to_dict()
    samples = {"real": [0.5, 2.0], "int": [4], "real_or_off": [2.0, "inf", "never"]}
    for name, p in NAMED_PARAMETERS.items():
        for v in samples[p.kind]:
            if not isinstance(v, str) and ((p.low is not None and v < p.low) or (p.high is not None and v > p.high)):
                continue
            if isinstance(v, str) and v not in p.off_words:
                continue
            keys = set(parameter_assignment(name, validate_value(name, v), base))
            assert keys == (set() if p.needs_device else set(p.targets)), name
    assert parameter_assignment("opu.camera.exposure_s", 1e-4, base) == {"opu.camera.exposure_s": 1e-4}
