"""Monte Carlo over random CNNs / ResNets of :mod:`normtheory.nets`, on torch.

Each trial builds a fresh network at init (seeded), feeds a batch of i.i.d. N(0, 1)
images and probes every layer with :func:`normtheory.probes.probe`. CUDA is used when
available (``device="auto"``); float64 by default for theory checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np

from normtheory._args import freeze, positive_int
from normtheory.montecarlo.memory import check_memory, memory_limit, net_peak_bytes
from normtheory.montecarlo.result import Simulation

NET_PROBES = ("variance", "cosine", "stable_rank", "grad_input_sq", "grad_weight_sq")


@dataclass
class NetSimulation(Simulation):
    """Probe arrays of shape ``(trials, layers)``; ``names`` (keyword-only) labels the layers.

    ``diverged`` lists ``(trial, layer)`` where a representation became non-finite; that
    trial's entries from the layer on are NaN.
    """

    PROBES: ClassVar[tuple] = NET_PROBES

    grad_input_sq: np.ndarray
    grad_weight_sq: np.ndarray
    names: list = field(kw_only=True)

    def layer_columns(self) -> list[dict]:
        return [{"name": name} for name in self.names]


def resolve_device(device: str = "auto"):
    import torch  # lazy: torch, which `import normtheory.montecarlo` does not load

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available")
    return torch.device(device)


@lru_cache(maxsize=256)
def _net_estimate(arch, norm, in_channels, frozen_options, batch, image_size, dtype) -> int:
    """:func:`normtheory.montecarlo.memory.net_peak_bytes` of a network, once per distinct
    network and input size (its meta-device pass builds the whole network: 0.3 s for ResNet-56)."""
    from normtheory.nets import build  # lazy: imports torch

    options = dict(frozen_options)
    return net_peak_bytes(lambda: build(arch, norm, in_channels=in_channels, **options), batch,
                          in_channels, image_size, dtype)


def simulate_net(arch: str, norm: str, *, trials: int, batch: int, seed: int = 0, device: str = "auto",
                 dtype=None, image_size: int = 32, in_channels: int = 3, max_memory=None,
                 **build_options) -> NetSimulation:
    """Probe ``trials`` independent random networks ``build(arch, norm, ...)`` at init.

    Refused (``ValueError``) before any trial when the rough peak memory of one trial
    (:func:`normtheory.montecarlo.memory.net_peak_bytes`) exceeds ``max_memory`` bytes
    (default: ``$NORMTHEORY_MAX_MEMORY``, else the memory available on the device)."""
    import torch  # lazy: torch, which `import normtheory.montecarlo` does not load

    from normtheory.nets import build  # lazy: imports torch
    from normtheory.probes import probe  # lazy: imports torch

    trials = positive_int(trials, "trials")
    batch = positive_int(batch, "batch")
    image_size = positive_int(image_size, "image_size")
    if batch < 2:
        raise ValueError("batch must be at least 2 (cosine similarity needs two samples)")
    dtype = torch.float64 if dtype is None else dtype
    dev = resolve_device(device)
    estimate = _net_estimate(arch, norm, in_channels, freeze(build_options), batch, image_size, dtype)
    check_memory(estimate, memory_limit(max_memory, dev),
                 f"simulate_net({arch!r}, {norm!r}, batch={batch}, image_size={image_size}, dtype={dtype})")
    rows, names, diverged = [], None, []
    for t in range(trials):
        torch.manual_seed(int(seed) * 1_000_003 + t)
        model = build(arch, norm, in_channels=in_channels, **build_options).to(device=dev, dtype=dtype)
        x = torch.randn(batch, in_channels, image_size, image_size, dtype=dtype, device=dev)
        recs = probe(model, x, seed=int(seed) * 1_000_003 + t, on_overflow="record")
        if names is None:
            names = [name for name, _ in model.probe_points()]
        if recs and recs[-1].get("overflow"):
            diverged.append((t, recs[-1]["layer"]))
            recs = recs[:-1]
        rows.append(recs)
    arrays = {p: np.full((trials, len(names)), np.nan) for p in NET_PROBES}
    for t, recs in enumerate(rows):
        for rec in recs:
            for p in NET_PROBES:
                arrays[p][t, rec["layer"]] = rec[p]
    settings = dict(arch=arch, norm=norm, trials=trials, batch=batch, seed=int(seed), device=str(dev),
                    dtype=str(dtype), image_size=image_size, **build_options)
    return NetSimulation(names=names, diverged=diverged, settings=settings, **arrays)
