"""Every method of the suite, one catalogue line each (see registry.py; the code lives in one file per family).

Adding a method: write `benchmark/methods/<family>.py` with its nn.Module and a factory returning a
`MethodModule`, then add one `register_method` line here.
"""

from benchmark.methods.registry import METHODS, MethodEntry, create_method, register_method

__all__ = ["METHODS", "MethodEntry", "create_method", "register_method"]

# Entries are added below as method families land (issues 5, 6, 7).
