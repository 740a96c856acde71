"""Monte Carlo of the top layer's gradient growth in the linear theory MLP, with the Gram
matrix of that layer's input (what :func:`normtheory.bounds.top_growth_given_gram` needs).

Networks: :class:`normtheory.nets.mlp.MLP` (linear, float64), weights redrawn per network by
the builder's own initialization; loss ``<G, X_L>`` with ``G`` i.i.d. ``N(0, 1)``; gradients
by autograd. One network at a time: this is for checks at small sizes, not for speed.
"""

from __future__ import annotations

import numpy as np

from normtheory._args import positive_int


def top_layer_samples(norm: str, *, width: int, batch: int, depth: int, trials: int, seed: int = 0,
                      group_size=None, draws: int = 1):
    """Per network: ``‖∂ℓ/∂X_(L−1)‖² / ‖G‖²`` (shape ``(trials,)``) and the Gram matrix
    ``X_(L−1) X_(L−1)ᵀ / d`` of the top layer's input (shape ``(trials, batch, batch)``).

    ``draws > 1`` averages the ratio over that many independent draws of the top layer's
    weights and of ``G`` on the same input ``X_(L−1)``: given the input, the draws are i.i.d.,
    so the average has the same expectation given the Gram (what the exact form predicts)
    and a conditional variance ``draws`` times smaller, at the cost of one layer's backward
    per draw instead of a deep forward pass per network. Networks stay independent."""
    import torch  # lazy: torch, which `import normtheory.montecarlo` does not load

    from normtheory.nets.mlp import MLP  # lazy: imports torch
    from normtheory.normalizers.parametric import init_layer_  # lazy: imports torch

    batch = positive_int(batch, "batch")
    trials = positive_int(trials, "trials")
    draws = positive_int(draws, "draws")
    net = MLP(norm, width=width, depth=depth, nonlinearity="linear", group_size=group_size).double()
    gen = torch.Generator().manual_seed(int(seed))
    ratios = np.empty(trials)
    grams = np.empty((trials, batch, batch))
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))  # init_layer_ draws from the global generator
        for t in range(trials):
            for layer in net.layers:
                init_layer_(layer.linear, 1.0)
            x = torch.randn(batch, width, generator=gen, dtype=torch.float64)
            with torch.no_grad():
                for layer in net.layers[:-1]:
                    x = layer(x)
            x.requires_grad_(True)
            total = 0.0
            for k in range(draws):
                if k:
                    init_layer_(net.layers[-1].linear, 1.0)
                g = torch.randn(batch, width, generator=gen, dtype=torch.float64)
                (dx,) = torch.autograd.grad((net.layers[-1](x) * g).sum(), x)
                total += float((dx ** 2).sum() / (g ** 2).sum())
            ratios[t] = total / draws
            xd = x.detach()
            grams[t] = (xd @ xd.T / width).numpy()
    return ratios, grams
