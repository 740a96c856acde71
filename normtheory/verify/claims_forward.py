"""Claims F1-F5: stable forward propagation in residual networks (paper section 3).

Networks (docs/settings.md): the residual theory MLP ``X_l = X_{l-1} + alpha·f_l(X_{l-1})``
with the branch ``f = N(phi(X) Wᵀ)`` (linear or ReLU ``phi``), simulated by
:func:`normtheory.montecarlo.simulate_mlp` in float64; and the ResNet-56 of
:mod:`normtheory.nets`, simulated by :func:`normtheory.montecarlo.simulate_net` on torch.

- F1, F2, F3 (MLPs): the statistic is the activation-variance probe of ``X_l`` (per-channel
  variance over the batch, averaged over channels) at a layer ``l``; the closed forms
  (:func:`normtheory.bounds.resnet_variance`, ``resnet_variance_skipinit``,
  ``resnet_variance_nf``, with the probe's finite-batch factor) predict its expectation
  ``E[probe(X_l)]``. F1 and F3 (linear growth, light tails): mean over independent
  networks with a t-interval. F2 (geometric growth: a product of per-layer factors, heavy
  right tail): Cox's log-normal interval for the mean. Each simulation is read at two
  layers (half depth and full depth), so that both the intercept and the slope (or rate)
  of the growth are tested. Precision δ: 2% of the closed form (F1, F3), 3% for F2 (after
  20-50 geometric layers, a rate off by 0.1% per layer moves it by 2-5%).
  The closed forms are Gaussian mean-field (infinite-width) results; the quick grids use
  the settings where the limit is reached within a fraction of δ (width 256, linear
  branches, large groups), the full grids the finite widths where it is not.
  F1's rivals (:data:`F1_RIVALS`, judged on F1's intervals): GroupNorm's correlation as
  ``E cos`` in ``g`` dimensions and its infinite-group limit (told apart from the claimed
  ``g − 1`` dimensions with groups of 2: 4.2δ and 10δ at width 1024, alpha 0.5, layer 20),
  FRN's moments by Gauss–Hermite quadrature (3.9-4.5δ where the ReLU stream's correlation is
  high: correlated inputs, ``input_corr`` 0.3, alpha 0.7; 3.02δ at depth 50), and each
  Variance Normalization's form for the other (14-26δ with ReLU branches). For sign-like
  outputs (FRN, GN with groups of 2) the Gaussian form is not quite the infinite-width limit:
  the stream's entries (the input plus ``alpha`` times sums of ``±1``) are not Gaussian, and
  the weight-free chain of F6 stays 0.3-1δ below it at widths 256 to 4096 (about 1δ at
  alpha 2), so these settings are at width 1024 and small alpha.
- F4 (post-activation ResNet-56) and F5 (pre-activation ResNet-56, the CNN form of F1/F2):
  no closed form covers these networks (zero padding, the ReLU after the addition), only
  the asymptotic per-block rate (:func:`normtheory.bounds.growth_rate`: 1 for a branch
  ending in an activation-based normalizer, ``1 + alpha²`` or WN's rate otherwise). The
  statistic is the ratio of the variance increments over the second and the first half
  of the first stage, ``(v_9 − v_5)/(v_5 − v_1)`` over blocks 1-9 (ratio of expectations,
  delta method over networks): 1 for linear growth, ``rate⁴`` for geometric growth. The
  rule identifies the regime: the interval must lie on the predicted side of
  ``(1 + alpha²)² = 4``, the geometric midpoint of the two regimes' predictions 1 and
  ``(1 + alpha²)⁴ = 16`` (``alpha = 1``). The forward probes of blocks 1-9 depend only on
  the stem and those blocks, so the network built is ResNet-56's first stage (width 32,
  9 blocks); float32 (the rule separates regimes a factor 4 apart).
"""

from __future__ import annotations


from normtheory import bounds
from normtheory.stats import lognormal_mean_interval, ratio_interval
from normtheory.verify import simulations
from normtheory.verify.registry import Claim, Point, Rival, register
from normtheory.names import NAMES, PARAMETRIC_NAMES, group_options
from normtheory.verify.stats import Equivalence, Precision, SideOfBoundary

ACTIVATION_MLP = ("batchnorm", "layernorm", "groupnorm", "frn", "variancenorm", "evonorm_b0",
                  "evonorm_s0")  # instancenorm has no MLP form (one entry per statistic)
LINEAR_FORM = ("batchnorm", "layernorm", "groupnorm", "frn", "variancenorm",
               "variancenorm_uncentred")  # EvoNorm: no linear form
PARAMETRIC_AND_PLAIN = PARAMETRIC_NAMES + ("plain",)
ALL_NORMS = NAMES
GROUP_SIZE = 8


# --- MLP variance claims (F1-F3) ---------------------------------------------------------

def mlp_points(norms, branches, *, widths, batch, depth, alphas, remedy, trials, group_size=GROUP_SIZE,
               input_corr=0.0, engine=None):
    """Settings of the residual theory MLP, read at ``layer = depth/2`` and ``depth``. ``input_corr``
    (the inputs' cross-sample correlation) and ``engine`` (``"explicit"``: the network side on
    explicit weights, whatever ``simulate_mlp``'s automatic choice) enter a setting only where given."""
    out = []
    for width in widths:
        for branch in branches:
            for norm in norms:
                if branch == "linear" and norm not in LINEAR_FORM + PARAMETRIC_AND_PLAIN:
                    continue
                for alpha in alphas:
                    for layer in (depth // 2, depth):
                        s = {"norm": norm, "branch": branch, "width": width, "batch": batch,
                             "depth": depth, "alpha": alpha, "remedy": remedy, "layer": layer}
                        s.update(group_options(norm, group_size))
                        if input_corr:
                            s["input_corr"] = input_corr
                        if engine is not None:
                            s["engine"] = engine
                        out.append(Point(s, trials))
    return out


def measure_variance(s, trials, seed):
    sim = simulations.mlp(trials=trials, seed=seed, norm=s["norm"], width=s["width"],
                          depth=s["depth"], batch=s["batch"], nonlinearity=s["branch"],
                          residual=True, alpha=s["alpha"], nf_scaling=s["remedy"] == "nf",
                          input_corr=s.get("input_corr", 0.0), engine=s.get("engine", "auto"),
                          backward=False, **group_options(s["norm"], s.get("group_size")))
    return simulations.measurement(sim, variance=sim.variance[:, s["layer"]])


def _theory_variance(s, **changes):
    """The mean-field closed form at setting ``s``; ``changes`` (``norm``, ``group_size``, ``form``
    of :func:`normtheory.bounds.resnet_variance`) give a rival's form at the same setting."""
    norm = changes.pop("norm", s["norm"])
    common = dict(nonlinearity=s["branch"], batch=s["batch"], group_size=s.get("group_size"))
    common.update(changes)
    if s["remedy"] == "nf":
        return bounds.resnet_variance_nf(norm, depth=s["layer"], alpha=s["alpha"], **common)
    if s["remedy"] == "skipinit":
        return bounds.resnet_variance_skipinit(norm, depth=s["layer"], **common)
    return bounds.resnet_variance(norm, depth=s["layer"], alpha=s["alpha"], input_corr=s.get("input_corr", 0.0),
                                  **common)


def _rival_for(norms, **changes):
    """A rival's ``theory``: the closed form with ``changes`` at the settings of ``norms``, None elsewhere."""
    return lambda s: _theory_variance(s, **changes) if s["norm"] in norms else None


#: the other Variance Normalization of each (the paper's centred batch std, and the uncentred form)
_OTHER_VN = {"variancenorm": "variancenorm_uncentred", "variancenorm_uncentred": "variancenorm"}

F1_RIVALS = (
    Rival("GN in g dims", "GroupNorm's cross-sample correlation as E cos in k = g dimensions, the centring's lost "
          "dimension ignored (the form k = g − 1 replaced; bounds.groups)",
          _rival_for(("groupnorm",), form="groupnorm_g_dims")),
    Rival("GN infinite group",
          "GroupNorm's infinite-group limit: output correlation ρ (bounds.moments, group_size=None)",
          _rival_for(("groupnorm",), group_size=None)),
    Rival("FRN quadrature", "FRN's sign(h) moments by Gauss–Hermite quadrature (the form the exact (2/π) arcsin ρ "
          "replaced; bounds.moments.quadrature_moments)", _rival_for(("frn",), form="frn_quadrature")),
    Rival("other VN", "the other Variance Normalization's closed form: the uncentred VN (Daneshmand et al.) for the "
          "paper's VN (centred batch std), and the paper's VN for the uncentred one",
          lambda s: _theory_variance(s, norm=_OTHER_VN[s["norm"]]) if s["norm"] in _OTHER_VN else None),
)


_VARIANCE_STAT = ("E[activation-variance probe of X_l] at l = depth/2 and l = depth; the "
                  "closed form (with the probe's (1 - 1/B) batch factor) predicts this "
                  "expectation")
_T_OVER_NETWORKS = ("mean over independent random networks ± t·s/sqrt(n), n networks; the two "
                    "layers of one setting come from the same networks")
_MLP_SOURCE = "normtheory.bounds.forward (derived here; paper section 3)"


def log_normal_mean(name):
    def estimate(m, level, setting=None):
        return lognormal_mean_interval(m.data[name], level)
    return estimate


def _variance_claim(cid, title, statement, quick, full, *, delta, estimate, interval, notes="", rivals=(),
                    version="1"):
    return register(Claim(
        id=cid, family="forward", title=title, statement=statement,
        statistic=_VARIANCE_STAT, interval=interval, rule=Equivalence(Precision(delta)),
        form="infinite-width limit", grid={"quick": quick, "full": full}, theory=_theory_variance,
        measure=measure_variance, estimate=estimate, source=_MLP_SOURCE, probe_keys=("layer",),
        notes=notes, rivals=rivals, version=version))


_variance_claim(
    "F1", "activation-based branch: linear variance growth",
    "In a residual MLP whose branch ends in an activation-based normalizer, Var(X_l) grows "
    "linearly in l, with slope alpha² times the normalizer output's second moment (and, "
    "for ReLU branches, the cross-sample covariance the branch keeps). The closed form is "
    "the Gaussian mean-field (infinite-width) result, with GroupNorm's cross-sample correlation "
    "at its finite group size (bounds.groups); for BN and the paper's VN (centred batch std, "
    "no mean subtracted), whose branch output has centred batch variance 1, it is exact at "
    "every width and batch (slope alpha²). The uncentred VN (Daneshmand et al.) is checked at "
    "width 256. Rivals: GroupNorm's correlation in g dimensions and its infinite-group limit "
    "(told apart with groups of 2), FRN's moments by quadrature (told apart where the ReLU "
    "stream's correlation is high: deep, or correlated inputs, input_corr), and each VN's closed "
    "form for the other (ReLU branches).",
    mlp_points(("batchnorm", "layernorm", "groupnorm", "variancenorm"), ("linear",), widths=(256,),
                batch=32, depth=20, alphas=(1.0,), remedy="none", trials=48, group_size=64)
    + mlp_points(("batchnorm", "layernorm", "variancenorm"), ("relu",), widths=(256,), batch=32, depth=20,
                  alphas=(1.0,), remedy="none", trials=48)
    + mlp_points(("groupnorm",), ("relu",), widths=(1024,), batch=32, depth=20, alphas=(0.5,), remedy="none",
                  trials=32, group_size=2)
    + mlp_points(("frn",), ("relu",), widths=(1024,), batch=32, depth=10, alphas=(0.7,), remedy="none",
                  trials=48, input_corr=0.3)
    + mlp_points(("variancenorm_uncentred",), ("relu",), widths=(1024,), batch=32, depth=10, alphas=(1.0,),
                  remedy="none", trials=64),
    mlp_points(ACTIVATION_MLP, ("linear", "relu"), widths=(64, 256), batch=32, depth=50,
                alphas=(1.0,), remedy="none", trials=256)
    + mlp_points(("variancenorm_uncentred",), ("linear", "relu"), widths=(256,), batch=32, depth=50,
                  alphas=(1.0,), remedy="none", trials=256)
    + mlp_points(("groupnorm",), ("relu",), widths=(1024,), batch=32, depth=50, alphas=(0.5,), remedy="none",
                  trials=128, group_size=2)
    + mlp_points(("frn",), ("relu",), widths=(1024,), batch=32, depth=20, alphas=(0.7,), remedy="none",
                  trials=128, input_corr=0.3),
    delta=0.02, estimate=simulations.trial_mean("variance"), interval=_T_OVER_NETWORKS,
    notes="instancenorm is checked in CNNs (F5): in an MLP its statistic has one entry. δ = 2% (chosen before "
          "the rivals): the rivals lie 4.2δ (GN in g dims, g = 2, alpha = 0.5, layer 20), 3.9-4.5δ (FRN "
          "quadrature, input_corr 0.3, alpha 0.7, layers 10-20; 3.02δ at depth 50 without input_corr) and 10δ "
          "or more (GN infinite group, the other VN with ReLU) from the claimed form; the mean-field form itself "
          "is off by 0.3-0.6δ at width 1024 for these sign-like outputs (the stream's entries are not Gaussian: "
          "the weight-free chain of F6, tests/test_rivals_forward.py), so the settings are wide (width 1024) and "
          "the rivals more than 3δ away. The uncentred VN's quick row is at width 1024 with 64 networks: its "
          "form sits about 0.4-0.6δ below the networks at depth 10 (widths 256 and 1024), and at width 256 "
          "with 32 networks a seed was left undecided.",
    rivals=F1_RIVALS)

_variance_claim(
    "F2", "parametric or no normalizer: geometric variance growth",
    "In a residual MLP whose branch ends in a parametric normalizer (WN, SWS) or none "
    "(Plain, He init), the branch preserves its input's second moment and Var(X_l) grows "
    "geometrically, at rate 1 + alpha² per block (WN with its corrected ReLU: the "
    "moment map iterated). The closed form is the mean-field (infinite-width) result.",
    mlp_points(PARAMETRIC_AND_PLAIN, ("linear",), widths=(256,), batch=32, depth=20,
                alphas=(1.0,), remedy="none", trials=128)
    + mlp_points(("sws",), ("relu",), widths=(256,), batch=32, depth=10, alphas=(1.0,),
                  remedy="none", trials=128),
    mlp_points(PARAMETRIC_AND_PLAIN, ("linear", "relu"), widths=(64, 256), batch=32,
                depth=50, alphas=(0.5, 1.0), remedy="none", trials=256),
    delta=0.03, estimate=log_normal_mean("variance"),
    interval="Cox's log-normal interval for the mean over independent random networks (the "
             "variance is a product of per-layer factors)",
    version="2")  # 2: WN/SWS forward passes on the Gram engine where auto picks it (width >= 256)

_variance_claim(
    "F3", "remedies: SkipInit and NF-style scaling",
    "SkipInit (alpha = 0 at init) keeps Var(X_l) = Var(X_0); NF-style blocks "
    "x + alpha·f(x/beta_l), beta_l the closed-form std of x_l, make the growth linear, "
    "Var(X_l) = Var(X_0) + alpha²·l (beta_l from the mean-field closed form).",
    mlp_points(("batchnorm", "sws", "plain"), ("relu",), widths=(256,), batch=32, depth=20,
                alphas=(0.0,), remedy="skipinit", trials=8)
    + mlp_points(PARAMETRIC_AND_PLAIN, ("linear",), widths=(256,), batch=32, depth=20,
                  alphas=(0.5, 1.0), remedy="nf", trials=64)
    + mlp_points(("sws",), ("relu",), widths=(256,), batch=32, depth=20,
                  alphas=(0.5, 1.0), remedy="nf", trials=64),
    mlp_points(ALL_NORMS[:1] + ("layernorm",) + PARAMETRIC_AND_PLAIN, ("relu",), widths=(64,),
                batch=32, depth=50, alphas=(0.0,), remedy="skipinit", trials=64)
    + mlp_points(PARAMETRIC_AND_PLAIN + ("batchnorm",), ("linear", "relu"), widths=(64, 256),
                  batch=32, depth=50, alphas=(0.2, 0.5, 1.0), remedy="nf", trials=256),
    delta=0.02, estimate=simulations.trial_mean("variance"), interval=_T_OVER_NETWORKS,
    version="2")  # 2: WN/SWS forward passes on the Gram engine where auto picks it (width >= 256)


# --- ResNet-56 regime claims (F4, F5) ----------------------------------------------------

STAGE_BLOCKS = (1, 5, 9)  # probe indices of blocks 1, 5, 9 (index 0 is the stem)
REGIME_BOUNDARY = 4.0     # (1 + alpha²)² at alpha = 1: between 1 (linear) and 16 (geometric)


def _resnet_points(arch, norms, *, image_size, batch, trials):
    out = []
    for norm in norms:
        s = {"arch": arch, "norm": norm, "image_size": image_size, "batch": batch}
        s.update(group_options(norm, GROUP_SIZE))
        out.append(Point(s, trials))
    return out


def _measure_increments(s, trials, seed):
    import torch  # lazy: the torch claims import it in their own thread (verify.execution)

    sim = simulations.net(s["arch"], s["norm"], trials=trials, seed=seed, batch=s["batch"],
                          image_size=s["image_size"], widths=(32,), blocks_per_stage=9,
                          dtype=torch.float32, **group_options(s["norm"], s.get("group_size")))
    v1, v5, v9 = (sim.variance[:, i] for i in STAGE_BLOCKS)
    return simulations.measurement(sim, late=v9 - v5, early=v5 - v1)


def _estimate_increments(m, level, setting=None):
    return ratio_interval(m.data["late"], m.data["early"], level)


def _theory_increments(s):
    return bounds.growth_rate(s["norm"], alpha=1.0, nonlinearity="relu") ** 4


def _regime_claim(cid, arch, title, statement, quick_norms, full_norms=ALL_NORMS, notes=""):
    return register(Claim(
        id=cid, family="forward", title=title, statement=statement,
        statistic=("increment ratio (v_9 - v_5)/(v_5 - v_1) of the activation variance over "
                   "blocks 1-9 of the first stage (ratio of expectations); predicted "
                   "growth_rate(norm)^4: 1 for linear growth, (1 + alpha²)^4 = 16 for "
                   "geometric growth (asymptotic)"),
        interval="delta method for E[v_9 - v_5]/E[v_5 - v_1] over independent networks",
        rule=SideOfBoundary(REGIME_BOUNDARY), form="asymptotic regime", backend="torch",
        grid={"quick": _resnet_points(arch, quick_norms, image_size=8, batch=8, trials=12),
              "full": _resnet_points(arch, full_norms, image_size=32, batch=16, trials=12)},
        theory=_theory_increments, measure=_measure_increments, estimate=_estimate_increments,
        source="normtheory.bounds.growth_rate (asymptotic only; paper section 3)", notes=notes))


_regime_claim(
    "F4", "resnet56",
    "post-activation ResNet-56: linear vs geometric growth",
    "In the post-activation ResNet-56 of the experiments (the normalizer ends the branch, "
    "ReLU after the addition), the variance grows linearly over a stage with an "
    "activation-based normalizer and geometrically with WN, SWS or none. Only the "
    "asymptotic rate is derived (the ReLU after the addition and zero padding have no "
    "closed form here).",
    ("batchnorm", "groupnorm", "weightnorm", "plain"),
    full_norms=tuple(n for n in ALL_NORMS if not n.startswith("evonorm")),
    notes="EvoNorm-B0 and S0 are not in the grid: in the authors' post-activation block the "
          "EvoNorm takes the ReLU's place, also after the addition, so it normalizes the stream "
          "itself every block; the variance barely moves (blocks 1, 5, 9: 0.46, 0.51, 0.54 for "
          "S0) and the increment ratio is noise over noise, not a regime "
          "(tests/test_f4_layout.py). F5 covers them.")

_regime_claim(
    "F5", "resnet56_pre",
    "pre-activation ResNet-56: the F1/F2 dichotomy in a CNN",
    "In the pre-activation ResNet-56 (the branch starts with the normalizer and ends in a "
    "conv whose input is normalized), the variance grows linearly with an activation-based "
    "normalizer (F1) and geometrically with WN, SWS or none (F2), as in residual MLPs.",
    ("instancenorm", "layernorm", "sws", "plain"))
