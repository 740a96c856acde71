"""Closed-form forward and backward of every normalizer on an MLP activation ``(B, d)``.

Definitions: docs/settings.md with ``H = W = 1``. Every centred normalizer computes
``y = (x − μ) / s`` with ``s = sqrt(var + eps)`` over its ``n`` entries; its backward is

    dx = (dy − mean(dy) − y · mean(dy · y)) / s,

the uncentred ones (variancenorm_uncentred, frn) ``y = x / s`` with
``s = sqrt(mean(x²) + eps)`` and ``dx = (dy − y · mean(dy · y)) / s``, and the paper's
Variance Normalization (variancenorm) ``y = x / s`` with the centred ``s = sqrt(var + eps)``
and no mean subtracted, whose backward is

    dx = (dy − (y − mean(y)) · mean(dy · y)) / s

(all derived here by differentiating ``s``: ``∂s/∂x_k = (x_k − μ)/(n s)``, ``μ = 0`` for the
uncentred ones; exact with ``eps``). Batch statistics (per column over the ``B`` rows) are
computed on the transpose, per-sample statistics (per row, in groups of ``g`` consecutive
columns) directly.

EvoNorm-B0 in MLP form has zero instance variance, so
``y = x / max(s_b, x + sqrt(eps))`` with ``s_b`` the batch std per column; EvoNorm-S0 is
``y = x · sigmoid(x) / s_g`` with ``s_g`` the centred group std per row. Their backward
passes are derived here by the chain rule through ``s_b`` and ``s_g``.

Each forward returns ``(y, r, m)``: the output, ``1 / s`` per statistic (shape ``(1, d)``
for batch statistics, ``(B, d // g)`` for per-sample ones) and a per-entry auxiliary (the
EvoNorm-B0 branch mask; else unused), which the backward takes with the forward's input
and output.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from normtheory.names import EVONORM_NAMES, check_name

# integer codes used inside jitted code
(BATCHNORM, LAYERNORM, INSTANCENORM, GROUPNORM, VARIANCENORM, FRN, EVONORM_B0, EVONORM_S0, IDENTITY,
 VARIANCENORM_UNCENTRED) = range(10)
KERNEL_CODES = {
    "batchnorm": BATCHNORM,
    "layernorm": LAYERNORM,
    "instancenorm": INSTANCENORM,
    "groupnorm": GROUPNORM,
    "variancenorm": VARIANCENORM,
    "variancenorm_uncentred": VARIANCENORM_UNCENTRED,
    "frn": FRN,
    "evonorm_b0": EVONORM_B0,
    "evonorm_s0": EVONORM_S0,
    "plain": IDENTITY,
    "weightnorm": IDENTITY,
    "sws": IDENTITY,
}
# paired nonlinearities
PHI_IDENTITY, PHI_RELU, PHI_CORRECTED_RELU, PHI_SCALED_RELU = range(4)
PHI_CODES = {"identity": PHI_IDENTITY, "relu": PHI_RELU, "corrected_relu": PHI_CORRECTED_RELU,
             "scaled_relu": PHI_SCALED_RELU}
RELU_GAIN = np.sqrt(2 * np.pi / (np.pi - 1))
RELU_SHIFT = 1.0 / np.sqrt(2 * np.pi)
#: numba fastmath flags of the reductions: reassociation only (sums vectorize); NaN and inf
#: keep IEEE semantics, so that divergence is still detected downstream
REASSOC = {"reassoc", "contract"}


def norm_code(name: str) -> int:
    return KERNEL_CODES[check_name(name)]


#: how a theory MLP's weights are drawn: i.i.d. Gaussian, rows of unit norm (weightnorm), rows
#: centred then of unit norm (sws)
GAUSSIAN, WEIGHTNORM, SWS = 0, 1, 2


def weight_code(name: str) -> int:
    """Code of the weights drawn with normalizer ``name`` (docs/settings.md)."""
    return {"weightnorm": WEIGHTNORM, "sws": SWS}.get(check_name(name), GAUSSIAN)


def phi_code(name: str, nonlinearity: str) -> int:
    """Code of the nonlinearity paired with ``name`` (docs/settings.md) in a linear or ReLU net."""
    name = check_name(name)
    if nonlinearity == "linear" or name in EVONORM_NAMES:
        return PHI_IDENTITY  # EvoNorm layers are their own nonlinearity
    if nonlinearity != "relu":
        raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
    # frn: its TLU max(y, tau) with tau = 0 at init is a ReLU
    return {"weightnorm": PHI_CORRECTED_RELU, "sws": PHI_SCALED_RELU}.get(name, PHI_RELU)


@njit(cache=True, fastmath=REASSOC)
def _rows_fwd(x, g, center, eps, y, r):
    """Per-sample statistics: groups of ``g`` consecutive columns of each row; ``r[i, k]`` is
    ``1 / s`` of row ``i``'s group ``k``. (Loops over contiguous slices: they vectorize.)"""
    m, d = x.shape
    for i in range(m):
        for k in range(d // g):
            xs = x[i, k * g:(k + 1) * g]
            ys = y[i, k * g:(k + 1) * g]
            mu = 0.0
            if center:
                for j in range(g):
                    mu += xs[j]
                mu /= g
            v = 0.0
            for j in range(g):
                t = xs[j] - mu
                v += t * t
            inv = 1.0 / np.sqrt(v / g + eps)
            r[i, k] = inv
            for j in range(g):
                ys[j] = (xs[j] - mu) * inv


@njit(cache=True, fastmath=REASSOC)
def _rows_bwd(gy, y, r, g, center, gx):
    m, d = gy.shape
    for i in range(m):
        for k in range(d // g):
            gys = gy[i, k * g:(k + 1) * g]
            ys = y[i, k * g:(k + 1) * g]
            gxs = gx[i, k * g:(k + 1) * g]
            a = 0.0
            b = 0.0
            for j in range(g):
                a += gys[j]
                b += gys[j] * ys[j]
            a = a / g if center else 0.0
            b /= g
            inv = r[i, k]
            for j in range(g):
                gxs[j] = (gys[j] - a - ys[j] * b) * inv


@njit(cache=True, nogil=True, fastmath=REASSOC)
def column_moments(x, center):
    """Per-column mean (0 if not ``center``) and biased variance (second moment if not
    ``center``) of ``x`` over its rows, in row-major passes."""
    b, d = x.shape
    mu = np.zeros(d)
    if center:
        for i in range(b):
            for j in range(d):
                mu[j] += x[i, j]
        mu /= b
    var = np.zeros(d)
    for i in range(b):
        for j in range(d):
            var[j] += (x[i, j] - mu[j]) ** 2
    return mu, var / b


@njit(cache=True, fastmath=REASSOC)
def _columns_fwd(x, center, keep_mean, eps, y, r):
    """Per-column statistics over the rows (batch statistics); ``r[0, j]`` is column ``j``'s
    ``1 / s``. ``keep_mean``: the mean is removed inside the variance only (variancenorm)."""
    b, d = x.shape
    mu, var = column_moments(x, center)
    shift = np.zeros(d) if keep_mean else mu
    for j in range(d):
        r[0, j] = 1.0 / np.sqrt(var[j] + eps)
    for i in range(b):
        for j in range(d):
            y[i, j] = (x[i, j] - shift[j]) * r[0, j]


@njit(cache=True, fastmath=REASSOC)
def _columns_bwd(gy, y, r, center, keep_mean, gx):
    b, d = gy.shape
    a = np.zeros(d)  # mean(dy) where the output is centred
    c = np.zeros(d)  # mean(dy · y)
    ybar = np.zeros(d)  # mean(y) where the statistic is centred and the output is not
    for i in range(b):
        for j in range(d):
            if center and not keep_mean:
                a[j] += gy[i, j]
            if keep_mean:
                ybar[j] += y[i, j]
            c[j] += gy[i, j] * y[i, j]
    a /= b
    c /= b
    ybar /= b
    for i in range(b):
        for j in range(d):
            gx[i, j] = (gy[i, j] - a[j] - (y[i, j] - ybar[j]) * c[j]) * r[0, j]


@njit(cache=True)
def _standardize(x, g, center, eps, batch, keep_mean):
    """``(y, r)``: the standardized ``x`` and ``1 / s`` per statistic, shape ``(1, d)`` for batch
    statistics, ``(B, d // g)`` for per-sample ones; ``keep_mean`` (batch statistics only):
    divide without subtracting the mean."""
    b, d = x.shape
    y = np.empty_like(x)
    if batch:
        r = np.empty((1, d))
        _columns_fwd(x, center, keep_mean, eps, y, r)
    else:
        r = np.empty((b, d // g))
        _rows_fwd(x, g, center, eps, y, r)
    return y, r


@njit(cache=True)
def _standardize_bwd(gy, y, r, g, center, batch, keep_mean):
    gx = np.empty_like(gy)
    if batch:
        _columns_bwd(gy, y, r, center, keep_mean, gx)
    else:
        _rows_bwd(gy, y, r, g, center, gx)
    return gx


@njit(cache=True)
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@njit(cache=True)
def _statistics(code, b, d, g):
    """``(n, center, batch, keep_mean)`` of normalizer ``code`` on a ``(b, d)`` input: the entries
    per statistic (the row group for per-sample statistics; ``b`` for batch ones), whether it
    is centred, whether over the batch, and whether the output keeps the mean
    (variancenorm); ``n = -1`` for the codes without statistics.

    Computed at run time on purpose: called with constant flags, numba would compile
    :func:`_standardize` and its loops once per combination of constants (about ten
    compilations on a cold cache instead of one each)."""
    if code == BATCHNORM or code == EVONORM_B0:
        return b, True, True, False
    if code == VARIANCENORM:
        return b, True, True, True
    if code == VARIANCENORM_UNCENTRED:
        return b, False, True, False
    if code == LAYERNORM:
        return d, True, False, False
    if code == INSTANCENORM:
        return 1, True, False, False
    if code == GROUPNORM or code == EVONORM_S0:
        return g, True, False, False
    if code == FRN:
        return 1, False, False, False
    return -1, False, False, False


@njit(cache=True)
def norm_forward(code, x, g, eps):
    """``(y, r, m)`` for normalizer ``code`` on ``x`` (B, d); ``g`` the group size where used."""
    b, d = x.shape
    m = np.zeros((0, 0))  # EvoNorm-B0's branch mask; empty for the others
    n, center, batch, keep_mean = _statistics(code, b, d, g)
    if n < 0:
        return x.copy(), np.zeros((0, 0)), m
    y, r = _standardize(x, n, center, eps, batch, keep_mean)
    if code == EVONORM_B0:  # r[0, j] = 1 / s_b of column j
        y = np.empty_like(x)
        m = np.zeros_like(x)
        se = np.sqrt(eps)
        for i in range(b):
            for j in range(d):
                sb = 1.0 / r[0, j]
                alt = x[i, j] + se
                if sb >= alt:
                    y[i, j] = x[i, j] * r[0, j]
                    m[i, j] = 1.0
                else:
                    y[i, j] = x[i, j] / alt
    elif code == EVONORM_S0:  # r[i, k] = 1 / s_g of row i's group k
        y = np.empty_like(x)
        for i in range(b):
            for j in range(d):
                y[i, j] = x[i, j] * _sigmoid(x[i, j]) * r[i, j // g]
    return y, r, m


@njit(cache=True)
def norm_backward(code, gy, x, y, r, m, g, eps):
    """Gradient with respect to the input ``x`` of :func:`norm_forward`, given ``gy``."""
    b, d = x.shape
    n, center, batch, keep_mean = _statistics(code, b, d, g)
    if n >= 0 and code != EVONORM_B0 and code != EVONORM_S0:
        return _standardize_bwd(gy, y, r, n, center, batch, keep_mean)
    gx = np.empty_like(x)
    if code == EVONORM_B0:
        # y = x / s_b where m = 1 (s_b couples the column), else y = x / (x + sqrt(eps))
        se = np.sqrt(eps)
        for j in range(d):
            mu = 0.0
            for i in range(b):
                mu += x[i, j]
            mu /= b
            acc = 0.0  # sum_i m_i gy_i x_i / s_b^2
            rj = r[0, j]
            for i in range(b):
                acc += m[i, j] * gy[i, j] * x[i, j] * rj * rj
            for i in range(b):
                if m[i, j] > 0.5:
                    direct = gy[i, j] * rj
                else:
                    alt = x[i, j] + se
                    direct = gy[i, j] * se / (alt * alt)
                gx[i, j] = direct - (x[i, j] - mu) * rj * acc / b
        return gx
    if code == EVONORM_S0:
        for i in range(b):
            for k in range(d // g):
                lo = k * g
                mu = 0.0
                for j in range(lo, lo + g):
                    mu += x[i, j]
                mu /= g
                acc = 0.0  # sum_j gy_j u_j with u = x sigmoid(x)
                for j in range(lo, lo + g):
                    acc += gy[i, j] * x[i, j] * _sigmoid(x[i, j])
                for j in range(lo, lo + g):
                    sg = _sigmoid(x[i, j])
                    du = sg + x[i, j] * sg * (1.0 - sg)
                    rr = r[i, k]
                    gx[i, j] = gy[i, j] * du * rr - (x[i, j] - mu) * rr * rr * rr * acc / g
        return gx
    return gy.copy()


@njit(cache=True)
def phi_forward(code, x):
    if code == PHI_IDENTITY:
        return x.copy()
    out = np.maximum(x, 0.0)
    if code == PHI_CORRECTED_RELU:
        return RELU_GAIN * (out - RELU_SHIFT)
    if code == PHI_SCALED_RELU:
        return RELU_GAIN * out
    return out


@njit(cache=True)
def phi_backward(code, gy, x):
    if code == PHI_IDENTITY:
        return gy.copy()
    scale = 1.0 if code == PHI_RELU else RELU_GAIN
    out = np.empty_like(gy)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = gy[i, j] * scale if x[i, j] > 0 else 0.0
    return out
