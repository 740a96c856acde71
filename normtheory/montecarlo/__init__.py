"""Monte Carlo simulation of random networks at initialization.

:func:`simulate_mlp` runs the theory MLPs of docs/settings.md on one of several engines
behind the same interface: ``explicit`` (numba, explicit Gaussian weights), ``torch`` (a
straightforward autograd reference) and, where exact, faster ones. The closed forms they
are checked against live in :mod:`normtheory.bounds`.
"""

from normtheory.montecarlo.api import ENGINES, simulate_mlp
from normtheory.montecarlo.networks import NET_PROBES, NetSimulation, simulate_net
from normtheory.montecarlo.result import PROBES, MLPSimulation

__all__ = ["ENGINES", "MLPSimulation", "NET_PROBES", "NetSimulation", "PROBES", "simulate_mlp", "simulate_net"]
