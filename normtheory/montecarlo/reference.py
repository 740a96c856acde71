"""Straightforward torch implementation of the theory-MLP simulation (reference and baseline).

The same networks as :mod:`normtheory.montecarlo.explicit`, built from the
:mod:`normtheory.normalizers` modules, differentiated with autograd, one trial at a time.
Its random numbers differ from the numba engine's, so the two agree in distribution, not
number by number (tests compare them with two-sample tests).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from normtheory.montecarlo.result import rank_mask
from normtheory.names import PARAMETRIC_NAMES, group_options
from normtheory.normalizers import family, make, make_activation
from normtheory.probes import activation_variance, mean_cosine_similarity, stable_rank


def _probes(x: torch.Tensor, rank: bool) -> tuple[float, float, float]:
    return (float(activation_variance(x)), float(mean_cosine_similarity(x)),
            float(stable_rank(x)) if rank else math.nan)


def _weight(name: str, d: int, gain: float, gen: torch.Generator) -> torch.Tensor:
    w = torch.randn(d, d, generator=gen, dtype=torch.float64)
    if name == "sws":
        w = w - w.mean(dim=1, keepdim=True)
    if name in PARAMETRIC_NAMES:
        return w / w.norm(dim=1, keepdim=True)
    return w * gain / math.sqrt(d)


def simulate_torch(s: dict, betas: np.ndarray, backward: bool = True):
    b, d, depth, trials = s["batch"], s["width"], s["depth"], s["trials"]
    out = [np.full((trials, depth + 1), np.nan) for _ in range(4)]
    div = np.full(trials, -1, dtype=np.int64)
    gain = 1.0 if s["nonlinearity"] == "linear" else math.sqrt(2.0)
    opts = group_options(s["norm"], s["group_size"])
    norm = make(s["norm"], d, eps=s["eps"], **opts).double() if family(s["norm"]) == "activation" else torch.nn.Identity()
    if s["norm"] == "frn":
        norm.tau = None  # the TLU is applied as phi below (a ReLU at init) in ReLU nets
    rank_at = rank_mask(s["rank_layers"], depth)
    phi = make_activation(s["norm"]) if s["nonlinearity"] == "relu" else torch.nn.Identity()
    if s["norm"] == "frn" and s["nonlinearity"] == "relu":
        phi = torch.nn.ReLU()
    for t in range(trials):
        gen = torch.Generator().manual_seed(int(s["seed"]) * 1_000_003 + t)
        x = torch.randn(b, d, generator=gen, dtype=torch.float64)
        if s["input_corr"] > 0:
            shared = torch.randn(1, d, generator=gen, dtype=torch.float64)
            x = math.sqrt(1 - s["input_corr"]) * x + math.sqrt(s["input_corr"]) * shared
        xs = [x.requires_grad_(True)]
        for k, v in enumerate(_probes(x, rank_at[0])):
            out[k][t, 0] = v
        for layer in range(1, depth + 1):
            w = _weight(s["norm"], d, gain, gen)
            xp = xs[-1]
            if s["residual"]:
                xn = xp + s["alpha"] * norm(phi(xp / float(betas[layer - 1])) @ w.T)
            else:
                xn = phi(norm(xp @ w.T))
            xn.retain_grad()
            xs.append(xn)
            if not bool(torch.isfinite(xn).all()):
                div[t] = layer
                break
            for k, v in enumerate(_probes(xn.detach(), rank_at[layer])):
                out[k][t, layer] = v
        if backward and div[t] < 0:
            g = torch.randn(b, d, generator=gen, dtype=torch.float64)
            (xs[-1] * g).sum().backward()
            for layer, xl in enumerate(xs):
                out[3][t, layer] = float(xl.grad.pow(2).sum())
    return (*out, div)
