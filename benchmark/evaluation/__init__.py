"""Evaluation: heart rate from BVP, metrics with confidence intervals, plots, and the shared predict path."""
