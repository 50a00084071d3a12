"""rppg-benchmark: one interface, every rPPG method, datasets x compression levels x methods."""

__version__ = "0.1.0"
