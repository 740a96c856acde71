"""Closed forms of the theory of normalization at init, derived with sympy.

Each result exists as a sympy expression (the ``*_expr`` functions; ``sympy.latex`` gives
the paper form) and as a numpy-vectorized function. The networks they describe are those
of docs/settings.md; :mod:`normtheory.montecarlo` simulates the same networks. docs/bounds.md
tables every public function: what it returns, its arguments, the kind of its form, its source.

One calling convention for every bound:

- **arguments**: the normalizer ``norm`` comes first and may be positional; everything after
  it is keyword-only, under the same names everywhere: ``width``, ``group_size``, ``batch``,
  ``depth``, ``spatial``, ``nonlinearity``, ``position``, ``alpha``, ``var0``, ... A function
  without ``norm`` takes at most its own variable positionally (``c``, ``c0``, ``n``, the
  ``activation`` of a derivation), the rest by keyword.
- **names**: ``norm`` is any name of :data:`normtheory.names.NAMES` or
  :data:`normtheory.names.VARIANT_NAMES`, or an alias of :data:`normtheory.names.ALIASES`
  (``bn``, ``ln``, ``in``, ``gn``, ...), in any case, with ``-`` for ``_``.
- **return type**: a bound giving one number per setting returns a ``float`` for scalar
  arguments and an ``np.ndarray`` when an argument it is vectorized over (``width``,
  ``group_size``, ``batch``, ``depth``; each docstring says which) is array-like: the arrays
  broadcast (numpy rules) and each entry equals the scalar call's value. Profiles over the
  layers (:func:`relu_correlation_iterate`, :func:`relu_cosine_finite_width`,
  :func:`variancenorm_gradient_profile`) return one ``np.ndarray`` of ``depth + 1`` entries;
  counts and choices are ``int`` (:func:`stat_count`, :func:`recommend_group_size`,
  :func:`collapse_window`); :func:`branch_moments` and :func:`cosine_layer_correction` return
  tuples of floats, :func:`gradient_growth_form` a ``str``, :func:`speed_stability` and
  :func:`gradient_growth_forms` lists of dicts; the ``*_expr`` functions sympy expressions.
- **refusals**: a ``ValueError`` whose message names the argument as the user passed it
  (``group_size=2``, ``batch=3``): for a bad value, for an infinite expectation (naming the
  arguments that make it so), and for an option of a normalizer given to one without it
  (``group_size`` to a normalizer without groups, or to one a bound takes no group size for,
  such as layernorm in :func:`rank_lower_bound`; ``tlu`` to one other than frn). The settings
  every network has (``width``, ``batch``, ``spatial``, ``depth``) are accepted wherever a bound
  takes them, whether or not its value depends on them.

- forward variance in residual nets (F1-F3): :func:`resnet_variance`,
  :func:`resnet_variance_skipinit`, :func:`resnet_variance_nf`, :func:`expected_std`,
  :func:`growth_rate`, :func:`norm_second_moment`
- gradients (B1-B3): :func:`stat_count`, :func:`gradient_growth_per_layer` (the kind of
  each form: :func:`gradient_growth_form`, :func:`gradient_growth_forms`),
  :func:`gradient_growth_from_n`, :func:`gradient_growth_total`, :func:`batchnorm_relu_growth`;
  the paper's Variance Normalization (no per-layer rate) in linear MLPs at infinite width:
  :func:`variancenorm_gradient_profile`, :func:`variancenorm_interior_growth`;
  the top layer exactly at finite width: :func:`top_growth_given_gram`,
  :func:`top_growth_isotropic`, :func:`top_growth_per_sample`
- rank and similarity (R1-R4): :func:`rank_lower_bound`, :func:`rank_collapse_rate`,
  :func:`relu_correlation_map`, :func:`relu_correlation_iterate`,
  :func:`relu_similarity_gap_asymptotic`; at finite width, the leading 1/width correction:
  :func:`relu_cosine_finite_width` (one layer: :func:`cosine_layer_correction`,
  :func:`cosine_layer_expr`, :func:`pair_moment_expr`)
- trade-off (B2): :func:`speed_stability`, :func:`recommend_group_size`
"""

from normtheory.bounds.correlation import (
    relu_correlation_iterate,
    relu_correlation_map,
    relu_correlation_map_expr,
    relu_similarity_asymptotic_expr,
    relu_similarity_gap_asymptotic,
)
from normtheory.bounds.finite_width import (
    cosine_layer_correction,
    cosine_layer_expr,
    pair_moment_expr,
    relu_cosine_finite_width,
)
from normtheory.bounds.forward import (
    expected_std,
    geometric_growth_expr,
    growth_rate,
    linear_growth_expr,
    resnet_variance,
    resnet_variance_nf,
    resnet_variance_skipinit,
    weightnorm_relu_rate_expr,
)
from normtheory.bounds.chi2 import gradient_growth_from_n, growth_from_n_expr, inverse_chi2_mean_expr
from normtheory.bounds.gradients import (
    FORM_KINDS,
    batchnorm_relu_growth,
    batchnorm_relu_growth_expr,
    gradient_growth_form,
    gradient_growth_forms,
    gradient_growth_per_layer,
    gradient_growth_total,
    interior_batch_limit_expr,
    interior_growth_expr,
    parametric_relu_growth_expr,
    stat_count,
    variancenorm_gradient_profile,
    variancenorm_interior_growth,
    variancenorm_layer_maps_expr,
)
from normtheory.bounds.moments import branch_moments, norm_second_moment, variancenorm_moments_expr
from normtheory.bounds.rank import (
    COLLAPSE_DECAY,
    RANK_CONSTANT,
    TRANSIENT_MARGIN,
    collapse_window,
    lyapunov_gap_expr,
    lyapunov_gap_series_expr,
    rank_collapse_rate,
    rank_lower_bound,
)
from normtheory.bounds.top_layer import (
    top_growth_given_gram,
    top_growth_isotropic,
    top_growth_isotropic_expr,
    top_growth_per_sample,
    top_growth_per_sample_expr,
)
from normtheory.bounds.tradeoff import recommend_group_size, speed_stability

__all__ = [name for name in dir() if not name.startswith("_")]
