"""Efficiency: parameters, MACs (fvcore + handlers), latency, peak memory, roofline estimates."""
