"""The synthetic country generator: people, households, programmes, noisy source drops
and the ground truth to score the warehouse against. No Dagster here.

>>> from synthetic import generate
>>> summary = generate(Path("data"), people=20_000, nights=3, seed=42)  # doctest: +SKIP
"""

from __future__ import annotations

from synthetic.generator import generate
from synthetic.noise import PRESETS, NoiseRates, noise_profile

__all__ = ["PRESETS", "NoiseRates", "generate", "noise_profile"]
