"""Claims B3 and B3b: stable backward propagation in ReLU nets (paper section 5).

- B3 (ReLU MLPs): BN at large batch against ``π/(π−1)·(n−2)/(n−3)`` (Yang et al. 2019's
  rate, derived here; an infinite-width, large-batch limit); δ = 1%. Statistic: the ratio of
  expectations of the interior sums, as B1 (:mod:`normtheory.verify.claims_gradients`).
- B3b (ReLU CNN): the ordering. Per-layer growth over convs 2-5 of the uniform CNN (six
  convs, constant resolution) for a smaller against a larger ``n`` (IN, n = H·W, against
  GN and LN), paired difference; agree when the interval lies above 0, disagree when below.
"""

from __future__ import annotations

from normtheory import bounds
from normtheory.names import group_options
from normtheory.verify import simulations
from normtheory.verify.claims_gradients import GROWTH_SOURCE, growth_claim, growth_points, per_layer_ratio
from normtheory.verify.registry import Point, register

# --- B3: ReLU nets ---------------------------------------------------------------------------

CNN_DEPTH = 6                 # convs of the uniform CNN simulated for B3b
CNN_STAGE_RATIOS = [1, 2, 3]  # ratios conv2/conv3, conv3/conv4, conv4/conv5

growth_claim(
    id="B3", title="ReLU nets: the BatchNorm rate π/(π-1)·(n-2)/(n-3)",
    statement="In deep ReLU MLPs with BatchNorm the per-layer gradient growth is "
              "π/(π-1)·(n-2)/(n-3) at large batch (Yang et al. 2019; derived here from the ReLU "
              "correlation map; an infinite-width, large-batch limit).",
    form="infinite-width limit",
    grid={"quick": growth_points([("batchnorm", 256, 64, None)], branch="relu", depth=12, trials=16),
          "full": growth_points([("batchnorm", 256, 64, None), ("batchnorm", 512, 128, None)],
                                branch="relu", depth=12, trials=64)},
    version="4")  # 3: the bottom layer (raw input) left out too; 4: interior sums


def _cnn_sim(s, norm, g, trials, seed):
    return simulations.net(s["arch"], norm, trials=trials, seed=seed, batch=s["batch"],
                           image_size=s["image_size"], depth=CNN_DEPTH, width=s["width"],
                           **group_options(norm, g))


def _measure_cnn_gap(s, trials, seed):
    small = _cnn_sim(s, s["norm_small"], s.get("g_small"), trials, seed)
    large = _cnn_sim(s, s["norm_large"], s.get("g_large"), trials, simulations.partner_seed(seed))
    gap = (per_layer_ratio(small.grad_input_sq[:, :5], CNN_STAGE_RATIOS)
           - per_layer_ratio(large.grad_input_sq[:, :5], CNN_STAGE_RATIOS))
    return simulations.paired(small, large, gap=gap)


def _theory_cnn_gap(s):
    def growth(norm, g):
        return bounds.gradient_growth_per_layer(norm, width=s["width"], group_size=g,
                                                spatial=s["image_size"] ** 2, nonlinearity="relu")
    return growth(s["norm_small"], s.get("g_small")) - growth(s["norm_large"], s.get("g_large"))


def _cnngrowth_points(pairs, *, image_size, batch, trials):
    out = []
    for (ns, gs), (nl, gl) in pairs:
        s = {"arch": "uniform", "width": 64, "norm_small": ns, "norm_large": nl, "batch": batch,
             "image_size": image_size}
        if gs is not None:
            s["g_small"] = gs
        if gl is not None:
            s["g_large"] = gl
        out.append(Point(s, trials))
    return out


register(simulations.ordering_claim(
    id="B3b", family="gradients", title="ReLU CNN: fewer entries per statistic, larger growth",
    statement="In the ReLU VGG-like CNN the per-layer gradient growth is larger for normalizers "
              "whose statistics have fewer entries n (IN: H·W, GN: g·H·W, LN: C·H·W), the B1 "
              "ordering.",
    statistic="E[r(small n) - r(large n)], r the per-network mean of the per-layer ratios over "
              "convs 2-5 of the uniform CNN (constant resolution); theory column: the predicted "
              "difference from (n-2)/(n-3) (its sign is the prediction; zero padding is not "
              "modelled)",
    pairs_of="normalizer", backend="torch", version="3",  # 2: independent partner seed; 3: the uniform CNN
    grid={"quick": _cnngrowth_points([(("instancenorm", None), ("layernorm", None))], image_size=4,
                               batch=8, trials=24),
          "full": _cnngrowth_points([(("instancenorm", None), ("groupnorm", 4)),
                               (("groupnorm", 4), ("layernorm", None)),
                               (("frn", None), ("layernorm", None))],
                              image_size=4, batch=8, trials=24)},
    theory=_theory_cnn_gap, measure=_measure_cnn_gap, data="gap", source=GROWTH_SOURCE))
