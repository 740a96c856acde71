"""numba kernels of the weight-free chain (:mod:`normtheory.montecarlo.exact_in_law`).

One replicate propagates ``b`` samples (a pair, or a whole batch) of the theory MLP of
docs/settings.md, residual or not, through ``depth`` layers without any weight matrix:
given the layer's weight input ``A`` (``b × d``: ``phi(X / beta)`` in a residual block,
``X`` itself in the non-residual ``X_l = phi(N(X_{l−1} W_lᵀ))``), the pre-activations
``H = A Wᵀ`` are drawn from their exact conditional law (the derivation is in the module
docstring of :mod:`normtheory.montecarlo.exact_in_law`):

- Gaussian weights (``W_ij ~ N(0, gain²/d)``): ``H = L Z``, ``L Lᵀ = (gain²/d) A Aᵀ``,
  ``Z`` (``b × d``) i.i.d. N(0, 1);
- weight-normalized rows (``w = v/|v|``): column ``k`` of ``H`` is
  ``L_r ζ_k / sqrt(|ζ_k|² + c_k)``, ``L_r L_rᵀ = A Aᵀ`` of rank ``r``, ``ζ_k ~ N(0, I_r)``,
  ``c_k ~ χ²_{d − r}``;
- SWS rows (``w = P v/|P v|``, ``P`` the centring projection): the same with ``A`` replaced
  by its row-centred ``A P`` and ``c_k ~ χ²_{d − 1 − r}``.

The factor ``L`` comes from a semidefinite Cholesky (:func:`psd_cholesky`): a pivot at most
:data:`PIVOT_TOL` times the largest diagonal entry marks its row as dependent on the
earlier ones (rank deficient), and its column is set to zero.

Random numbers: each replicate seeds its own xoshiro256** stream
(:func:`normtheory.kernels.rng.seeded_state`) from ``(seed, replicate)``; χ² draws are
``2·Gamma(k/2)`` by Marsaglia and Tsang's exact rejection method (2000; shape below 1 by
their boost ``Gamma(a) = Gamma(a + 1)·U^{1/a}``). Same seed, same numbers, whatever the
thread count. Nothing raises out of :func:`run_replicates` (chunks of replicates run in
parallel threads): a replicate whose representation stops being finite, or whose kernels
raise, records the layer where it diverged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from normtheory.kernels.mlp_norms import GAUSSIAN, SWS, column_moments, norm_forward, phi_forward
from normtheory.kernels.rng import fill_from_state, seeded_state, uniform_from_state
from normtheory.kernels.top_eigenvalue import mean_pairwise_cosine

#: the statistic a replicate reports: the activation-variance probe or the mean pairwise cosine similarity
VARIANCE, COSINE = 0, 1
#: a Cholesky pivot at most this fraction of the largest diagonal entry is a dependent row
PIVOT_TOL = 1e-13


@njit(cache=True, nogil=True)
def replicate_seed(seed, replicate):
    """A 64-bit seed of replicate ``replicate`` of the stream ``seed`` (splitmix-style mixing)."""
    z = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(replicate) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(31))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(29))


@njit(cache=True, nogil=True)
def _normal(state, buf):
    fill_from_state(buf, state)
    return buf[0]


@njit(cache=True, nogil=True)
def _proposal(state, dd, c, z):
    """One Marsaglia-Tsang proposal from the normal ``z``: ``dd·v`` if accepted (squeeze test
    first, then the exact logarithmic test), else ``-1``."""
    v = 1.0 + c * z
    if v <= 0.0:
        return -1.0
    v = v * v * v
    u = uniform_from_state(state)
    z2 = z * z
    if u < 1.0 - 0.0331 * z2 * z2 or math.log(u) < 0.5 * z2 + dd - dd * v + dd * math.log(v):
        return dd * v
    return -1.0


@njit(cache=True, nogil=True)
def _rejected(state, dd, c, buf):
    """Proposals from fresh normals of ``state`` until one is accepted."""
    while True:
        out = _proposal(state, dd, c, _normal(state, buf))
        if out > 0.0:
            return out


@njit(cache=True, nogil=True)
def gamma_draw(state, shape, z, buf):
    """One Gamma(``shape``, 1) draw (``shape > 0``) by Marsaglia and Tsang (2000), with ``z``
    (a fresh N(0, 1) draw) as the first proposal's normal; further proposals (about 2% at
    shape 30) draw from ``state``. Shape below 1 by their boost ``Gamma(a + 1)·U^{1/a}``."""
    boost = 1.0
    a = shape
    if a < 1.0:
        boost = uniform_from_state(state) ** (1.0 / a)
        a += 1.0
    dd = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * dd)
    out = _proposal(state, dd, c, z)
    if out < 0.0:
        out = _rejected(state, dd, c, buf)
    return out * boost


@njit(cache=True, nogil=True)
def chi2_draw(state, dof, z, buf):
    """One χ² draw with ``dof`` degrees of freedom (0 for ``dof = 0``); ``z`` as in :func:`gamma_draw`."""
    if dof <= 0:
        return 0.0
    return 2.0 * gamma_draw(state, 0.5 * dof, z, buf)


@njit(cache=True, nogil=True)
def psd_cholesky(k):
    """``(L, rank)`` with ``L Lᵀ = k`` for a positive semidefinite ``k``; columns of dependent
    rows (pivot at most :data:`PIVOT_TOL` times the largest diagonal) are zero."""
    n = k.shape[0]
    lo = np.zeros((n, n))
    top = 0.0
    for i in range(n):
        top = max(top, k[i, i])
    rank = 0
    for j in range(n):
        s = k[j, j]
        for m in range(j):
            s -= lo[j, m] * lo[j, m]
        if s <= PIVOT_TOL * top or s <= 0.0:
            continue
        piv = math.sqrt(s)
        lo[j, j] = piv
        rank += 1
        for i in range(j + 1, n):
            t = k[i, j]
            for m in range(j):
                t -= lo[i, m] * lo[j, m]
            lo[i, j] = t / piv
    return lo, rank


@njit(cache=True, nogil=True)
def branch_preactivation(a, mode, gain, state):
    """``H = A Wᵀ`` (``b × d``) drawn from its exact law given ``A`` (see the module docstring)."""
    b, d = a.shape
    if mode == SWS:
        a = a.copy()
        for i in range(b):
            mean = np.mean(a[i, :])
            for j in range(a.shape[1]):  # by element: no slice assignment (see explicit.store_rows)
                a[i, j] -= mean
    k = a @ a.T
    if mode == GAUSSIAN:
        k *= gain * gain / d
    lo, rank = psd_cholesky(k)
    if mode == GAUSSIAN:
        z = np.empty(b * d)
        fill_from_state(z, state)
        return lo @ z.reshape((b, d))
    free = d - rank - (1 if mode == SWS else 0)  # dimensions of the row's direction outside A's rows
    h = np.zeros((b, d))
    zeta = np.empty((d, b + 1))  # per column: b normals for zeta, one for the χ² draw
    fill_from_state(zeta.reshape(d * (b + 1)), state)
    buf = np.empty(1)
    for col in range(d):
        sq = 0.0
        for j in range(b):
            if lo[j, j] > 0.0:
                sq += zeta[col, j] * zeta[col, j]
            else:
                zeta[col, j] = 0.0
        scale = 1.0 / math.sqrt(sq + chi2_draw(state, free, zeta[col, b], buf))
        for i in range(b):
            t = 0.0
            for j in range(i + 1):
                t += lo[i, j] * zeta[col, j]
            h[i, col] = t * scale
    return h


@njit(cache=True, nogil=True)
def pair_probe(x, batch):
    """``(1 − 1/batch)·|x_1 − x_2|²/(2d)``: its expectation is that of the activation-variance
    probe of a batch of ``batch`` exchangeable samples (module docstring)."""
    d = x.shape[1]
    s = 0.0
    for j in range(d):
        t = x[0, j] - x[1, j]
        s += t * t
    return (1.0 - 1.0 / batch) * s / (2.0 * d)


@njit(cache=True, nogil=True)
def batch_probe(x):
    """The activation-variance probe: per-column biased variance over the rows, averaged."""
    return np.mean(column_moments(x, np.bool_(True))[1])


@njit(cache=True, nogil=True)
def pair_cosine(x):
    """``cos(x_1, x_2)``: its expectation is that of the mean pairwise cosine similarity of a
    batch of exchangeable samples (module docstring of :mod:`normtheory.montecarlo.exact_in_law`);
    NaN for a zero row."""
    d = x.shape[1]
    s12, s11, s22 = 0.0, 0.0, 0.0
    for j in range(d):
        s12 += x[0, j] * x[1, j]
        s11 += x[0, j] * x[0, j]
        s22 += x[1, j] * x[1, j]
    return s12 / math.sqrt(s11 * s22)


@njit(cache=True, nogil=True)
def replicate_probe(x, probe, pair, batch):
    """The reported statistic of ``x``: pair forms standing for a batch of ``batch``, or the batch's own."""
    if probe == COSINE:
        return pair_cosine(x) if pair else mean_pairwise_cosine(x @ x.T)
    return pair_probe(x, batch) if pair else batch_probe(x)


@njit(cache=True, nogil=True)
def chain_replicate(code, phi, g, eps, samples, batch, d, depth, residual, alpha, betas, mode, gain, input_corr,
                    probe, seed, rep, row, out):
    """Replicate ``rep`` of the stream ``seed``: writes ``out[row, l]`` for ``l = 0..depth`` while finite; returns the
    first layer whose representation or probe is not finite, ``-1`` for none.

    Input rows ``sqrt(1 − input_corr)·z_i + sqrt(input_corr)·s`` (``s`` shared, drawn only for
    ``input_corr > 0``); residual blocks ``X + alpha·N(H)`` with ``A = phi(X/beta)``, else
    ``phi(N(H))`` with ``A = X``."""
    state = seeded_state(np.int64(replicate_seed(seed, rep)))  # the same bits, seeded_state's one signature
    z = np.empty(samples * d)
    fill_from_state(z, state)
    x = z.reshape((samples, d))
    if input_corr > 0.0:
        shared = np.empty(d)
        fill_from_state(shared, state)
        x = math.sqrt(1.0 - input_corr) * x
        for i in range(samples):
            for j in range(d):
                x[i, j] += math.sqrt(input_corr) * shared[j]
    pair = samples != batch  # a pair standing for a batch of `batch`; else the whole batch
    out[row, 0] = replicate_probe(x, probe, pair, batch)
    for layer in range(1, depth + 1):
        a = phi_forward(phi, x / betas[layer - 1]) if residual else x
        h = branch_preactivation(a, mode, gain, state)
        y, r, m = norm_forward(code, h, g, eps)
        x = x + alpha * y if residual else phi_forward(phi, y)
        if not np.all(np.isfinite(x)):
            return layer
        v = replicate_probe(x, probe, pair, batch)
        if not np.isfinite(v):
            return layer
        out[row, layer] = v
    return -1


@njit(cache=True, nogil=True)
def run_replicates(code, phi, g, eps, samples, batch, d, depth, residual, alpha, betas, mode, gain, input_corr,
                   probe, seed, first, start, stop, out, div):
    """Rows ``start .. stop − 1`` of ``out`` (``(replicates, depth + 1)``, NaN-filled) and ``div``:
    replicates ``first + row`` (:func:`chain_replicate`), never raising. An exception ends the
    replicate as a divergence at the first layer it has not written. The caller runs chunks
    of rows in parallel threads (:mod:`normtheory.montecarlo.threads`)."""
    for row in range(start, stop):
        layer = -1
        try:
            layer = chain_replicate(code, phi, g, eps, samples, batch, d, depth, residual, alpha, betas, mode, gain,
                                    input_corr, probe, seed, first + row, row, out)
        except Exception:  # noqa: BLE001 (numba catches no narrower class)
            layer = _first_unwritten(out, row, depth)
        div[row] = layer


@njit(cache=True, nogil=True)
def _first_unwritten(out, row, depth):
    """The divergence layer of a replicate whose kernel raised: its first layer without a value (at least 1)."""
    for layer in range(depth + 1):
        if np.isnan(out[row, layer]):
            return max(layer, 1)
    return depth
