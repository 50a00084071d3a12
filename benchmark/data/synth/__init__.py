"""SynthPulse: synthetic face videos with known ground-truth PPG (see docs/synthpulse.md).

physics (pulse, respiration, PTT) -> faces/subjects (skin tones, faces, rooms) -> scenes (motion, lighting)
-> render (dichromatic reflectance, camera) -> generate (lossless H.264 RGB + ppg.csv + meta.json, cached)
-> the "synth" dataset adapter in benchmark.data.datasets.synth. Heavy modules are imported where used.
"""
