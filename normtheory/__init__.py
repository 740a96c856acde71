"""normtheory: the theory of normalization layers at initialization, made checkable.

Closed forms derived with sympy (:mod:`normtheory.bounds`), Monte Carlo simulations of
random networks (:mod:`normtheory.montecarlo`), the normalizers themselves
(:mod:`normtheory.normalizers`), the networks they live in (:mod:`normtheory.nets`),
per-layer probes (:mod:`normtheory.probes`), claim verification, figures and training.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("normtheory")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: the public modules (``from normtheory import *`` imports them; each states its own ``__all__``)
__all__ = ["__version__", "bounds", "stats", "names", "normalizers", "nets", "probes", "montecarlo", "store"]
