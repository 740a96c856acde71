"""Closed-form forward and backward of every normalizer on an MLP activation ``(B, d)``.

Definitions: docs/settings.md with ``H = W = 1``. Every centred normalizer computes
``y = (x − μ) / s`` with ``s = sqrt(var + eps)`` over its ``n`` entries; its backward is

    dx = (dy − mean(dy) − y · mean(dy · y)) / s,

and the uncentred ones (variancenorm, frn) ``y = x / s`` with ``s = sqrt(mean(x²) + eps)``
and ``dx = (dy − y · mean(dy · y)) / s`` (derived here by differentiating ``s``; exact with
``eps``). Batch statistics (per column over the ``B`` rows) are computed on the transpose,
per-sample statistics (per row, in groups of ``g`` consecutive columns) directly.

EvoNorm-B0 in MLP form has zero instance variance, so
``y = x / max(s_b, x + sqrt(eps))`` with ``s_b`` the batch std per column; EvoNorm-S0 is
``y = x · sigmoid(x) / s_g`` with ``s_g`` the centred group std per row. Their backward
passes are derived here by the chain rule through ``s_b`` and ``s_g``.

Each forward returns ``(y, r, m)``: the output, the per-entry ``1 / s`` (per-entry copy of
the statistic) and a per-entry auxiliary (the EvoNorm-B0 branch mask; else unused), which
the backward takes with the forward's input and output.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# integer codes used inside jitted code
BATCHNORM, LAYERNORM, INSTANCENORM, GROUPNORM, VARIANCENORM, FRN, EVONORM_B0, EVONORM_S0, IDENTITY = range(9)
KERNEL_CODES = {
    "batchnorm": BATCHNORM,
    "layernorm": LAYERNORM,
    "instancenorm": INSTANCENORM,
    "groupnorm": GROUPNORM,
    "variancenorm": VARIANCENORM,
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


def norm_code(name: str) -> int:
    from normtheory.normalizers import check_name

    return KERNEL_CODES[check_name(name)]


def phi_code(name: str, nonlinearity: str) -> int:
    """Code of the nonlinearity paired with ``name`` (docs/settings.md) in a linear or ReLU net."""
    from normtheory.normalizers import check_name

    name = check_name(name)
    if nonlinearity == "linear" or name in ("evonorm_b0", "evonorm_s0"):
        return PHI_IDENTITY  # EvoNorm layers are their own nonlinearity
    if nonlinearity != "relu":
        raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
    # frn: its TLU max(y, tau) with tau = 0 at init is a ReLU
    return {"weightnorm": PHI_CORRECTED_RELU, "sws": PHI_SCALED_RELU}.get(name, PHI_RELU)


@njit(cache=True)
def _rows_fwd(x, g, center, eps, y, r):
    m, d = x.shape
    for i in range(m):
        for k in range(d // g):
            lo = k * g
            mu = 0.0
            if center:
                for j in range(lo, lo + g):
                    mu += x[i, j]
                mu /= g
            v = 0.0
            for j in range(lo, lo + g):
                v += (x[i, j] - mu) ** 2
            inv = 1.0 / np.sqrt(v / g + eps)
            for j in range(lo, lo + g):
                y[i, j] = (x[i, j] - mu) * inv
                r[i, j] = inv


@njit(cache=True)
def _rows_bwd(gy, y, r, g, center, gx):
    m, d = gy.shape
    for i in range(m):
        for k in range(d // g):
            lo = k * g
            a = 0.0
            b = 0.0
            for j in range(lo, lo + g):
                a += gy[i, j]
                b += gy[i, j] * y[i, j]
            a = a / g if center else 0.0
            b /= g
            for j in range(lo, lo + g):
                gx[i, j] = (gy[i, j] - a - y[i, j] * b) * r[i, j]


@njit(cache=True, nogil=True)
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


@njit(cache=True)
def _columns_fwd(x, center, eps, y, r):
    """Per-column statistics over the rows (batch statistics)."""
    b, d = x.shape
    mu, var = column_moments(x, center)
    inv = 1.0 / np.sqrt(var + eps)
    for i in range(b):
        for j in range(d):
            y[i, j] = (x[i, j] - mu[j]) * inv[j]
            r[i, j] = inv[j]


@njit(cache=True)
def _columns_bwd(gy, y, r, center, gx):
    b, d = gy.shape
    a = np.zeros(d)
    c = np.zeros(d)
    for i in range(b):
        for j in range(d):
            if center:
                a[j] += gy[i, j]
            c[j] += gy[i, j] * y[i, j]
    a /= b
    c /= b
    for i in range(b):
        for j in range(d):
            gx[i, j] = (gy[i, j] - a[j] - y[i, j] * c[j]) * r[i, j]


@njit(cache=True)
def _standardize(x, g, center, eps, batch):
    y = np.empty_like(x)
    r = np.empty_like(x)
    if batch:
        _columns_fwd(x, center, eps, y, r)
    else:
        _rows_fwd(x, g, center, eps, y, r)
    return y, r


@njit(cache=True)
def _standardize_bwd(gy, y, r, g, center, batch):
    gx = np.empty_like(gy)
    if batch:
        _columns_bwd(gy, y, r, center, gx)
    else:
        _rows_bwd(gy, y, r, g, center, gx)
    return gx


@njit(cache=True)
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@njit(cache=True)
def norm_forward(code, x, g, eps):
    """``(y, r, m)`` for normalizer ``code`` on ``x`` (B, d); ``g`` the group size where used."""
    b, d = x.shape
    m = np.zeros((0, 0))  # EvoNorm-B0's branch mask; empty for the others
    if code == BATCHNORM:
        y, r = _standardize(x, b, True, eps, True)
    elif code == VARIANCENORM:
        y, r = _standardize(x, b, False, eps, True)
    elif code == LAYERNORM:
        y, r = _standardize(x, d, True, eps, False)
    elif code == INSTANCENORM:
        y, r = _standardize(x, 1, True, eps, False)
    elif code == GROUPNORM:
        y, r = _standardize(x, g, True, eps, False)
    elif code == FRN:
        y, r = _standardize(x, 1, False, eps, False)
    elif code == EVONORM_B0:
        z, r = _standardize(x, b, True, eps, True)  # r = 1 / s_b per entry
        y = np.empty_like(x)
        m = np.zeros_like(x)
        se = np.sqrt(eps)
        for i in range(b):
            for j in range(d):
                sb = 1.0 / r[i, j]
                alt = x[i, j] + se
                if sb >= alt:
                    y[i, j] = x[i, j] * r[i, j]
                    m[i, j] = 1.0
                else:
                    y[i, j] = x[i, j] / alt
    elif code == EVONORM_S0:
        z, r = _standardize(x, g, True, eps, False)
        y = np.empty_like(x)
        for i in range(b):
            for j in range(d):
                y[i, j] = x[i, j] * _sigmoid(x[i, j]) * r[i, j]
    else:
        y = x.copy()
        r = np.ones_like(x)
    return y, r, m


@njit(cache=True)
def norm_backward(code, gy, x, y, r, m, g, eps):
    """Gradient with respect to the input ``x`` of :func:`norm_forward`, given ``gy``."""
    b, d = x.shape
    if code == BATCHNORM:
        return _standardize_bwd(gy, y, r, b, True, True)
    if code == VARIANCENORM:
        return _standardize_bwd(gy, y, r, b, False, True)
    if code == LAYERNORM:
        return _standardize_bwd(gy, y, r, d, True, False)
    if code == INSTANCENORM:
        return _standardize_bwd(gy, y, r, 1, True, False)
    if code == GROUPNORM:
        return _standardize_bwd(gy, y, r, g, True, False)
    if code == FRN:
        return _standardize_bwd(gy, y, r, 1, False, False)
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
            for i in range(b):
                acc += m[i, j] * gy[i, j] * x[i, j] * r[i, j] * r[i, j]
            for i in range(b):
                if m[i, j] > 0.5:
                    direct = gy[i, j] * r[i, j]
                else:
                    alt = x[i, j] + se
                    direct = gy[i, j] * se / (alt * alt)
                gx[i, j] = direct - (x[i, j] - mu) * r[i, j] * acc / b
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
                    rr = r[i, j]
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
