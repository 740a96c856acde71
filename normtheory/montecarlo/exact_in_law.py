"""A weight-free chain, exact in law, for the activation-variance and cosine probes of theory MLPs.

Setting (docs/settings.md, "Theory MLPs"): ``X_0`` (``B × d``) with rows
``sqrt(1 − c_0)·z_i + sqrt(c_0)·s`` (``z_i``, ``s`` i.i.d. N(0, I_d), ``c_0 = input_corr``,
``s`` only for ``c_0 > 0``) and, for ``l = 1..L``, either residual blocks

    X_l = X_{l−1} + alpha · N(phi(X_{l−1} / beta_l) W_lᵀ)

or (``residual=False``) plain layers

    X_l = phi(N(X_{l−1} W_lᵀ))

with fresh weights ``W_l`` (``d × d``), the paired ``phi`` of the normalizer ``N`` (identity
for a linear net and for EvoNorm), ``beta_l = 1`` or, NF-style (residual only), the closed-form
:func:`normtheory.bounds.expected_std` (exactly as :func:`normtheory.montecarlo.simulate_mlp`
computes it). Weights: i.i.d. ``N(0, gain²/d)`` (``gain`` 1 for linear, ``sqrt 2`` for ReLU
nets) for every activation-based normalizer and ``plain``; for ``weightnorm`` each row is
``v/|v|`` and for ``sws`` ``P v/|P v|`` (``P = I − 11ᵀ/d`` the centring projection), ``v`` a
standard Gaussian vector (unit-norm rows at init, scale 1).

The statistic is ``E[probe(X_l)]`` for one of two probes of docs/settings.md: the
activation-variance probe (per-channel biased variance over the batch, averaged over the
``d`` channels; ``probe="variance"``) or the mean pairwise cosine similarity of the rows
(``probe="cosine"``).

**Exact in law given the layer's input** (derived here). Let ``A`` be the layer's weight
input, ``phi(X_{l−1}/beta_l)`` in a residual block and ``X_{l−1}`` in a plain layer
(``b × d``, the ``b`` samples propagated), and let ``A = L Qᵀ`` with ``Q`` (``d × r``) an
orthonormal basis of ``A``'s row space and ``L`` (``b × r``) a factor of the Gram
``A Aᵀ = L Lᵀ`` (semidefinite Cholesky, rank ``r``; then ``Q = Aᵀ L (Lᵀ L)⁻¹`` is
orthonormal). ``W_l`` is independent of ``A``, and its rows ``w_k`` are i.i.d.; the
branch pre-activation ``H = A Wᵀ`` has columns ``H_{:,k} = A w_k = L (Qᵀ w_k)``:

- Gaussian rows, ``w_k ~ N(0, (gain²/d) I)``: ``Qᵀ w_k ~ N(0, (gain²/d) I_r)``, so the columns
  of ``H`` are i.i.d. ``N(0, (gain²/d) A Aᵀ)``: ``H = L' Z`` with ``L' L'ᵀ = (gain²/d) A Aᵀ``
  and ``Z`` (``b × d``) i.i.d. N(0, 1).
- Weight-normalized rows, ``w_k = v/|v|``: ``ζ = Qᵀ v ~ N(0, I_r)`` and ``(I − Q Qᵀ) v`` are
  independent, ``|v|² = |ζ|² + |(I − Q Qᵀ) v|²`` and the second term is ``χ²_{d − r}``; so
  ``H_{:,k} = L ζ_k / sqrt(|ζ_k|² + c_k)`` with ``ζ_k ~ N(0, I_r)``, ``c_k ~ χ²_{d−r}``, all
  independent over ``k``.
- SWS rows, ``w_k = P v/|P v|``: ``A w_k = (A P) v/|P v|``; the rows of ``A P`` (``A``
  row-centred) lie in ``1^⊥``, so with ``A P = L Qᵀ`` (``Q`` inside ``1^⊥``, rank ``r``),
  ``Qᵀ v = ζ ~ N(0, I_r)`` and ``|P v|² = |ζ|² + χ²_{d − 1 − r}``: the same form with
  ``d − 1 − r`` degrees of freedom.

The normalizer then acts on ``H`` exactly as in the network (the kernels of
:mod:`normtheory.kernels.mlp_norms`), and ``X_l`` follows (``X_{l−1} + alpha·N(H)`` or
``phi(N(H))``). Since ``W_l`` enters the forward pass only through ``H``, and the next
layer's weight is fresh, the chain ``X_0 → X_1 → …`` drawn this way has the same law as the
network's: every replicate is an exact draw of ``(X_0, …, X_L)``, with no weight matrix.
Cost per layer: ``O(b²·d)`` for the Gram and ``H`` (``O(b·d)`` random numbers) instead of
``O(b·d²)``.

**A pair suffices where the samples do not share statistics** (``plain``, ``weightnorm``,
``sws``, and the per-sample normalizers ``layernorm``, ``groupnorm``, ``frn``,
``evonorm_s0``). Given the weights (and the shared input component ``s``), each sample
propagates alone, so the samples of a batch are exchangeable and any two of them have the
law of a network run on two samples. The variance probe of a batch of ``B`` is
``(1/d) Σ_j [(1/B) Σ_i x_ij² − ((1/B) Σ_i x_ij)²]``; by exchangeability its expectation is

    E[probe] = (1 − 1/B) · E[(|x_1|² − x_1·x_2)/d] = (1 − 1/B) · E[|x_1 − x_2|²/(2d)],

the last form by symmetry in the pair (and non-negative). The cosine probe is the mean of
``cos(x_i, x_j)`` over the ``B(B − 1)`` ordered pairs ``i ≠ j``, each with the law of
``cos(x_1, x_2)``: ``E[probe] = E[cos(x_1, x_2)]``, whatever ``B``. So the chain runs
``b = 2`` samples and reports ``(1 − 1/B)·|x_1 − x_2|²/(2d)`` or ``cos(x_1, x_2)`` per
replicate and layer: ``O(d)`` per layer. For batch statistics (``batchnorm``,
``variancenorm``, ``evonorm_b0``) the samples interact, and the chain runs the whole batch
(``b = B``) and reports the probe itself.

What is not exact: nothing in law; floating point as in the network simulation (the
semidefinite Cholesky treats a pivot below ``1e-13`` of the largest diagonal as a dependent
row; exact dependence only occurs with probability 0 here). The chain is a Monte Carlo
computation: its mean over replicates estimates ``E[probe(X_l)]`` with an error that
shrinks like ``1/sqrt(replicates)``, to be quoted with an interval
(:func:`normtheory.verify.stats.computed_interval`). Its infinite-width limits are the
mean-field closed form :func:`normtheory.bounds.resnet_variance` (residual, variance probe)
and the iterated ReLU correlation map :func:`normtheory.bounds.relu_correlation_iterate`
(plain ReLU layers, unnormalized or LN, cosine probe); both tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from normtheory._args import positive_int
from normtheory.bounds import expected_std
from normtheory.kernels.exact_in_law import COSINE, VARIANCE, run_replicates
from normtheory.kernels.mlp_norms import norm_code, phi_code, weight_code
from normtheory.montecarlo.api import check_settings
from normtheory.montecarlo import warm
from normtheory.montecarlo.threads import run_in_threads
from normtheory.names import BATCH_NAMES, VARIANT_BATCH_NAMES

#: normalizers whose samples share statistics: the chain runs the whole batch
BATCH_STATISTICS = BATCH_NAMES + VARIANT_BATCH_NAMES
#: the statistics the chain reports (``probe=``): the activation-variance probe, the mean pairwise cosine similarity
PROBES = ("variance", "cosine")


@dataclass
class ChainResult:
    """Replicates ``first .. first + n − 1`` of the chain of one setting.

    ``values[t, l]`` is replicate ``t``'s unbiased draw of ``E[probe(X_l)]`` (NaN from its
    diverged layer on); ``diverged`` lists ``(replicate, layer)`` for every replicate that
    overflowed; ``samples`` is what each replicate propagates (2, or the batch).
    """

    values: np.ndarray
    diverged: list
    samples: int
    settings: dict

    def check_replicates(self) -> None:
        """Every replicate is finite or listed in ``diverged`` (ValueError otherwise)."""
        bad = set(np.flatnonzero(~np.isfinite(self.values).all(axis=1)).tolist())
        listed = {t - self.settings["first"] for t, _ in self.diverged}
        if bad - listed:
            raise ValueError(f"replicates {sorted(bad - listed)[:5]} are not finite and not recorded as diverged")


def chain_samples(norm: str, batch: int) -> int:
    """Samples per replicate: the whole batch for batch statistics, else a pair."""
    return batch if norm in BATCH_STATISTICS else 2


def probe_chain(norm, *, width, depth, batch, replicates, nonlinearity="linear", residual=True, probe="variance",
                alpha=1.0, nf_scaling=False, group_size=None, num_groups=None, input_corr=0.0, seed=0, first=0,
                eps=1e-5) -> ChainResult:
    """Replicates ``first .. first + replicates − 1`` of the weight-free chain (module docstring).

    Arguments as :func:`normtheory.montecarlo.simulate_mlp` (``residual``, ``input_corr``,
    ``nf_scaling`` with the same meaning and checks); ``replicates`` plays the role of
    ``trials``; ``probe`` (one of :data:`PROBES`) selects the statistic. Replicate ``t`` depends
    only on ``(seed, t)``: ``first`` continues a stream (adaptive doubling) and the same
    replicates come out whatever the thread count. ``ValueError`` naming the parameter on bad
    input (unknown ``norm`` or ``probe``, ``width < 2``, ``batch < 2``, ``nf_scaling`` without
    ``residual``, ...).
    """
    replicates = positive_int(replicates, "replicates")
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    norm, width, depth, batch, replicates, g, eps = check_settings(
        norm, width=width, depth=depth, batch=batch, trials=replicates, nonlinearity=nonlinearity,
        residual=bool(residual), alpha=alpha, group_size=group_size, num_groups=num_groups, input_corr=input_corr,
        betas=None, eps=eps)
    if width < 2:
        raise ValueError(f"width must be at least 2 (a pair of samples spans two dimensions), got {width}")
    if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 0:
        raise ValueError(f"first must be an integer >= 0, got {first!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    if nf_scaling:
        if not residual:
            raise ValueError("nf_scaling applies to residual networks (residual=True)")
        betas = np.asarray(expected_std(norm, depth=np.arange(depth), alpha=alpha, nonlinearity=nonlinearity),
                           dtype=np.float64)
    else:
        betas = np.ones(depth)
    mode = weight_code(norm)
    gain = 1.0 if nonlinearity == "linear" else math.sqrt(2.0)
    samples = chain_samples(norm, batch)
    warm.wait()  # kernels being compiled in parallel processes (cold cache): load them, not compile again
    values = np.full((replicates, depth + 1), np.nan)
    div = np.full(replicates, -1, dtype=np.int64)
    args = (norm_code(norm), phi_code(norm, nonlinearity), int(g), float(eps), int(samples), int(batch), int(width),
            int(depth), bool(residual), float(alpha), betas, int(mode), float(gain), float(input_corr),
            {"variance": VARIANCE, "cosine": COSINE}[probe], int(seed), int(first))
    run_in_threads(lambda start, stop: run_replicates(*args, start, stop, values, div), replicates)
    diverged = [(int(first) + t, int(div[t])) for t in range(replicates) if div[t] >= 0]
    settings = dict(norm=norm, width=width, depth=depth, batch=batch, replicates=replicates, first=int(first),
                    nonlinearity=nonlinearity, residual=bool(residual), probe=probe, alpha=float(alpha),
                    nf_scaling=bool(nf_scaling), group_size=g, input_corr=float(input_corr), seed=int(seed), eps=eps)
    result = ChainResult(values, diverged, samples, settings)
    result.check_replicates()
    return result
