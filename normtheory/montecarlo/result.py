"""The results of the Monte Carlo simulations: per-trial, per-layer probe arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

PROBES = ("variance", "cosine", "stable_rank", "srank_excess", "grad_sq")
#: the probes of the forward pass (``grad_sq`` is the backward pass's)
FORWARD_PROBES = PROBES[:-1]


def rank_mask(rank_layers, depth: int) -> np.ndarray:
    """Boolean ``(depth + 1,)``: the layers where the stable rank is computed
    (``rank_layers`` as returned by :func:`check_rank_layers`)."""
    if rank_layers == "all":
        return np.ones(depth + 1, dtype=np.bool_)
    mask = np.zeros(depth + 1, dtype=np.bool_)
    mask[list(rank_layers)] = True
    return mask


@dataclass
class Simulation:
    """What every simulation result holds: probe arrays of shape ``(trials, layers)``
    (the forward probes below, and the subclass's gradient probes), the diverged
    ``(trial, layer)`` pairs and the settings it ran with.

    ``diverged`` and ``settings`` are keyword-only; the subclass lists its probes in
    :attr:`PROBES` (the columns of :meth:`to_records`, in order)."""

    #: the probe arrays, in the order of :meth:`to_records`'s columns
    PROBES: ClassVar[tuple] = ()

    variance: np.ndarray
    cosine: np.ndarray
    stable_rank: np.ndarray
    diverged: list = field(default_factory=list, kw_only=True)
    settings: dict = field(default_factory=dict, kw_only=True)

    @property
    def trials(self) -> int:
        return self.variance.shape[0]

    def finite_trials(self) -> np.ndarray:
        """Indices of the trials that did not diverge (forward or backward)."""
        bad = {t for t, _ in self.diverged}
        return np.array([t for t in range(self.trials) if t not in bad], dtype=int)

    def layer_columns(self) -> list[dict]:
        """Per layer, the columns of :meth:`to_records` that label it besides ``layer``."""
        return [{} for _ in range(self.variance.shape[1])]

    def setting_columns(self) -> dict:
        """The settings the simulation ran with that label its records (scalars only; the
        trial count is the number of trials, not a label)."""
        return {k: v for k, v in self.settings.items()
                if k != "trials" and (v is None or isinstance(v, (bool, int, float, str)))}

    def to_records(self) -> list[dict]:
        """Tidy table: one record per (trial, layer), each with the setting's columns
        (:meth:`setting_columns`: ``norm``, ``width``, ``depth``, ``batch``, ``seed``, ...), so that
        the records of several simulations concatenate into one table; a diverged trial's
        values after its divergence are NaN, and its records say ``diverged=True``."""
        out = []
        columns = self.layer_columns()
        setting = self.setting_columns()
        bad = {t for t, _ in self.diverged}
        for t in range(self.trials):
            for layer, labels in enumerate(columns):
                rec = {**setting, "trial": t, "layer": layer, **labels, "diverged": t in bad}
                for p in self.PROBES:
                    rec[p] = float(getattr(self, p)[t, layer])
                out.append(rec)
        return out

    def to_dataframe(self):
        """:meth:`to_records` as a ``pandas.DataFrame`` (pandas is optional:
        ``pip install 'normtheory[pandas]'``)."""
        try:
            import pandas as pd  # optional: only this method needs it
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install 'normtheory[pandas]' "
                              "(or use to_records(), a list of dicts)") from None
        return pd.DataFrame.from_records(self.to_records())


@dataclass
class MLPSimulation(Simulation):
    """Probe arrays of shape ``(trials, depth + 1)``; index ``l`` is layer ``l`` (0 = input).

    ``grad_sq[t, l]`` is ``‖∂ℓ/∂X_l‖_F²`` for the loss ``<G, X_L>`` (docs/settings.md); all
    NaN when the simulation ran without its backward pass (``settings["backward"]`` False).
    ``srank_excess`` is ``stable_rank − 1`` computed without cancellation (see
    :mod:`normtheory.kernels.top_eigenvalue`; accurate far below the ``1e-14`` that the
    difference resolves); the torch engine computes it as the difference. Both are NaN at
    the layers the simulation was not asked for (``settings["rank_layers"]``,
    :meth:`rank_mask`).

    Every trial is accounted for (:meth:`check_trials`, run by ``simulate_mlp``): either all
    its probe values are finite, or it is listed in ``diverged`` as ``(trial, layer)`` with
    the layer where its first non-finite value appeared:

    - forward divergence (``layer >= 1``): the representation ``X_layer`` or one of its probes
      overflowed; the forward probes from ``layer`` on, and all the trial's gradients, are NaN;
    - backward divergence (the pair is also in ``backward_diverged``, ``0 <= layer < depth``):
      the forward pass is finite, and ``‖∂ℓ/∂X_layer‖²`` is the first gradient (counting down
      from ``depth``) that is not finite; ``grad_sq[t, :layer + 1]`` is NaN, ``grad_sq[t, layer + 1:]``
      finite.

    A trial whose computation failed inside a kernel (an arithmetic exception, or the
    test-only ``fail_trial`` of ``simulate_mlp``) is listed the same way, at the layer in
    progress.
    """

    PROBES: ClassVar[tuple] = PROBES

    grad_sq: np.ndarray
    srank_excess: np.ndarray = field(kw_only=True)
    backward_diverged: list = field(default_factory=list, kw_only=True)

    @property
    def depth(self) -> int:
        return self.variance.shape[1] - 1

    def rank_mask(self) -> np.ndarray:
        """Boolean ``(depth + 1,)``: the layers where the stable rank was computed."""
        return rank_mask(self.settings.get("rank_layers", "all"), self.depth)

    def check_trials(self) -> None:
        """Raise ``ValueError`` unless every trial is accounted for as the class docstring says:
        a non-finite probe value of a trial not in ``diverged``, or a divergence layer that is
        not where the trial's values stop, is an error."""
        shape = (self.trials, self.depth + 1)
        for p in PROBES:
            if getattr(self, p).shape != shape:
                raise ValueError(f"{p} has shape {getattr(self, p).shape}, expected {shape}")
        listed = dict(self.diverged)
        if len(listed) != len(self.diverged) or not all(0 <= t < self.trials for t in listed):
            raise ValueError(f"diverged must list distinct trials in [0, {self.trials}): {self.diverged}")
        backward = dict(self.backward_diverged)
        if any(listed.get(t) != layer for t, layer in backward.items()):
            raise ValueError(f"backward_diverged {self.backward_diverged} is not part of diverged {self.diverged}")
        ran_backward = self.settings.get("backward", True)
        forward = np.isfinite(np.stack([getattr(self, p) for p in FORWARD_PROBES]))  # (probes, trials, layers)
        skipped = ~self.rank_mask()
        for p in ("stable_rank", "srank_excess"):
            i = FORWARD_PROBES.index(p)
            if forward[i][:, skipped].any():
                raise ValueError(f"{p} has values at layers it was not computed at (rank_layers)")
            forward[i][:, skipped] = True  # not computed there by design
        grads = np.isfinite(self.grad_sq)
        for t in range(self.trials):
            fwd_ok = forward[:, t].all(axis=0)  # per layer
            layer = listed.get(t)
            if layer is None:
                stop, grad_stop = self.depth + 1, -1
            elif t in backward:
                if not (ran_backward and 0 <= layer < self.depth):
                    raise ValueError(f"trial {t}: backward divergence at layer {layer} out of range")
                stop, grad_stop = self.depth + 1, layer
            else:
                if not 1 <= layer <= self.depth:
                    raise ValueError(f"trial {t}: forward divergence at layer {layer} out of range")
                stop, grad_stop = layer, self.depth
            expected_fwd = np.arange(self.depth + 1) < stop
            expected_grad = (np.arange(self.depth + 1) > grad_stop) & ran_backward
            if not (np.array_equal(fwd_ok, expected_fwd) and np.array_equal(grads[t], expected_grad)):
                where = "not listed as diverged" if layer is None else f"listed as diverged at layer {layer}"
                raise ValueError(
                    f"trial {t} ({where}): its probe values are non-finite at forward layers "
                    f"{np.flatnonzero(~fwd_ok).tolist()} and gradient layers {np.flatnonzero(~grads[t]).tolist()}"
                    f"{'' if ran_backward else ' (no backward pass)'}; every trial must be finite or listed "
                    "as diverged at its first non-finite layer")
