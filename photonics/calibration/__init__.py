"""Calibration routines: characterize a (simulated) device from what a lab can measure.

Each routine drives a device only through what a lab controls (DMD patterns, flat-field
illumination of the sensor, dark frames, the exposure, waiting) and returns a frozen result
(values with units and uncertainties, :class:`Measured`) that saves to HDF5:

* :func:`measure_emva1288` / :func:`analyze_emva1288` (EMVA 1288 Release 4.0 on 2-D images, for
  a simulated device or an :class:`EMVASeries` of recorded frames: photon transfer, dark
  current, saturation, linearity, SNR, DSNU/PRNU with the row/column/pixel split,
  spectrograms, defect-pixel histograms) -> :class:`EMVA1288Result`, with its parts
  :class:`PhotonTransferResult`, :class:`DarkCurrentResult` and :class:`FixedPatternMaps`
  (:func:`measure_photon_transfer` and :func:`measure_fixed_pattern` measure one part);
* :func:`read_frames` / :func:`write_frames` (the standard's descriptor file with PNG/TIFF
  images, HDF5 and NPZ stacks), :func:`write_datasheet` (the HTML datasheet) and
  :func:`write_twin` (a digital twin: device TOML + measured pixel maps);
* :func:`choose_exposure` (target ADC fill, bounded saturation) -> :class:`ExposureChoice`;
* :func:`characterize_speckle` (contrast, grain size, fully developed?) -> :class:`SpeckleCharacterization`;
* :func:`retrieve_tm` (TM rows from intensities by phase retrieval) -> :class:`TMRetrieval`;
  :func:`read_probe_file` + :func:`retrieve_tm_recorded` do it on a real OPU's recorded
  probe / intensity pairs, :func:`write_measured_medium` writes the result for a device or twin;
* :func:`measure_tm_phase_shifting` (four-step phase shifting with a phase SLM) -> :class:`PhaseShiftingTM`;
* :func:`characterize_reference`, :func:`choose_reference_fraction` (linear mode) ->
  :class:`ReferenceCharacterization`, :class:`ReferenceChoice`;
* :func:`measure_drift` (decorrelation time, recalibration rule) -> :class:`DriftResult`;
* :func:`calibrate_device` runs them all -> :class:`CalibrationReport`; :func:`write_report`
  writes calibration.h5, summary.json and the plots (``photonics calibrate``).
"""

from photonics.calibration.speckle_characterization import SpeckleCharacterization, characterize_speckle

from .dark_current import DarkCurrentResult, analyze_dark_current, dark_series
from .datasheet import write_datasheet
from .digital_twin import twin_config, write_twin
from .drift import DriftResult, fit_decorrelation, measure_drift, recalibration_interval
from .emva1288 import (
    EMVA1288Result,
    EMVASeries,
    acquire_emva1288,
    analyze_emva1288,
    emva_quantities,
    measure_emva1288,
    measure_photon_transfer,
)
from .exposure import ExposureChoice, choose_exposure
from .maps import FixedPatternMaps, analyze_fixed_pattern, measure_fixed_pattern
from .phase_shifting import PhaseShiftingTM, measure_tm_phase_shifting, phase_shifting_quality
from .photon_transfer import PhotonTransferResult, analyze_levels, analyze_photon_transfer
from .recorded_frames import read_frames, write_frames
from .recorded_probes import RecordedProbes, read_probe_file, record_probes, retrieve_tm_recorded, write_measured_medium, write_probe_file
from .reference import ReferenceCharacterization, ReferenceChoice, characterize_reference, choose_reference_fraction
from .report import STEPS, CalibrationReport, calibrate_device, device_truth, summary_dict, write_report
from .result import CalibrationResult, Measured
from .tm_retrieval import ProbeSweep, TMRetrieval, phase_retrieval_rows, probe_sweep, retrieve_tm, row_quality, tm_quality

__all__ = [
    "Measured",
    "CalibrationResult",
    "EMVASeries",
    "EMVA1288Result",
    "analyze_emva1288",
    "acquire_emva1288",
    "measure_emva1288",
    "emva_quantities",
    "DarkCurrentResult",
    "dark_series",
    "analyze_dark_current",
    "analyze_levels",
    "read_frames",
    "write_frames",
    "write_datasheet",
    "twin_config",
    "write_twin",
    "PhotonTransferResult",
    "measure_photon_transfer",
    "analyze_photon_transfer",
    "FixedPatternMaps",
    "measure_fixed_pattern",
    "analyze_fixed_pattern",
    "ExposureChoice",
    "choose_exposure",
    "SpeckleCharacterization",
    "characterize_speckle",
    "TMRetrieval",
    "retrieve_tm",
    "RecordedProbes",
    "read_probe_file",
    "write_probe_file",
    "record_probes",
    "retrieve_tm_recorded",
    "write_measured_medium",
    "phase_retrieval_rows",
    "row_quality",
    "tm_quality",
    "ProbeSweep",
    "probe_sweep",
    "PhaseShiftingTM",
    "measure_tm_phase_shifting",
    "phase_shifting_quality",
    "ReferenceCharacterization",
    "ReferenceChoice",
    "characterize_reference",
    "choose_reference_fraction",
    "DriftResult",
    "measure_drift",
    "fit_decorrelation",
    "recalibration_interval",
    "STEPS",
    "CalibrationReport",
    "calibrate_device",
    "device_truth",
    "summary_dict",
    "write_report",
]
