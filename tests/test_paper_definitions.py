"""Conformance with the authors' code's definitions (docs/settings.md, "other
definitions and the paper's code's variants"): Mean Centering, the Variance Normalization (centred variance, now
``variancenorm``) and the uncentred one kept as ``variancenorm_uncentred``, the unbiased
group / instance statistics, the weight-centred conv; and that the names compute the
formulas of docs/settings.md. Every check is against a direct tensor computation in
float64, to 1e-12 relative."""

import math

import pytest
import torch
import torch.nn.functional as F

from normtheory import normalizers as N

F64 = torch.float64
EPS = 1e-5
SHAPES = [(4, 6, 3, 5), (5, 6)]
BATCH_DIMS = {4: (0, 2, 3), 2: (0,)}


def sample(shape, seed=0):
    """Non-centred, non-unit-scale input, so that centring and scaling both matter."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=F64) * 3 + 1


def assert_rel(actual, expected, rtol=1e-12):
    assert actual.shape == expected.shape
    scale = expected.abs().max().item()
    err = (actual - expected).abs().max().item()
    assert err <= rtol * max(scale, 1e-300), f"max abs error {err:.3e} vs scale {scale:.3e}"


def build(name, c, **kw):
    return N.make(name, c, dtype=F64, **kw)


def grouped(x, g):
    """x (B, C, ...) as (B, C/g, g·H·W)."""
    return x.reshape(x.shape[0], x.shape[1] // g, -1)


def group_formula(x, g, unbiased=False, eps=EPS):
    xg = grouped(x, g)
    mean = xg.mean(-1, keepdim=True)
    n = xg.shape[-1]
    var = ((xg - mean) ** 2).sum(-1, keepdim=True) / (n - 1 if unbiased else n)
    return ((xg - mean) / torch.sqrt(var + eps)).reshape(x.shape)


def group_var_formula(x, g, unbiased=False):
    xg = grouped(x, g)
    n = xg.shape[-1]
    var = ((xg - xg.mean(-1, keepdim=True)) ** 2).sum(-1, keepdim=True) / (n - 1 if unbiased else n)
    return var.expand_as(xg).reshape(x.shape)


def per_channel(v, x):
    return v.view((1, -1) + (1,) * (x.dim() - 2))


# ------------------------------------------------------------------ the extra names


def test_extra_names_are_outside_the_theory_names():
    assert N.EXTRA_NAMES == ("meancentering",)
    for lst in (N.NAMES, N.VARIANT_NAMES, N.ACTIVATION_NAMES, N.BATCH_NAMES, N.GROUPED_NAMES, N.PARAMETRIC_NAMES):
        assert not set(N.EXTRA_NAMES) & set(lst)
    for name in N.EXTRA_NAMES:
        with pytest.raises(ValueError, match="EXTRA_NAMES"):
            N.check_name(name)
        assert N.family(name) == "activation"
        assert isinstance(N.make_activation(name), torch.nn.ReLU)
        assert type(N.make_conv(name, 3, 4, 3)) is torch.nn.Conv2d
    assert isinstance(N.make("mean_centering", 3), N.MeanCentering)
    with pytest.raises(ValueError, match="meancentering"):
        N.make("meancenterin", 3)


@pytest.mark.parametrize("shape", SHAPES)
def test_meancentering_subtracts_the_batch_mean_only(shape):
    x = sample(shape, 1)
    mc = build("meancentering", shape[1])
    assert mc.stat_axes == ("B", "H", "W") and mc.centered
    assert_rel(mc(x), x - x.mean(dim=BATCH_DIMS[x.dim()], keepdim=True))


def test_variance_norm_names_and_aliases():
    """``variancenorm`` is the paper's code's definition, the old spellings of it are aliases;
    the uncentred one is a variant name: known to check_name, outside the eleven."""
    assert N.VARIANT_NAMES == ("variancenorm_uncentred",) == N.VARIANT_BATCH_NAMES
    assert "variancenorm" in N.NAMES and "variancenorm" in N.BATCH_NAMES
    for lst in (N.NAMES, N.ACTIVATION_NAMES, N.BATCH_NAMES, N.GROUPED_NAMES, N.PARAMETRIC_NAMES):
        assert "variancenorm_uncentred" not in lst
    for alias in ("variancenorm_centred", "Variancenorm-Centered", " VARIANCENORM "):
        assert N.check_name(alias) == "variancenorm"
        assert type(N.make(alias, 3)) is N.VarianceNorm
    for alias in ("variancenorm_uncentred", "VarianceNorm-Uncentered"):
        assert N.check_name(alias) == "variancenorm_uncentred"
        assert type(N.make(alias, 3)) is N.UncentredVarianceNorm
    assert N.family("variancenorm_uncentred") == "activation"
    assert isinstance(N.make_activation("variancenorm_uncentred"), torch.nn.ReLU)
    with pytest.raises(ValueError, match="variancenorm_uncentred"):
        N.check_name("variancenorm_uncentre")


@pytest.mark.parametrize("shape", SHAPES)
def test_variancenorm_divides_by_the_centred_biased_batch_std(shape):
    x = sample(shape, 2)
    dims = BATCH_DIMS[x.dim()]
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    vn = build("variancenorm", shape[1])
    assert vn.stat_axes == ("B", "H", "W") and not vn.centered
    y = vn(x)
    assert_rel(y, x / torch.sqrt(var + EPS))
    # no mean subtraction: the output keeps the input's mean, scaled
    assert_rel(y.mean(dim=dims, keepdim=True), mean / torch.sqrt(var + EPS))
    # its batch variance is var / (var + eps): 1 up to eps, whatever the input's scale and mean
    out_var = ((y - y.mean(dim=dims, keepdim=True)) ** 2).mean(dim=dims, keepdim=True)
    assert_rel(out_var, var / (var + EPS))
    assert (out_var - 1).abs().max() < 1e-5


@pytest.mark.parametrize("shape", SHAPES)
def test_variancenorm_uncentred_is_the_uncentred_second_moment(shape):
    x = sample(shape, 3)
    dims = BATCH_DIMS[x.dim()]
    y = build("variancenorm_uncentred", shape[1])(x)
    assert_rel(y, x / torch.sqrt((x ** 2).mean(dim=dims, keepdim=True) + EPS))
    centred = build("variancenorm", shape[1])(x)
    assert (y - centred).abs().max() > 1e-3  # the two definitions differ on a non-centred input
    xc = x - x.mean(dim=dims, keepdim=True)  # and agree on a centred one
    assert_rel(build("variancenorm_uncentred", shape[1])(xc), build("variancenorm", shape[1])(xc))


@pytest.mark.parametrize("name", N.EXTRA_NAMES + N.VARIANT_NAMES + N.BATCH_NAMES)
@pytest.mark.parametrize("shape", [(1, 4, 3, 3), (1, 4)])
def test_batch_statistics_refuse_a_batch_of_one_in_training(name, shape):
    layer = build(name, 4)
    with pytest.raises(ValueError, match="batch of at least 2"):
        layer(sample(shape))
    layer.eval()  # the running statistics take any batch
    assert torch.isfinite(layer(sample(shape))).all()


def test_eval_mode_uses_running_statistics():
    x = sample((4, 3, 2, 2), 4)
    dims = BATCH_DIMS[4]
    n = 4 * 2 * 2
    mc = build("meancentering", 3, momentum=1.0)
    vn = build("variancenorm", 3, momentum=1.0)
    vu = build("variancenorm_uncentred", 3, momentum=1.0)
    mc(x), vn(x), vu(x)
    mc.eval(), vn.eval(), vu.eval()
    z = sample((1, 3, 2, 2), 5)
    assert_rel(mc(z), z - x.mean(dim=dims, keepdim=True))
    var_unbiased = ((x - x.mean(dim=dims, keepdim=True)) ** 2).sum(dim=dims, keepdim=True) / (n - 1)
    assert_rel(vn(z), z / torch.sqrt(var_unbiased + EPS))
    assert_rel(vu(z), z / torch.sqrt((x ** 2).mean(dim=dims, keepdim=True) + EPS))


def test_extra_names_affine_is_per_channel():
    x = sample((3, 2, 2, 2), 6)
    mc = build("meancentering", 2)
    with torch.no_grad():
        mc.weight.copy_(torch.tensor([2.0, -1.0], dtype=F64))
        mc.bias.copy_(torch.tensor([0.5, 3.0], dtype=F64))
    centred = x - x.mean(dim=(0, 2, 3), keepdim=True)
    assert_rel(mc(x), centred * per_channel(mc.weight, x) + per_channel(mc.bias, x))


# ------------------------------------------------------------------ unbiased statistics


@pytest.mark.parametrize("g", [1, 2, 3, 6])
@pytest.mark.parametrize("shape", SHAPES)
def test_groupnorm_unbiased_matches_the_formula(g, shape):
    x = sample(shape, 7)
    n = g * math.prod(shape[2:])
    if n < 2:
        with pytest.raises(ValueError, match="unbiased"):
            build("groupnorm", 6, group_size=g, unbiased=True)(x)
        return
    assert_rel(build("groupnorm", 6, group_size=g, unbiased=True)(x), group_formula(x, g, unbiased=True))
    assert_rel(build("groupnorm", 6, group_size=g)(x), group_formula(x, g))


@pytest.mark.parametrize("name,g", [("layernorm", 6), ("instancenorm", 1)])
def test_layernorm_instancenorm_unbiased_match_the_formula(name, g):
    x = sample((3, 6, 2, 3), 8)
    assert_rel(build(name, 6, unbiased=True)(x), group_formula(x, g, unbiased=True))
    assert_rel(build(name, 6)(x), group_formula(x, g))


@pytest.mark.parametrize("name,opts", [("groupnorm", {"group_size": 2}), ("layernorm", {}),
                                       ("instancenorm", {}), ("evonorm_s0", {"group_size": 3})])
def test_unbiased_is_the_n_over_n_minus_1_rescaling(name, opts):
    """With eps negligible, biased / unbiased output = sqrt(n / (n − 1)) exactly."""
    x = sample((3, 6, 2, 2), 9)
    biased = build(name, 6, eps=1e-300, **opts)
    unbiased = build(name, 6, eps=1e-300, unbiased=True, **opts)
    n = biased.stat_count(x.shape)
    assert unbiased.stat_count(x.shape) == n
    assert_rel(biased(x), unbiased(x) * math.sqrt(n / (n - 1)))


@pytest.mark.parametrize("g", [1, 2, 6])
def test_evonorm_s0_unbiased_matches_the_formula(g):
    x = sample((3, 6, 2, 3), 10)
    for unbiased in (False, True):
        layer = build("evonorm_s0", 6, group_size=g, unbiased=unbiased)
        expected = x * torch.sigmoid(x) / torch.sqrt(group_var_formula(x, g, unbiased) + EPS)
        assert_rel(layer(x), expected)


def test_evonorm_b0_unbiased_instance_statistic_and_biased_batch_statistic():
    x = sample((4, 3, 2, 3), 11)
    dims = BATCH_DIMS[4]
    var_b = ((x - x.mean(dim=dims, keepdim=True)) ** 2).mean(dim=dims, keepdim=True)
    for unbiased in (False, True):
        var_i = group_var_formula(x, 1, unbiased)
        expected = x / torch.maximum(torch.sqrt(var_b + EPS), x + torch.sqrt(var_i + EPS))
        assert_rel(build("evonorm_b0", 3, unbiased=unbiased)(x), expected)


def test_evonorm_b0_unbiased_one_entry_instance_statistic_is_zero():
    """H = W = 1: the authors' code replaces the NaN unbiased variance by 0."""
    x = sample((4, 3), 12)
    assert_rel(build("evonorm_b0", 3, unbiased=True)(x), build("evonorm_b0", 3)(x))


@pytest.mark.parametrize("name,opts", [("instancenorm", {}), ("groupnorm", {"group_size": 1}),
                                       ("evonorm_s0", {"group_size": 1})])
def test_unbiased_refuses_one_entry_statistics(name, opts):
    layer = build(name, 4, unbiased=True, **opts)
    with pytest.raises(ValueError, match="at least 2 entries per statistic"):
        layer(sample((3, 4)))
    assert torch.isfinite(layer(sample((3, 4, 2, 1)))).all()


def test_unbiased_option_is_validated_and_only_where_it_applies():
    with pytest.raises(ValueError, match="unbiased"):
        N.make("groupnorm", 4, group_size=2, unbiased="yes")
    for name in ("batchnorm", "variancenorm", "frn", "meancentering", "variancenorm_uncentred", "plain"):
        with pytest.raises(ValueError):
            N.make(name, 4, unbiased=True)
    assert "unbiased=True" in repr(N.make("groupnorm", 4, group_size=2, unbiased=True))
    assert not N.make("groupnorm", 4, group_size=2).unbiased


# ------------------------------------------------------------------ weight-centred conv


def test_weight_centred_conv_centres_each_filter_without_rescaling():
    torch.manual_seed(0)
    conv = N.make_conv("batchnorm", 3, 5, 3, weight_centred=True).double()
    assert isinstance(conv, N.WCConv2d) and conv.bias is None
    assert not hasattr(conv, "scale")
    w = conv.weight
    expected_w = w - w.mean(dim=(1, 2, 3), keepdim=True)
    assert_rel(conv.effective_weight(), expected_w)
    assert conv.effective_weight().sum(dim=(1, 2, 3)).abs().max() < 1e-12
    x = sample((2, 3, 6, 6), 13)
    assert_rel(conv(x), F.conv2d(x, expected_w, None, stride=1, padding=1))
    strided = N.make_conv("plain", 3, 4, 3, stride=2, bias=True, weight_centred=True).double()
    expected = F.conv2d(x, strided.weight - strided.weight.mean(dim=(1, 2, 3), keepdim=True), strided.bias,
                        stride=2, padding=1)
    assert_rel(strided(x), expected)


def test_weight_centred_linear_and_refusals():
    lin = N.make_linear("layernorm", 7, 4, weight_centred=True).double()
    assert isinstance(lin, N.WCLinear)
    x = sample((3, 7), 14)
    assert_rel(lin(x), x @ (lin.weight - lin.weight.mean(dim=1, keepdim=True)).T)
    for name in N.PARAMETRIC_NAMES:
        with pytest.raises(ValueError, match="weight_centred"):
            N.make_conv(name, 3, 4, 3, weight_centred=True)
        with pytest.raises(ValueError, match="weight_centred"):
            N.make_linear(name, 3, 4, weight_centred=True)
    with pytest.raises(ValueError, match="weight_centred"):
        N.make_conv("plain", 3, 4, 3, weight_centred="no")
    assert type(N.make_conv("plain", 3, 4, 3)) is torch.nn.Conv2d  # the default is unchanged


# ------------------------------------------------------------------ existing names unchanged


def settings_formula(name, x):
    """docs/settings.md's output at init for a fixed input (biased variances, eps = 1e-5)."""
    if name == "plain":
        return x
    dims = BATCH_DIMS[x.dim()]
    c = x.shape[1]
    if name == "batchnorm":
        mean = x.mean(dim=dims, keepdim=True)
        return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(dim=dims, keepdim=True) + EPS)
    if name == "layernorm":
        return group_formula(x, c)
    if name == "instancenorm":
        return group_formula(x, 1)
    if name == "groupnorm":
        return group_formula(x, 2)
    if name == "variancenorm":  # the paper's code's: centred variance, no mean subtracted
        return x / torch.sqrt(((x - x.mean(dim=dims, keepdim=True)) ** 2).mean(dim=dims, keepdim=True) + EPS)
    if name == "variancenorm_uncentred":
        return x / torch.sqrt((x ** 2).mean(dim=dims, keepdim=True) + EPS)
    if name == "frn":
        sq = grouped(x, 1).pow(2).mean(-1, keepdim=True).expand_as(grouped(x, 1)).reshape(x.shape)
        return torch.clamp_min(x / torch.sqrt(sq + EPS), 0.0)
    if name == "evonorm_b0":
        var_b = ((x - x.mean(dim=dims, keepdim=True)) ** 2).mean(dim=dims, keepdim=True)
        return x / torch.maximum(torch.sqrt(var_b + EPS), x + torch.sqrt(group_var_formula(x, 1) + EPS))
    if name == "evonorm_s0":
        return x * torch.sigmoid(x) / torch.sqrt(group_var_formula(x, 2) + EPS)
    raise AssertionError(name)


@pytest.mark.parametrize("shape", [(4, 6, 3, 2), (5, 6)])
@pytest.mark.parametrize("name", [n for n in N.NAMES + N.VARIANT_NAMES if n not in N.PARAMETRIC_NAMES])
def test_existing_names_compute_the_settings_formulas(name, shape):
    x = sample(shape, 15)
    opts = {"group_size": 2} if name in N.GROUPED_NAMES else {}
    assert_rel(build(name, 6, **opts)(x), settings_formula(name, x))


def test_existing_parametric_convs_are_unchanged():
    torch.manual_seed(1)
    wn = N.make_conv("weightnorm", 3, 4, 3).double()
    v = wn.weight
    assert_rel(wn.effective_weight(), v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
    sws = N.make_conv("sws", 3, 4, 3).double()
    w = sws.weight
    fan_in = w[0].numel()
    mean = w.mean(dim=(1, 2, 3), keepdim=True)
    std = torch.sqrt(((w - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True))
    assert_rel(sws.effective_weight(), (w - mean) / (std * math.sqrt(fan_in)))
    assert type(N.make_conv("batchnorm", 3, 4, 3)) is torch.nn.Conv2d
