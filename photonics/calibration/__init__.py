"""Calibration routines: characterize a (simulated) device from what a lab can measure."""
