"""Data: dataset adapters, SynthPulse, compression, decoding, face stage, cache, datamodule."""
