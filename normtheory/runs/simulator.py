"""The simulator id: what a stored simulation depends on besides its setting and seed.

Part of every result-store key written by verify and the figures (:mod:`normtheory.store`):
normtheory's version, :data:`SIMULATOR_VERSION`, and each backend the result was computed
on -- for torch with its device, so that a result computed on a GPU is never read back as
a CPU result or the other way round.
"""

from __future__ import annotations

from normtheory import __version__
from normtheory.montecarlo.networks import resolve_device

#: bumped when the Monte Carlo engines change what they compute for the same arguments
SIMULATOR_VERSION = "3"  # 3: variancenorm is the paper's (centred batch std, no mean subtracted)
BACKENDS = ("numba", "torch")


def simulator_id(*backends: str) -> str:
    """``"normtheory <version>|simulator <SIMULATOR_VERSION>|<backend>[|<device>]..."`` for the
    backends a result was computed on (``"numba"``, ``"torch"``; torch adds the device it
    resolves to here)."""
    if not backends:
        raise ValueError("simulator_id needs at least one backend")
    parts = [f"normtheory {__version__}", f"simulator {SIMULATOR_VERSION}"]
    for backend in backends:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        parts.append(backend)
        if backend == "torch":
            parts.append(str(resolve_device("auto")))
    return "|".join(parts)
