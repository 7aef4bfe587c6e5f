"""Pass/fail: thresholds, their calibration, and the baseline comparison."""
