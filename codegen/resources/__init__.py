"""Resources and latency: analytical estimates calibrated against Yosys (formulas.py, the ops' cost
models, estimate.py), real Vitis reports (csynth.py), estimate vs Vitis and per-op correction factors
(calibration.py), folding to fit a part (fit.py) and reports (report.py, html.py)."""
