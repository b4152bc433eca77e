"""Resources and latency: analytical estimates (formulas.py, the ops' cost models, estimate.py),
real Vitis reports (csynth.py), folding to fit a part (fit.py) and reports (report.py, html.py)."""
