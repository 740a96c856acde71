"""Cost of the weight-free chain (``montecarlo.exact_in_law.probe_chain``) against the network
simulation (``montecarlo.simulate_mlp``, explicit weights) at the same residual settings.

The chain draws each layer's pre-activations from their exact law given the layer's input: a
pair of samples where the samples share no statistic (O(d) per layer), the whole batch for
batch statistics (O(B²·d)); the network multiplies by a d x d weight (O(B·d²)). Both produce
one value of ``E[probe]`` per replicate / network, so the ratio below is the time per trial of
the network over the time per replicate of the chain, both measured in this process after a
warm-up call (numba compiled), on the threads numba is given. The network run also computes
its other forward probes (cosine, stable rank) at every layer; the chain only the variance.

Usage: python bench/exact_in_law.py [--trials N] [--replicates N]
"""

from __future__ import annotations

import argparse
import time

from normtheory.montecarlo import simulate_mlp
from normtheory.montecarlo.exact_in_law import probe_chain

SETTINGS = (  # (norm, nonlinearity, width, batch, depth, alpha)
    ("plain", "relu", 64, 32, 20, 0.5),
    ("weightnorm", "relu", 64, 32, 20, 1.0),
    ("evonorm_s0", "relu", 256, 32, 50, 1.0),  # EvoNorm's branch has no separate activation
    ("evonorm_b0", "relu", 64, 32, 20, 1.0),
)


def _per_call(fn, count: int) -> float:
    fn(2)  # compile / warm up
    start = time.perf_counter()
    fn(count)
    return (time.perf_counter() - start) / count


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=64, help="networks per setting (default 64)")
    parser.add_argument("--replicates", type=int, default=2048, help="chain replicates (default 2048)")
    args = parser.parse_args(argv)
    print(f"{'setting':44s} {'network ms/trial':>17s} {'chain ms/replicate':>19s} {'ratio':>7s}")
    for norm, phi, width, batch, depth, alpha in SETTINGS:
        common = dict(width=width, depth=depth, batch=batch, nonlinearity=phi, alpha=alpha)
        group = {"group_size": 8} if norm == "evonorm_s0" else {}
        net = _per_call(lambda n: simulate_mlp(norm, trials=n, residual=True, backward=False, seed=1,
                                               **common, **group), args.trials)
        chain = _per_call(lambda n: probe_chain(norm, replicates=n, seed=1, **common, **group),
                          args.replicates)
        label = f"{norm} {phi} d={width} B={batch} L={depth} a={alpha:g}"
        print(f"{label:44s} {1e3 * net:17.3f} {1e3 * chain:19.4f} {net / chain:7.1f}")


if __name__ == "__main__":
    main()
