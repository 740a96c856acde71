"""Time the closed forms of normtheory.bounds at extreme sizes against their goal (< 1 s each).

- ``rank_collapse_rate("plain", width=10**6)``: the 1/d series (was over a minute through sympy's digamma);
- ``resnet_variance(norm, depth=[10**7], nonlinearity="relu")`` for the normalizers without a closed
  form there: the depth ODE past depth 2000 (the exact recursion costs 10-80 µs per block);
- ``top_growth_given_gram`` at a Gram scaled by 1e250 (the scale is taken out before the integral).

Each is timed after one warm-up call (the one-off sympy derivations). Prints seconds and the
ratio to the goal (below 1 meets it).

Usage: python bench/bounds_large.py
"""

from __future__ import annotations

import time

import numpy as np

from normtheory import bounds

GOAL_S = 1.0


def timed(label, fn):
    fn()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label:55s} {seconds:8.3f} s  ratio {seconds / GOAL_S:6.3f}")


def main():
    timed("rank_collapse_rate('plain', width=10**6)", lambda: bounds.rank_collapse_rate("plain", width=10 ** 6))
    for norm, options in [("layernorm", {}), ("groupnorm", dict(group_size=4)), ("variancenorm", {}),
                          ("frn", {}), ("batchnorm", dict(input_corr=0.5)), ("plain", dict(alpha=0.01))]:
        timed(f"resnet_variance({norm!r}, depth=[10**7], relu, {options})",
              lambda: bounds.resnet_variance(norm, depth=[10 ** 7], nonlinearity="relu", **options))
    y = np.random.default_rng(0).standard_normal((32, 16))
    timed("top_growth_given_gram('batchnorm', gram=1e250 * G, B=32)",
          lambda: bounds.top_growth_given_gram("batchnorm", gram=1e250 * (y @ y.T / 32), width=32))


if __name__ == "__main__":
    main()
