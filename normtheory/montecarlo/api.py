"""``simulate_mlp``: Monte Carlo over independent random theory MLPs (docs/settings.md)."""

from __future__ import annotations

import math

import numpy as np

from normtheory._args import check_eps, positive_int, resolve_group_size
from normtheory.bounds import expected_std
from normtheory.kernels.mlp_norms import norm_code, phi_code, weight_code
from normtheory.montecarlo.explicit import simulate_explicit
from normtheory.montecarlo.gram import prefer_gram, simulate_gram
from normtheory.montecarlo.memory import check_memory, memory_limit, mlp_peak_bytes
from normtheory.montecarlo import warm
from normtheory.montecarlo.result import MLPSimulation, rank_mask
from normtheory.names import GROUPED_NAMES, check_name, takes_group

ENGINES = ("auto", "explicit", "gram", "torch")
_CENTRED_STAT = ("batchnorm", "layernorm", "instancenorm", "groupnorm", "evonorm_b0", "evonorm_s0")


def check_settings(norm, *, width, depth, batch, trials, nonlinearity, residual, alpha, group_size,
                   num_groups, input_corr, betas, eps):
    """Validate and normalise the arguments of :func:`simulate_mlp`; ``ValueError`` naming the parameter."""
    norm = check_name(norm)
    width = positive_int(width, "width")
    depth = positive_int(depth, "depth")
    batch = positive_int(batch, "batch")
    trials = positive_int(trials, "trials")
    if nonlinearity not in ("linear", "relu"):
        raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
    if batch < 2:
        raise ValueError("batch must be at least 2 (cosine similarity and batch statistics need two samples)")
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    if not 0.0 <= input_corr < 1.0:
        raise ValueError(f"input_corr must lie in [0, 1), got {input_corr}")
    g = 1
    if takes_group(norm):
        g = resolve_group_size(width, group_size, num_groups)
    elif group_size is not None or num_groups is not None:
        raise ValueError(f"group_size/num_groups apply to {' and '.join(GROUPED_NAMES)}, not to {norm}")
    n = {"layernorm": width, "instancenorm": 1, "groupnorm": g, "evonorm_s0": g}.get(norm, batch)
    if norm in _CENTRED_STAT and n < 2:
        raise ValueError(
            f"{norm} in an MLP computes each statistic from n={n} entry: its centred output is identically 0; "
            "use a group_size >= 2 (or a CNN, where n includes the spatial size)"
        )
    if betas is not None:
        betas = np.asarray(betas, dtype=np.float64)
        if betas.shape != (depth,) or not np.all(np.isfinite(betas)) or np.any(betas <= 0):
            raise ValueError(f"betas must be {depth} finite positive numbers, one per layer")
    return norm, width, depth, batch, trials, g, check_eps(eps)


def check_rank_layers(rank_layers, depth: int):
    """``"all"``, or the sorted distinct layers in ``0..depth`` that ``rank_layers`` names
    (a tuple; negative indices count from the end); ``ValueError`` naming the parameter."""
    if isinstance(rank_layers, str):
        if rank_layers != "all":
            raise ValueError(f"rank_layers must be 'all' or a sequence of layer indices, got {rank_layers!r}")
        return "all"
    if rank_layers is None:
        return ()
    try:
        layers = list(rank_layers)
    except TypeError:
        raise ValueError(f"rank_layers must be 'all' or a sequence of layer indices, got {rank_layers!r}") from None
    out = set()
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -depth - 1 <= layer <= depth:
            raise ValueError(f"rank_layers: {layer!r} is not a layer index in 0..{depth} (or -{depth + 1}..-1)")
        out.add(int(layer) % (depth + 1))
    return tuple(sorted(out))


def simulate_mlp(norm, *, width, depth, batch, trials, nonlinearity="linear", residual=False, alpha=1.0,
                 nf_scaling=False, betas=None, group_size=None, num_groups=None, input_corr=0.0, seed=0,
                 engine="auto", backward=True, eps=1e-5, fail_trial=-1, max_memory=None,
                 rank_layers="all") -> MLPSimulation:
    """Probe ``trials`` independent random MLPs at init; see :class:`MLPSimulation`.

    Every probe is computed at every layer except the stable rank (an eigendecomposition
    of the ``B x B`` Gram per layer, the one costly probe), which is computed at
    ``rank_layers`` only: ``"all"`` (the default), or layer indices in ``0..depth``
    (negative ones count from the end, ``-1`` is the last layer; ``()`` or ``None``: none).
    Elsewhere ``stable_rank`` and ``srank_excess`` are NaN by design. Where computed, the
    numbers are the same whatever ``rank_layers`` says (the same seed, the same numbers);
    only a trial near the float64 limit can diverge one layer later without the rank (its
    eigendecomposition can overflow one layer before the Gram does).

    Non-residual: ``X_l = phi(N(X_{l-1} W_lᵀ))``; residual:
    ``X_l = X_{l-1} + alpha · N(phi(X_{l-1} / beta_l) W_lᵀ)`` (``beta_l = 1`` unless
    ``nf_scaling`` (closed-form ``beta_l`` from :func:`normtheory.bounds.expected_std`) or
    explicit ``betas``). Parametric names and plain have no activation normalizer and use
    their weight parametrisation instead. Same ``seed``, same numbers.

    The run is refused (``ValueError``) before anything is allocated when its estimated
    peak memory (:func:`normtheory.montecarlo.memory.mlp_peak_bytes`) exceeds
    ``max_memory`` bytes (default: ``$NORMTHEORY_MAX_MEMORY``, else the available memory).

    Every trial is accounted for: the result is checked (:meth:`MLPSimulation.check_trials`)
    before it is returned, and a non-finite probe value of a trial not listed in
    ``diverged`` raises ``ValueError``.

    ``fail_trial`` is for tests only: trial ``fail_trial`` (``-1``, the default: none) of the
    numba engines fails inside the kernel, its output at layer 1 set to NaN, so that a test
    can check that a failed trial is reported (``diverged == [(fail_trial, 1)]``), never
    dropped. One integer comparison per layer; not available on the torch engine.
    """
    norm, width, depth, batch, trials, g, eps = check_settings(
        norm, width=width, depth=depth, batch=batch, trials=trials, nonlinearity=nonlinearity,
        residual=residual, alpha=alpha, group_size=group_size, num_groups=num_groups,
        input_corr=input_corr, betas=betas, eps=eps)
    rank_layers = check_rank_layers(rank_layers, depth)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if isinstance(fail_trial, bool) or not isinstance(fail_trial, (int, np.integer)) or not -1 <= fail_trial < trials:
        raise ValueError(f"fail_trial (test-only) must be -1 or a trial index below {trials}, got {fail_trial!r}")
    fail_trial = int(fail_trial)
    limit = memory_limit(max_memory)
    if nf_scaling:
        if not residual:
            raise ValueError("nf_scaling applies to residual networks (residual=True)")
        if betas is not None:
            raise ValueError("give nf_scaling or betas, not both")
        betas = np.asarray(expected_std(norm, depth=np.arange(depth), alpha=alpha, nonlinearity=nonlinearity),
                           dtype=np.float64)
    if betas is None:
        betas = np.ones(depth)
    settings = dict(norm=norm, width=width, depth=depth, batch=batch, trials=trials,
                    nonlinearity=nonlinearity, residual=bool(residual), alpha=float(alpha),
                    nf_scaling=bool(nf_scaling), group_size=g, input_corr=float(input_corr), seed=int(seed),
                    eps=eps, backward=bool(backward), rank_layers=rank_layers)
    if fail_trial >= 0:
        settings["fail_trial"] = fail_trial
    if engine == "auto":
        engine = "gram" if prefer_gram(settings) else "explicit"
    settings["engine"] = engine
    check_memory(mlp_peak_bytes(settings), limit,
                 f"simulate_mlp(width={width}, depth={depth}, batch={batch}, trials={trials}, engine={engine!r})")
    betas = np.asarray(betas, dtype=np.float64)
    if engine != "torch":
        warm.wait()  # kernels being compiled in parallel processes (cold cache): load them, not compile again
    if engine == "torch":
        from normtheory.montecarlo.reference import simulate_torch  # lazy: imports torch

        if fail_trial >= 0:
            raise ValueError("fail_trial (test-only) applies to the numba engines, not to engine='torch'")
        var, cos, srank, grad, div = simulate_torch(settings, betas, backward=backward)
        excess, bdiv = srank - 1.0, np.full_like(div, -1)  # the difference: accurate above ~1e-14 only
    elif engine == "explicit":
        var, cos, srank, excess, grad, div, bdiv = _run_explicit(settings, betas, backward, fail_trial)
    else:
        var, cos, srank, excess, grad, div, bdiv = simulate_gram(settings, betas, backward, fail_trial)
    first = np.where(div >= 0, div, bdiv)  # a trial diverges forward or backward, not both
    diverged = [(t, int(first[t])) for t in range(trials) if first[t] >= 0]
    backward_diverged = [(t, int(bdiv[t])) for t in range(trials) if bdiv[t] >= 0]
    sim = MLPSimulation(var, cos, srank, grad, diverged=diverged, settings=settings, srank_excess=excess,
                        backward_diverged=backward_diverged)
    sim.check_trials()
    return sim


def _run_explicit(s, betas, backward, fail_trial):
    gain = 1.0 if s["nonlinearity"] == "linear" else math.sqrt(2.0)
    return simulate_explicit(norm_code(s["norm"]), phi_code(s["norm"], s["nonlinearity"]), s["group_size"],
                             s["eps"], s["batch"], s["width"], s["depth"], s["trials"], s["residual"],
                             s["alpha"], betas, weight_code(s["norm"]), gain, s["input_corr"], s["seed"], backward,
                             fail_trial, rank_mask(s["rank_layers"], s["depth"]))
