"""The Gram engine: theory-MLP Monte Carlo at O(width · batch²) per layer, exact in distribution.

Setting: the theory MLPs of docs/settings.md whose weights have i.i.d. Gaussian entries,
``W ∈ R^{d×d}``, ``W_ij ~ N(0, s²)``, ``s = gain / sqrt(d)``: every activation-based
normalizer and ``plain`` (:data:`EXACT_NORMS`). For ``weightnorm`` and ``sws``, whose rows are
normalised (not i.i.d. Gaussian), it runs the forward pass only (``backward=False``), each
layer's ``H = U Wᵀ`` drawn from its exact law given ``U`` by the weight-free chain's kernel
(:func:`normtheory.kernels.exact_in_law.branch_preactivation`: column ``k`` of ``H`` is
``L ζ_k / sqrt(|ζ_k|² + c_k)``, ``L Lᵀ = U Uᵀ`` (row-centred for SWS), ``c_k`` a χ² draw for
the directions outside ``U``'s rows; derived in :mod:`normtheory.montecarlo.exact_in_law`):
O(width · batch²) per layer instead of the width² normals of an explicit weight. Their
backward pass needs the weights the forward pass did not draw: ``engine="auto"`` runs it
on the explicit-weight engine.

Derivation (derived here). Let ``U ∈ R^{B×d}`` be the weight's input (rows = samples) and
``Q ∈ R^{d×k}`` an orthonormal basis of a subspace containing the row space of ``U``,
chosen from ``U`` alone, with ``U = Rᵀ Qᵀ``, ``R ∈ R^{k×B}``. ``W`` is independent of
``U``, so ``W Q`` has i.i.d. ``N(0, s²)`` entries, and ``W (I − Q Qᵀ)`` is independent of
``W Q``. Writing ``W Q = s Zᵀ``:

    forward    H = U Wᵀ = s Rᵀ Z,                          Z ∈ R^{k×d} i.i.d. N(0, 1)
    backward   dℓ/dU = G W = s G Zᵀ Qᵀ + G W (I − Q Qᵀ),   G = dℓ/dH.

Everything the network computes before the backward pass returns to this layer depends on
``W`` only through ``W Q`` (each weight is used once forward, once backward), so
``W (I − Q Qᵀ)`` is still a fresh Gaussian there: ``G W (I − Q Qᵀ)`` has the law of
``M (I − Q Qᵀ)`` with ``M = G W'`` for an independent ``W'``. The columns of ``M`` are i.i.d.
``N(0, s² G Gᵀ)``, so ``M = s S Z'`` with ``S Sᵀ = G Gᵀ`` (pivoted Cholesky, exact for a
positive semidefinite ``G Gᵀ`` of any rank) and ``Z'`` i.i.d. ``N(0, 1)``. Hence

    dℓ/dU = (s G Zᵀ − M Q) Qᵀ + M.

Every product is ``(B × B)`` or ``(B × k)`` times ``(k × d)``: ``O(d · B²)`` per layer instead
of ``O(d² · B)``, and ``2 · d · B`` random numbers instead of ``d²``. The representations
``X_l`` stay explicit (``B × d``): the normalizers and probes act on them as in the
explicit engine (the same kernels, :mod:`normtheory.kernels.gram_steps`).

``Q`` comes from one of two factorizations, both exact in exact arithmetic:

- Cholesky of the Gram ``K = U Uᵀ = L Lᵀ`` when it is well conditioned (LAPACK's estimate of
  its reciprocal condition number at least :data:`RCOND_MIN`): ``k = B``, ``Qᵀ = L⁻¹ U``,
  ``H = s L Z``, and, since ``s Zᵀ = Hᵀ L⁻ᵀ``, the backward is
  ``dℓ/dU = (G Hᵀ − M Uᵀ) K⁻¹ U + M`` (nothing of size ``k × d`` is stored). ``Q``'s loss
  of orthogonality is of order ``ε / RCOND_MIN ≈ 1e-8`` (Cholesky QR).
- Cholesky on the centred subspace when ``U``'s rows sum to zero (``1ᵀ U = 0``, as after
  BatchNorm in a linear net: ``U Uᵀ`` is then singular by construction). With ``V``
  (``B × (B − 1)``) an orthonormal basis of ``1^⊥``, ``U = V Ũ``, ``Ũ = Vᵀ U``, and the
  Cholesky route runs on ``K̃ = Vᵀ K V = L̃ L̃ᵀ`` (``k = B − 1``): ``H = s V L̃ Z`` and
  ``dℓ/dU = (G Hᵀ − M Uᵀ) V K̃⁻¹ Vᵀ U + M``. "Sum to zero" means
  ``‖1ᵀ U‖² ≤`` :data:`CENTRED_TOL` ``· B · tr K``: the part of ``U`` along ``1`` that the
  route drops is then at most ``1e-12`` of ``‖U‖_F`` (after BatchNorm it is rounding,
  about ``1e-15``).
- Householder QR of ``Uᵀ`` otherwise (rank-deficient or ill-conditioned inputs, as in
  collapsing deep linear nets, or ``d < B``): backward stable, ``k = min(B, d)``, ``Q`` and
  ``Z`` stored.

The Gram matrices ``X Xᵀ`` are numpy products (BLAS ``syrk``: half the work of a general
product); the normalizers and probes run in numba.

Trials run in parallel threads (numba's thread count), each with its own stream of
:mod:`normtheory.kernels.rng` seeded from ``(seed, trial)``: the same seed gives the
same numbers whatever the thread count. BLAS is limited to one thread meanwhile.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.linalg import lapack, qr

from normtheory.kernels.exact_in_law import branch_preactivation
from normtheory.kernels.explicit import fail_here, gram_probes, mix_seed, probes_finite
from normtheory.kernels.gram_memory import keep_freed_memory
from normtheory.kernels.gram_steps import (
    conditioned_cholesky,
    layer_output,
    output_backward,
    psd_factor,
    residual_input,
    residual_input_backward,
    rows_sum_to_zero,
    upper_triangle,
)
from normtheory.kernels.lapack import solve_rows
from normtheory.kernels.mlp_norms import GAUSSIAN, norm_code, phi_code, weight_code
from normtheory.kernels.rng import normal_from_state, seeded_state
from normtheory.montecarlo.result import rank_mask
from normtheory.montecarlo.threads import run_in_threads
from normtheory.names import NAMES, PARAMETRIC_NAMES, VARIANT_NAMES

#: normalizers whose theory MLPs have i.i.d. Gaussian weights (the Gram engine is exact)
EXACT_NORMS = tuple(name for name in NAMES + VARIANT_NAMES if name not in PARAMETRIC_NAMES)
#: smallest reciprocal condition number of the Gram ``U Uᵀ`` for the Cholesky route
RCOND_MIN = 1e-8
#: ``U``'s rows sum to zero when ``‖1ᵀ U‖² ≤ CENTRED_TOL · B · tr(U Uᵀ)`` (centred route)
CENTRED_TOL = 1e-24
#: ``engine="auto"`` runs the Gram engine from this width on, and from twice the batch
#: (measured crossover with the explicit engine, GN-ReLU with group size 8, depth 100,
#: 2 trials on 2 cores, best of 3: at batch 16 explicit 0.021 s / Gram 0.049 s at width
#: 128, 0.071 / 0.053 at width 256; at batch 64 0.119 / 0.106 at width 256, 0.272 / 0.136
#: at width 384)
AUTO_MIN_WIDTH = 256


def applies(norm: str, backward: bool) -> bool:
    """Whether the Gram engine is exact for ``norm`` (with a backward pass if ``backward``)."""
    return norm in EXACT_NORMS or (weight_code(norm) != GAUSSIAN and not backward)


def prefer_gram(s: dict) -> bool:
    """Whether ``engine="auto"`` should run the settings ``s`` on the Gram engine: exact and
    faster (``s["backward"]`` missing counts as a backward pass)."""
    return applies(s["norm"], s.get("backward", True)) and s["width"] >= max(AUTO_MIN_WIDTH, 2 * s["batch"])


def _cholesky(gram: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of ``gram`` (LAPACK ``dpotrf``), or ``None`` if ``gram`` is not
    positive definite or its reciprocal condition number (``dpocon``) is below RCOND_MIN."""
    chol, ok = conditioned_cholesky(gram, RCOND_MIN)
    return chol if ok else None


@lru_cache(maxsize=64)
def _qr_lwork(m: int, n: int) -> tuple[int, int]:
    """LAPACK's optimal workspace sizes of ``dgeqrf`` and ``dorgqr`` for an ``m × n`` (``m ≥ n``)
    input (workspace queries; they depend on the shape only)."""
    probe = np.zeros((m, n), order="F")
    geqrf = int(lapack.dgeqrf(probe, lwork=-1)[2][0])
    orgqr = int(lapack.dorgqr(probe, np.zeros(n), lwork=-1)[1][0])
    return geqrf, orgqr


def householder_qr(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Q, R)`` of the economic Householder QR of ``a`` (``m × n``, ``m ≥ n``): LAPACK
    ``dgeqrf`` then ``dorgqr`` with their optimal workspaces, as ``scipy.linalg.qr(a,
    mode="economic")`` calls them (the same numbers), without its per-call workspace queries."""
    m, n = a.shape
    lwork_qr, lwork_q = _qr_lwork(m, n)
    qr_, tau, _, info = lapack.dgeqrf(a, lwork=lwork_qr)
    if info < 0:
        raise ValueError(f"householder_qr: invalid argument {-info} to dgeqrf")
    r = upper_triangle(qr_, n)
    q, _, info = lapack.dorgqr(qr_, tau, lwork=lwork_q, overwrite_a=1)
    if info < 0:
        raise ValueError(f"householder_qr: invalid argument {-info} to dorgqr")
    return q, r


@lru_cache(maxsize=16)
def centred_basis(b: int) -> np.ndarray:
    """``V`` (``b × (b − 1)``, read-only): an orthonormal basis of the vectors whose entries sum to 0."""
    q = np.linalg.qr(np.column_stack([np.ones(b), np.eye(b)[:, :b - 1]]))[0]
    v = np.ascontiguousarray(q[:, 1:])
    v.flags.writeable = False
    return v


class GaussianWeight:
    """One layer's weight ``W`` (``d × d``, i.i.d. ``N(0, scale²)``), drawn through its input.

    ``forward(rng)`` returns ``H = U Wᵀ``; ``backward(G, rng)`` returns ``G W`` for the same
    ``W`` (see the module docstring). ``gram`` is ``U Uᵀ``. ``route`` is ``"cholesky"``,
    ``"centred"`` or ``"qr"``.
    """

    def __init__(self, u: np.ndarray, gram: np.ndarray, scale: float):
        self.u, self.scale = u, scale
        self.basis = None
        self.chol = _cholesky(gram)
        if self.chol is None and rows_sum_to_zero(u, gram, CENTRED_TOL):
            basis = centred_basis(gram.shape[0])
            self.chol = _cholesky(basis.T @ gram @ basis)
            if self.chol is not None:
                self.basis = basis
        self.route = "qr" if self.chol is None else ("cholesky" if self.basis is None else "centred")
        self.h = self.qt = self.z = None

    def forward(self, rng) -> np.ndarray:
        d = self.u.shape[1]
        if self.chol is not None:
            factor = self.chol if self.basis is None else self.basis @ self.chol
            self.h = (self.scale * factor) @ normal_from_state(rng, self.chol.shape[0], d)
            return self.h
        q, r = householder_qr(self.u.T) if d >= self.u.shape[0] else qr(self.u.T, mode="economic", check_finite=False)
        self.qt = np.ascontiguousarray(q.T)
        self.z = normal_from_state(rng, q.shape[1], d)
        self.h = (self.scale * r.T) @ self.z
        return self.h

    def backward(self, g: np.ndarray, rng) -> np.ndarray:
        d = self.u.shape[1]
        k = self.chol.shape[0] if self.chol is not None else self.qt.shape[0]
        m = None
        if d > k:  # the part of W the forward pass did not see
            s = psd_factor(g @ g.T)
            m = (self.scale * s) @ normal_from_state(rng, s.shape[1], d)
        if self.chol is not None:
            c = g @ self.h.T
            if m is not None:
                c -= m @ self.u.T
            # c K⁻¹ in place (dpotrs on the temporary c, without the GIL)
            if self.basis is None:
                solve_rows(self.chol, c)
                grad = c @ self.u
            else:
                cv = c @ self.basis
                solve_rows(self.chol, cv)
                grad = (cv @ self.basis.T) @ self.u
        else:
            c = g @ (self.scale * self.z).T
            if m is not None:
                c -= m @ self.qt.T
            grad = c @ self.qt
        if m is not None:
            grad += m
        return grad


def _squared_norm(a: np.ndarray) -> float:
    """``‖a‖_F²`` (one BLAS dot)."""
    flat = a.ravel()
    return float(flat @ flat)


def _input(rng, b: int, d: int, input_corr: float) -> np.ndarray:
    """``X_0``: rows ``sqrt(c0)·z + sqrt(1 − c0)·z_i`` (docs/settings.md)."""
    x = normal_from_state(rng, b, d)
    if input_corr > 0.0:
        x = math.sqrt(1.0 - input_corr) * x + math.sqrt(input_corr) * normal_from_state(rng, 1, d)
    return x


def _trial(s: dict, betas: np.ndarray, trial: int, backward: bool, rank_at: np.ndarray, fail_trial: int = -1):
    """One trial: ``(probes (5, depth + 1), forward divergence layer, backward divergence layer)``.

    The divergence layers follow :func:`normtheory.kernels.explicit.simulate_trial`
    (``-1``: none); a kernel's arithmetic exception (numba's ``ZeroDivisionError`` on
    overflowed statistics) counts as a divergence at the layer in progress.
    """
    b, d, depth, residual, alpha = s["batch"], s["width"], s["depth"], s["residual"], s["alpha"]
    code, phi, g, eps = norm_code(s["norm"]), phi_code(s["norm"], s["nonlinearity"]), s["group_size"], s["eps"]
    scale = (1.0 if s["nonlinearity"] == "linear" else math.sqrt(2.0)) / math.sqrt(d)
    rng = seeded_state(mix_seed(s["seed"], trial, 0))
    mode = weight_code(s["norm"])
    out = np.full((5, depth + 1), np.nan)
    x = _input(rng, b, d, s["input_corr"])
    k = x @ x.T
    out[:4, 0] = gram_probes(x, k, rank_at[0])
    tape = []
    for layer in range(1, depth + 1):
        try:
            if residual:
                u = residual_input(phi, x, betas[layer - 1])
                k = u @ u.T
            else:
                u = x  # its Gram k comes with the previous layer's probes
            if mode == GAUSSIAN:
                weight = GaussianWeight(u, k, scale)
                h = weight.forward(rng)
            else:  # row-normalised weights, forward only
                weight, h = None, branch_preactivation(u, mode, 1.0, rng)
            xn = layer_output(code, phi, g, eps, h, x, residual, alpha)
            if trial == fail_trial:
                fail_here(fail_trial, trial, layer, xn)
            k = xn @ xn.T
            # NaN when the Gram is not finite, which it is not when xn is not: its diagonal
            # holds the rows' sums of squares (no separate pass over xn)
            probes = gram_probes(xn, k, rank_at[layer])
        except (ArithmeticError, np.linalg.LinAlgError):
            return out, layer, -1
        if not probes_finite(probes, rank_at[layer]):
            return out, layer, -1
        out[:4, layer] = probes
        tape.append((weight, x))
        x = xn
    if not backward:
        return out, -1, -1
    gx = normal_from_state(rng, b, d)
    out[4, depth] = _squared_norm(gx)
    for layer in range(depth, 0, -1):
        weight, xp = tape.pop()
        try:
            gh = output_backward(code, phi, g, eps, gx, weight.h, residual, alpha)
            gu = weight.backward(gh, rng)
            gx = residual_input_backward(phi, gx, gu, xp, betas[layer - 1]) if residual else gu
        except (ArithmeticError, np.linalg.LinAlgError):
            return out, -1, layer - 1
        sq = _squared_norm(gx)
        if not math.isfinite(sq):
            return out, -1, layer - 1
        out[4, layer - 1] = sq
    return out, -1, -1


def simulate_gram(s: dict, betas: np.ndarray, backward: bool = True, fail_trial: int = -1):
    """All trials of the settings ``s`` (as built by :func:`normtheory.montecarlo.simulate_mlp`).

    Returns ``(variance, cosine, stable_rank, srank_excess, grad_sq, forward divergence
    layers, backward divergence layers)``, arrays of shape ``(trials, depth + 1)`` and
    ``(trials,)`` (``-1``: none). ``fail_trial`` is the test-only hook of
    :func:`normtheory.kernels.explicit.simulate_explicit`.
    """
    if not applies(s["norm"], backward):
        raise ValueError(
            f"engine='gram' runs {s['norm']} (each weight row normalized) forward only: its backward pass "
            "needs explicit weights (use backward=False, or engine='explicit' or 'auto')")
    trials = s["trials"]
    betas = np.asarray(betas, dtype=np.float64)
    keep_freed_memory()
    rank_at = rank_mask(s.get("rank_layers", "all"), s["depth"])
    results = [None] * trials

    def chunk(start, stop):
        for t in range(start, stop):
            results[t] = _trial(s, betas, t, backward, rank_at, fail_trial)

    run_in_threads(chunk, trials)
    probes = np.stack([r[0] for r in results], axis=1)  # (5, trials, depth + 1)
    div = np.array([r[1] for r in results], dtype=np.int64)
    bdiv = np.array([r[2] for r in results], dtype=np.int64)
    return (*probes, div, bdiv)
