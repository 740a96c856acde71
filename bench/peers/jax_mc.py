"""A compiled JAX peer of ``normtheory.montecarlo.simulate_mlp`` for bench/mc_engine.py.

Setting: the non-residual theory MLPs of docs/settings.md, ``X_l = phi(N(X_{l-1} W_lᵀ))`` for
``l = 1..depth``, ``X_0`` (B × d) with i.i.d. N(0, 1) entries (input correlation 0), ``W_l``
(d × d) with i.i.d. N(0, gain²/d) entries (gain 1 linear, sqrt(2) ReLU), ``N`` BatchNorm (per
column over the batch) or GroupNorm (per row, groups of ``g`` consecutive columns; by default
32 groups, ``g = width // 32``, as the benchmark runs it), biased variance, ``eps = 1e-5``,
``phi`` identity or ReLU. Probes per trial and layer ``0..depth``: the variance (mean over
columns of the batch-centred column variance), the mean pairwise cosine of the rows, the
stable rank ``1 + Σ_{i>1} λ_i/λ_1`` of the Gram ``X Xᵀ`` (only at ``rank_layers``, NaN
elsewhere), and ``grad_sq = ‖∂ℓ/∂X_l‖_F²`` for the loss ``ℓ = <G, X_L>``, G i.i.d. N(0, 1).

How it is written (what a JAX user would write): float64 (``jax_enable_x64``, set on import);
one trial is a ``jax.lax.scan`` over the layers, ``jax.vmap`` over trials, ``jax.jit`` over
all; the backward pass is autodiff (``jax.vjp``; ``∂ℓ/∂X_l`` is the cotangent of a zero
added to each ``X_l``), not a hand-written backward. Two ways to hold the weights:

- ``mode="store"``: all weights drawn first (trials · depth · d² floats), the scan runs over
  them; the backward reads them back.
- ``mode="remat"``: each layer's weight is drawn inside the scan from its key; the layer is
  wrapped in ``jax.checkpoint`` with a policy that saves everything but the weight, so the
  backward draws it again instead of storing it (as normtheory's explicit engine does).

Which is faster depends on the width (``best_mode``; :func:`time_run` times both). Own draws
use ``jax.random`` (threefry): the key of ``(seed, trial)`` is ``fold_in(PRNGKey(seed), trial)``,
split into ``depth + 2`` keys, ``W_1..W_depth``, ``X_0``, ``G``; both modes draw the same
numbers. The stable rank is computed from ``jnp.linalg.eigvalsh`` of the B × B Gram at the
requested layers only: the scan writes those layers' Grams into a small buffer.

What is compared, and how (:func:`check`):

1. Equality on shared weights: :func:`shared_weights` reproduces normtheory's explicit engine's
   draws (``X_0``, every ``W_l``, ``G``) by calling its numba functions, the peer runs on them,
   ``simulate_mlp(engine="explicit")`` runs with the same seed, and every probe at every layer
   is compared: relative difference at most 1e-10 for variance, cosine and stable rank, 1e-6
   for ``grad_sq`` (linear nets reach ~1e20 there, after ~depth products whose rounding
   differs), or, where the network itself is more ill-conditioned than that, 10 times the
   rounding floor: the difference between the peer and itself when every weight moves by one
   unit in the last place (:func:`check_equal`; deep linear GroupNorm nets with 2 columns per
   group need it). A non-finite value in either is reported and fails the check.
2. Equality in distribution on the peer's own draws: ``n`` trials of each (independent draws),
   per layer ``z = (mean_peer − mean_nt) / sqrt(se_peer² + se_nt²)`` of log-variance, cosine,
   log ``grad_sq`` and log(stable rank − 1) at the rank layers. The check fails when
   ``max |z|`` exceeds a Bonferroni bound at family-wise level ``alpha = 0.01`` over the ``m``
   comparisons made: the Student-t quantile ``t_{n-1}(1 − alpha / (2m))`` (about 4.3 for
   ``m ≈ 150`` and ``n = 64``; the t quantile with the smaller sample's ``n − 1`` degrees of
   freedom is more conservative than the normal one for Welch's statistic). The layers are
   strongly correlated, so the true false-alarm rate is below 1 %; the check has power only
   against shifts of a few standard errors of the mean (a wrong normalizer or gain, not a
   1e-6 perturbation: that is what the equality check is for).

Threads: XLA's CPU client runs the compiled program on its own thread pool, sized to the
schedulable cores (2 on the benchmark machine; ``os.sched_getaffinity``), intra-op (Eigen
matrix products, ``--xla_cpu_multi_thread_eigen=true`` is the default). There is no XLA flag
for the pool size in this jaxlib (``XLA_FLAGS`` with an unknown flag aborts the process), so
nothing is set here: to use fewer cores, restrict the process's affinity (``taskset``). The
numba engines' threads and XLA's do not run at the same time, so nothing is oversubscribed.

Usage: ``python bench/peers/jax_mc.py --check`` (equality and distribution, both norms and
nonlinearities), ``python bench/peers/jax_mc.py --time --widths 64,128,512`` (compile and
run times of both modes next to ``simulate_mlp(engine="auto")``); ``--help`` for the sizes.
"""

from __future__ import annotations

import argparse
import math
import time
from functools import cache, partial
from typing import NamedTuple

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.ad_checkpoint import checkpoint_name
except ImportError:  # the benchmark skips the JAX column
    jax = None
else:
    jax.config.update("jax_enable_x64", True)

JAX_MISSING = ("the JAX peer needs jax: pip install 'normtheory[bench]' (jax==0.10.2, jaxlib==0.10.2); "
               "without it the benchmark leaves the JAX column out")
NORMS = ("groupnorm", "batchnorm")
NONLINEARITIES = ("linear", "relu")
MODES = ("store", "remat")
PROBES = ("variance", "cosine", "stable_rank", "grad_sq")
EPS = 1e-5
#: store mode is not tried when its weights (trials · depth · d² float64) would exceed this
STORE_MAX_BYTES = 2 << 30
#: the widest layer at which store mode is preferred (measured on 2 cores, depth 100, batch 64,
#: 2 trials; see :func:`best_mode`)
STORE_MAX_WIDTH = 128
#: tolerances of the equality check (relative)
RTOL_FORWARD = 1e-10
RTOL_GRAD = 1e-6
#: a probe of the equality check also passes within this multiple of its rounding floor
#: (:func:`rounding_floor`, :func:`check_equal`)
FLOOR_FACTOR = 10.0


def available() -> bool:
    """Whether jax is importable (else :data:`JAX_MISSING` says how to get it)."""
    return jax is not None


def _require() -> None:
    if jax is None:
        raise ImportError(JAX_MISSING)


def resolve_group_size(norm: str, width: int, group_size=None) -> int:
    """GroupNorm's group size (default 32 groups, as normtheory); 1 (unused) for BatchNorm."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if norm == "batchnorm":
        if group_size is not None:
            raise ValueError("group_size applies to groupnorm, not to batchnorm")
        return 1
    if group_size is None:
        if width % 32:
            raise ValueError(f"the default 32 groups do not divide width {width}; pass group_size")
        group_size = width // 32
    if group_size < 2 or width % group_size:
        raise ValueError(f"group_size must be at least 2 and divide width {width}, got {group_size}")
    return int(group_size)


def gain(nonlinearity: str) -> float:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    return 1.0 if nonlinearity == "linear" else math.sqrt(2.0)


def resolve_rank_layers(rank_layers, depth: int) -> tuple:
    """``None``: the last layer; ``"all"``: every layer; else the sorted distinct layers given."""
    if rank_layers is None:
        return (depth,)
    if isinstance(rank_layers, str):
        if rank_layers != "all":
            raise ValueError(f"rank_layers must be None, 'all' or a list of layers, got {rank_layers!r}")
        return tuple(range(depth + 1))
    layers = tuple(sorted({int(layer) for layer in rank_layers}))
    if any(not 0 <= layer <= depth for layer in layers):
        raise ValueError(f"rank_layers must lie in [0, {depth}], got {rank_layers}")
    return layers


def best_mode(width: int, depth: int = 100, trials: int = 2) -> str:
    """The mode to use without timing: ``"store"`` up to :data:`STORE_MAX_WIDTH` when the
    weights fit in :data:`STORE_MAX_BYTES`, else ``"remat"`` (drawing d² normals twice costs
    less than writing and reading them once beyond that width, measured)."""
    fits = trials * depth * width * width * 8 <= STORE_MAX_BYTES
    return "store" if fits and width <= STORE_MAX_WIDTH else "remat"


# ---------------------------------------------------------------------------- the network

class Config(NamedTuple):
    """The static settings one compiled program is specialised to."""
    norm: str
    nonlinearity: str
    g: int
    eps: float
    depth: int
    width: int
    batch: int
    rank_layers: tuple
    mode: str  # "store", "remat" or "shared" (weights given)


def _normalize(h, cfg: Config):
    """BatchNorm per column over the batch, or GroupNorm per row in groups of ``g`` columns."""
    if cfg.norm == "batchnorm":
        mu = jnp.mean(h, axis=0, keepdims=True)
        var = jnp.mean((h - mu) ** 2, axis=0, keepdims=True)
        return (h - mu) / jnp.sqrt(var + cfg.eps)
    b, d = h.shape
    hg = h.reshape(b, d // cfg.g, cfg.g)
    mu = jnp.mean(hg, axis=-1, keepdims=True)
    var = jnp.mean((hg - mu) ** 2, axis=-1, keepdims=True)
    return ((hg - mu) / jnp.sqrt(var + cfg.eps)).reshape(b, d)


def _phi(y, cfg: Config):
    return y if cfg.nonlinearity == "linear" else jax.nn.relu(y)  # relu's derivative at 0 is 0


def _probes(x):
    """(variance, mean pairwise cosine, Gram) of ``x`` (B × d), outside the differentiated path."""
    x = lax.stop_gradient(x)
    b = x.shape[0]
    var = jnp.mean(jnp.mean((x - jnp.mean(x, axis=0)) ** 2, axis=0))
    k = x @ x.T
    inv = 1.0 / jnp.sqrt(jnp.diag(k))
    c = jnp.where(jnp.eye(b, dtype=bool), 0.0, k * inv[:, None] * inv[None, :])
    return var, jnp.sum(c) / (b * (b - 1)), k


def _draw_weight(key, cfg: Config):
    return jax.random.normal(key, (cfg.width, cfg.width), dtype=jnp.float64) * (
        gain(cfg.nonlinearity) / math.sqrt(cfg.width))


def _trial(x0, g_dir, w_src, cfg: Config):
    """One trial: ``w_src`` is the weights (depth, d, d) or, in remat mode, their keys (depth, 2).
    Returns the four probe arrays (depth + 1,)."""
    layers = cfg.rank_layers
    n_rank = len(layers)
    slot_of = {layer: i for i, layer in enumerate(layers)}
    # the Gram buffer's slot per layer 1..depth; n_rank (a spare slot) where no rank is wanted
    slots = jnp.array([slot_of.get(layer, n_rank) for layer in range(1, cfg.depth + 1)], dtype=jnp.int32)

    def layer(carry, inp):
        x, grams = carry
        src, delta, slot = inp
        w = checkpoint_name(_draw_weight(src, cfg), "weight") if cfg.mode == "remat" else src
        xn = _phi(_normalize(x @ w.T, cfg), cfg) + delta
        var, cos, k = _probes(xn)
        grams = lax.dynamic_update_index_in_dim(grams, k, slot, 0)
        return (xn, grams), (var, cos)

    if cfg.mode == "remat":  # the backward draws the weight again rather than storing it
        layer = jax.checkpoint(layer, prevent_cse=False,
                               policy=jax.checkpoint_policies.save_anything_except_these_names("weight"))

    def forward(x0, deltas):
        var0, cos0, k0 = _probes(x0)
        grams = jnp.zeros((n_rank + 1, cfg.batch, cfg.batch), dtype=x0.dtype)
        if 0 in slot_of:
            grams = grams.at[slot_of[0]].set(k0)
        (xl, grams), (var, cos) = lax.scan(layer, (x0, grams), (w_src, deltas, slots))
        return xl, (jnp.concatenate([var0[None], var]), jnp.concatenate([cos0[None], cos]), grams[:n_rank])

    deltas = jnp.zeros((cfg.depth, cfg.batch, cfg.width), dtype=x0.dtype)
    _, pullback, (var, cos, grams) = jax.vjp(forward, x0, deltas, has_aux=True)
    gx0, gdeltas = pullback(g_dir)
    grad_sq = jnp.concatenate([jnp.sum(gx0 * gx0)[None], jnp.sum(gdeltas * gdeltas, axis=(1, 2))])
    lam = jnp.linalg.eigvalsh(grams)  # ascending, (n_rank, B)
    srank = 1.0 + jnp.sum(lam[:, :-1] / lam[:, -1:], axis=1)
    srank = jnp.full(cfg.depth + 1, jnp.nan).at[jnp.array(layers)].set(srank)
    return var, cos, srank, grad_sq


def _trial_from_key(key, cfg: Config):
    """One trial on its own draws: ``depth + 2`` keys, ``W_1..W_depth``, ``X_0``, ``G``."""
    keys = jax.random.split(key, cfg.depth + 2)
    x0 = jax.random.normal(keys[cfg.depth], (cfg.batch, cfg.width), dtype=jnp.float64)
    g_dir = jax.random.normal(keys[cfg.depth + 1], (cfg.batch, cfg.width), dtype=jnp.float64)
    w_src = keys[:cfg.depth]
    if cfg.mode == "store":
        w_src = jax.vmap(lambda k: _draw_weight(k, cfg))(w_src)
    return _trial(x0, g_dir, w_src, cfg)


@cache
def _program(cfg: Config):
    """The jitted, trial-vmapped program of ``cfg``: keys (trials, 2) → probes, or, for
    ``mode="shared"``, (x0, ws, g) → probes."""
    if cfg.mode == "shared":
        return jax.jit(jax.vmap(lambda x0, ws, g_dir: _trial(x0, g_dir, ws, cfg)))
    return jax.jit(jax.vmap(lambda key: _trial_from_key(key, cfg)))


def trial_keys(seed: int, trials: int):
    """The per-trial keys: ``fold_in(PRNGKey(seed), trial)``."""
    base = jax.random.PRNGKey(seed)
    return jax.vmap(lambda t: jax.random.fold_in(base, t))(jnp.arange(trials))


def _setup(norm, width, depth, batch, trials, nonlinearity, group_size, rank_layers, mode, eps):
    _require()
    if mode not in MODES + ("shared",):
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, v in (("width", width), ("depth", depth), ("batch", batch), ("trials", trials)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if batch < 2:
        raise ValueError("batch must be at least 2")
    gain(nonlinearity)
    g = resolve_group_size(norm, width, group_size)
    return Config(norm, nonlinearity, g, float(eps), int(depth), int(width), int(batch),
                  resolve_rank_layers(rank_layers, depth), mode)


def _to_numpy(out) -> dict:
    return dict(zip(PROBES, (np.asarray(a) for a in jax.block_until_ready(out))))


def simulate(norm, *, width, depth, batch, trials, nonlinearity, group_size=None, seed=0, rank_layers=None,
             weights=None, mode="store", eps=EPS) -> dict:
    """Probe ``trials`` random MLPs (module docstring): a dict of numpy arrays ``variance``,
    ``cosine``, ``stable_rank``, ``grad_sq``, each ``(trials, depth + 1)``.

    ``weights=None``: the peer's own draws from ``seed`` (``mode`` "store" or "remat", same
    numbers). ``weights=(x0, ws, g)``, shapes (trials, B, d), (trials, depth, d, d),
    (trials, B, d): those inputs, weights and loss directions (``mode`` is then unused), as
    :func:`shared_weights` makes them. ``rank_layers``: the layers with a stable rank
    (default the last; ``"all"``). ``group_size``: GroupNorm's (default ``width // 32``).
    """
    cfg = _setup(norm, width, depth, batch, trials, nonlinearity, group_size, rank_layers,
                 "shared" if weights is not None else mode, eps)
    if weights is None:
        return _to_numpy(_program(cfg)(trial_keys(seed, trials)))
    x0, ws, g_dir = (np.asarray(a, dtype=np.float64) for a in weights)
    want = ((trials, batch, width), (trials, depth, width, width), (trials, batch, width))
    if (x0.shape, ws.shape, g_dir.shape) != want:
        raise ValueError(f"weights must have shapes {want}, got {(x0.shape, ws.shape, g_dir.shape)}")
    return _to_numpy(_program(cfg)(x0, ws, g_dir))


def shared_weights(seed, trials, *, width, depth, batch, nonlinearity):
    """``(x0, ws, g)`` as normtheory's explicit engine draws them (input correlation 0, Gaussian
    weights), from its own numba functions: ``X_0 = standard_normal(B, d, mix_seed(seed, t,
    depth + 1))``, ``W_l = draw_weight(GAUSSIAN, d, gain, mix_seed(seed, t, l))``, ``G =
    standard_normal(B, d, mix_seed(seed, t, depth + 2))``."""
    from normtheory.kernels.explicit import GAUSSIAN, draw_weight, mix_seed
    from normtheory.kernels.rng import standard_normal

    gn = gain(nonlinearity)
    x0 = np.stack([standard_normal(batch, width, mix_seed(seed, t, depth + 1)) for t in range(trials)])
    g_dir = np.stack([standard_normal(batch, width, mix_seed(seed, t, depth + 2)) for t in range(trials)])
    ws = np.stack([np.stack([draw_weight(GAUSSIAN, width, gn, mix_seed(seed, t, layer))
                             for layer in range(1, depth + 1)]) for t in range(trials)])
    return x0, ws, g_dir


# ---------------------------------------------------------------------------- the checks

def _nt_simulate(norm, nonlinearity, width, depth, batch, trials, group_size, seed, engine):
    from normtheory.montecarlo import simulate_mlp

    kw = {"group_size": resolve_group_size(norm, width, group_size)} if norm == "groupnorm" else {}
    return simulate_mlp(norm, width=width, depth=depth, batch=batch, trials=trials, nonlinearity=nonlinearity,
                        seed=seed, engine=engine, **kw)


def _max_rel(a, b) -> float:
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1.0), 0.0)
    return float(np.max(rel)) if rel.size else 0.0


def rounding_floor(norm, nonlinearity, weights, *, width, depth, batch, trials, peer_kwargs, seed=1) -> dict:
    """Per probe, the max relative difference between the peer on ``weights`` and the peer on
    the same weights each multiplied by ``1 ± 2⁻⁵²`` (random signs): how far two float64
    computations of the same network can differ from rounding alone."""
    x0, ws, g_dir = weights
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=ws.shape)
    kw = dict(width=width, depth=depth, batch=batch, trials=trials, nonlinearity=nonlinearity, **peer_kwargs)
    a = simulate(norm, weights=(x0, ws, g_dir), **kw)
    b = simulate(norm, weights=(x0, ws * (1.0 + signs * 2.0 ** -52), g_dir), **kw)
    return {p: _max_rel(a[p][np.isfinite(a[p])], b[p][np.isfinite(a[p])]) for p in PROBES}


def check_equal(norm, nonlinearity, *, width=64, depth=50, batch=32, trials=4, group_size=None, seed=0,
                tamper=None, peer_overrides=None, verbose=True) -> tuple[bool, dict]:
    """Check 1 of the module docstring on one setting: ``(passed, report)``, the report holding
    per probe the max relative difference, the tolerance and the rounding floor.

    A probe passes when every value is finite in both and its max relative difference is at
    most ``max(tol, FLOOR_FACTOR · floor)``: ``tol`` is :data:`RTOL_FORWARD` (variance, cosine,
    stable rank) or :data:`RTOL_GRAD` (``grad_sq``); ``floor`` (:func:`rounding_floor`) is how
    far the peer moves when every weight moves by one unit in the last place. Deep linear
    GroupNorm nets with small groups are that ill-conditioned: at width 64 (2 columns per group),
    depth 50, the peer differs from itself by ~3e-9 under such a perturbation, and from
    normtheory by as much; no float64 implementation can agree better there, whatever its care.

    ``tamper`` (tests of the check's power): a function of ``(x0, ws, g)`` returning what the
    peer is fed instead; ``peer_overrides``: keyword arguments of :func:`simulate` for the peer
    only (a wrong ``eps`` or ``group_size``)."""
    weights = shared_weights(seed, trials, width=width, depth=depth, batch=batch, nonlinearity=nonlinearity)
    if tamper is not None:
        weights = tamper(*(a.copy() for a in weights))
    kw = dict(group_size=group_size, rank_layers="all")
    kw.update(peer_overrides or {})
    size = dict(width=width, depth=depth, batch=batch, trials=trials)
    peer = simulate(norm, nonlinearity=nonlinearity, weights=weights, **size, **kw)
    floor = rounding_floor(norm, nonlinearity, weights, peer_kwargs=kw, **size)
    nt = _nt_simulate(norm, nonlinearity, width, depth, batch, trials, group_size, seed, "explicit")
    ranked = np.isfinite(peer["stable_rank"]).any(axis=0)
    report, ok = {}, True
    for p in PROBES:
        a, b = peer[p], getattr(nt, p)
        if p == "stable_rank":  # only where the peer computed it
            a, b = a[:, ranked], b[:, ranked]
        bad = int(np.sum(~np.isfinite(a)) + np.sum(~np.isfinite(b)))
        rel = _max_rel(a, b) if bad == 0 else math.nan
        tol = RTOL_GRAD if p == "grad_sq" else RTOL_FORWARD
        passed = bad == 0 and rel <= max(tol, FLOOR_FACTOR * floor[p])
        ok &= passed
        report[p] = {"max_rel": rel, "tol": tol, "floor": floor[p], "non_finite": bad, "passed": passed}
        if verbose:
            extra = f", {bad} non-finite values" if bad else ""
            print(f"  equal  {norm:9s} {nonlinearity:6s} {p:11s} max rel diff {rel:.1e} (tol {tol:.0e}, "
                  f"rounding floor {floor[p]:.1e}){extra} {'ok' if passed else 'FAIL'}")
    return ok, report


def z_bound(comparisons: int, n: int, alpha: float = 0.01) -> float:
    """Bonferroni bound on ``max |z|`` at family-wise level ``alpha`` over ``comparisons`` two-sided
    tests: the Student-t quantile with ``n − 1`` degrees of freedom (module docstring)."""
    from scipy.stats import t as student_t

    return float(student_t.isf(alpha / (2 * comparisons), n - 1))


def check_distribution(norm, nonlinearity, *, width=64, depth=50, batch=32, trials=64, group_size=None, seed=0,
                       mode=None, nt_engine="auto", alpha=0.01, peer_overrides=None,
                       verbose=True) -> tuple[bool, dict]:
    """Check 2 of the module docstring on one setting: ``(passed, {"max_z", "bound", "where", "comparisons"})``."""
    mode = mode or best_mode(width, depth, trials)
    kw = dict(group_size=group_size, seed=seed, mode=mode)
    kw.update(peer_overrides or {})
    peer = simulate(norm, width=width, depth=depth, batch=batch, trials=trials, nonlinearity=nonlinearity, **kw)
    nt = _nt_simulate(norm, nonlinearity, width, depth, batch, trials, group_size, seed + 1, nt_engine)
    ranked = np.isfinite(peer["stable_rank"]).any(axis=0)
    stats = {"log variance": (np.log(peer["variance"]), np.log(nt.variance)),
             "cosine": (peer["cosine"], nt.cosine),
             "log grad_sq": (np.log(peer["grad_sq"]), np.log(nt.grad_sq)),
             "log(srank-1)": (np.log(peer["stable_rank"][:, ranked] - 1), np.log(nt.stable_rank[:, ranked] - 1))}
    m = sum(a.shape[1] for a, _ in stats.values())
    bound = z_bound(m, trials, alpha)
    max_z, where, bad = 0.0, None, 0
    for name, (a, b) in stats.items():
        bad += int(np.sum(~np.isfinite(a)) + np.sum(~np.isfinite(b)))
        se2 = a.var(axis=0, ddof=1) / a.shape[0] + b.var(axis=0, ddof=1) / b.shape[0]
        diff = a.mean(axis=0) - b.mean(axis=0)
        z = np.where(se2 > 0, np.abs(diff) / np.sqrt(np.where(se2 > 0, se2, 1.0)), np.where(diff == 0, 0.0, np.inf))
        z = np.where(np.isfinite(diff), z, np.nan)
        i = int(np.nanargmax(z)) if np.isfinite(z).any() else 0
        if np.isfinite(z).any() and z[i] > max_z:
            layers = np.flatnonzero(ranked) if name == "log(srank-1)" else np.arange(a.shape[1])
            max_z, where = float(z[i]), f"{name} at layer {int(layers[i])}"
    ok = bad == 0 and max_z <= bound
    if verbose:
        extra = f", {bad} non-finite values" if bad else ""
        print(f"  distr  {norm:9s} {nonlinearity:6s} {trials} trials each ({mode}): max |z| {max_z:.2f} ({where}) "
              f"over {m} comparisons, bound {bound:.2f}{extra} {'ok' if ok else 'FAIL'}")
    return ok, {"max_z": max_z, "bound": bound, "where": where, "comparisons": m, "non_finite": bad}


def check(*, norms=NORMS, nonlinearities=NONLINEARITIES, width=64, depth=50, batch=32, trials=4, dist_trials=64,
          group_size=None, seed=0, nt_engine="auto", verbose=True) -> bool:
    """Both checks of the module docstring on every norm and nonlinearity given; True if all pass."""
    _require()
    ok = True
    for norm in norms:
        for nl in nonlinearities:
            ok &= check_equal(norm, nl, width=width, depth=depth, batch=batch, trials=trials,
                              group_size=group_size, seed=seed, verbose=verbose)[0]
            ok &= check_distribution(norm, nl, width=width, depth=depth, batch=batch, trials=dist_trials,
                                     group_size=group_size, seed=seed, nt_engine=nt_engine, verbose=verbose)[0]
    if verbose:
        print("check passed" if ok else "check FAILED")
    return ok


# ---------------------------------------------------------------------------- timing

def _best_time(fn, repeat: int) -> float:
    """Best wall-clock seconds of up to ``repeat`` calls after an untimed first one; a first
    call over 1 s is the result (bench/mc_engine.py's rule)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first > 1.0:
        return first
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if best > 1.0:
            break
    return best


def time_run(norm, nonlinearity, batch, width, depth, trials, seed=0, repeat=5, modes=MODES) -> dict:
    """Compile, then time the peer on its own draws (forward + backward, default probes).

    Returns ``{"compile_s", "store_compile_s", "remat_compile_s", "store_s", "remat_s",
    "best_s", "best_mode"}``: compile seconds (tracing + XLA; ``compile_s`` their sum over the
    modes timed), and the best wall-clock seconds of up to ``repeat`` post-compile runs of each
    mode (results blocked on and copied to numpy, as the numba engines return them); a mode
    not timed (not in ``modes``, or store whose weights would exceed :data:`STORE_MAX_BYTES`)
    is ``None``. ``best_s`` and ``best_mode``: the faster mode.
    """
    out = {f"{m}_{k}": None for m in MODES for k in ("compile_s", "s")}
    for mode in modes:
        if mode == "store" and trials * depth * width * width * 8 > STORE_MAX_BYTES:
            continue
        cfg = _setup(norm, width, depth, batch, trials, nonlinearity, None, None, mode, EPS)
        keys = trial_keys(seed, trials)
        start = time.perf_counter()
        compiled = _program(cfg).lower(keys).compile()
        out[f"{mode}_compile_s"] = time.perf_counter() - start
        out[f"{mode}_s"] = _best_time(lambda c=compiled, k=keys: _to_numpy(c(k)), repeat)
    timed = [m for m in MODES if out[f"{m}_s"] is not None]
    out["compile_s"] = sum(out[f"{m}_compile_s"] for m in timed)
    out["best_mode"] = min(timed, key=lambda m: out[f"{m}_s"]) if timed else None
    out["best_s"] = out[f"{out['best_mode']}_s"] if timed else None
    return out


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def _time_table(args) -> None:
    """Per setting: :func:`time_run` and ``simulate_mlp(engine="auto")`` in this process (malloc
    thresholds raised first, as bench/mc_engine.py does, numba kernels compiled first)."""
    import os

    from normtheory.kernels.gram_memory import keep_freed_memory
    from normtheory.montecarlo import simulate_mlp
    from normtheory.montecarlo.gram import prefer_gram

    keep_freed_memory()
    print(f"jax {jax.__version__}, devices {jax.devices()}, {len(os.sched_getaffinity(0))} cores; depth {args.depth}, "
          f"batch {args.batch}, {args.trials} trials, forward + backward, float64; "
          f"load average {os.getloadavg()[0]:.2f}")
    for norm in args.norms:
        for nl in args.nonlinearities:
            simulate_mlp(norm, width=64, depth=2, batch=args.batch, trials=2, nonlinearity=nl, engine="explicit")
            simulate_mlp(norm, width=64, depth=2, batch=args.batch, trials=2, nonlinearity=nl, engine="gram")
            for d in args.widths:
                r = time_run(norm, nl, args.batch, d, args.depth, args.trials, repeat=args.repeat)
                run_auto = partial(simulate_mlp, norm, width=d, depth=args.depth, batch=args.batch,
                                   trials=args.trials, nonlinearity=nl, engine="auto")
                auto = _best_time(run_auto, args.repeat)
                engine = "gram" if prefer_gram(dict(norm=norm, width=d, batch=args.batch)) else "explicit"
                print(f"{norm:9s} {nl:6s} width {d:5d}: compile {r['compile_s']:.2f} s; store {_fmt(r['store_s'])} s, "
                      f"remat {_fmt(r['remat_s'])} s, best {r['best_s']:.3f} s ({r['best_mode']}); "
                      f"simulate_mlp(auto: {engine}) {auto:.3f} s; jax/auto {r['best_s'] / auto:.2f}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="equality on shared weights and in distribution")
    parser.add_argument("--time", action="store_true", help="time both modes next to simulate_mlp(engine='auto')")
    parser.add_argument("--norms", default=",".join(NORMS))
    parser.add_argument("--nonlinearities", default=",".join(NONLINEARITIES))
    parser.add_argument("--width", type=int, default=64, help="check: width (default 64)")
    parser.add_argument("--depth", type=int, default=None, help="depth (default 50 for --check, 100 for --time)")
    parser.add_argument("--batch", type=int, default=None, help="batch (default 32 for --check, 64 for --time)")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials (default 4 for the equality check, 2 for --time)")
    parser.add_argument("--dist-trials", type=int, default=64, help="check: trials of each in distribution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--widths", default="64,128,512", help="time: widths")
    parser.add_argument("--repeat", type=int, default=5, help="time: best of this many runs after an untimed first")
    args = parser.parse_args(argv)
    if not available():
        print(JAX_MISSING)
        return 2
    args.norms, args.nonlinearities = args.norms.split(","), args.nonlinearities.split(",")
    if not (args.check or args.time):
        parser.error("give --check and/or --time")
    ok = True
    if args.check:
        ok = check(norms=args.norms, nonlinearities=args.nonlinearities, width=args.width,
                   depth=args.depth or 50, batch=args.batch or 32, trials=args.trials or 4,
                   dist_trials=args.dist_trials, seed=args.seed)
    if args.time:
        args.depth, args.batch, args.trials = args.depth or 100, args.batch or 64, args.trials or 2
        args.widths = [int(w) for w in args.widths.split(",")]
        _time_table(args)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
