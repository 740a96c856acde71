"""The result of a Monte Carlo simulation: per-trial, per-layer probe arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PROBES = ("variance", "cosine", "stable_rank", "grad_sq")


@dataclass
class MLPSimulation:
    """Probe arrays of shape ``(trials, depth + 1)``; index ``l`` is layer ``l`` (0 = input).

    ``grad_sq[t, l]`` is ``‖∂ℓ/∂X_l‖_F²`` for the loss ``<G, X_L>`` (docs/settings.md).
    ``diverged`` lists ``(trial, layer)`` where inf/NaN first appeared; that trial's entries
    from the layer on (and all its gradients) are NaN, and consumers drop them.
    """

    variance: np.ndarray
    cosine: np.ndarray
    stable_rank: np.ndarray
    grad_sq: np.ndarray
    diverged: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def trials(self) -> int:
        return self.variance.shape[0]

    @property
    def depth(self) -> int:
        return self.variance.shape[1] - 1

    def finite_trials(self) -> np.ndarray:
        """Indices of the trials that did not diverge."""
        bad = {t for t, _ in self.diverged}
        return np.array([t for t in range(self.trials) if t not in bad], dtype=int)

    def to_records(self) -> list[dict]:
        """Tidy table: one record per (trial, layer)."""
        out = []
        for t in range(self.trials):
            for layer in range(self.depth + 1):
                rec = {"trial": t, "layer": layer}
                for p in PROBES:
                    rec[p] = float(getattr(self, p)[t, layer])
                out.append(rec)
        return out
