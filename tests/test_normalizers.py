"""Activation-based normalizers: conformance with torch.nn and with the definitions of
docs/settings.md, and their defining properties, over random shapes (hypothesis)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from normtheory import normalizers as N

F64 = torch.float64
FAST = settings(max_examples=20, deadline=None, derandomize=True)


@st.composite
def shapes(draw, min_batch=2):
    """(B, C, H, W) or (B, C), with C having several divisors."""
    b = draw(st.integers(min_batch, 5))
    c = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12]))
    if draw(st.booleans()):
        return (b, c)
    return (b, c, draw(st.integers(1, 4)), draw(st.integers(1, 4)))


def divisors(c):
    return [g for g in range(1, c + 1) if c % g == 0]


def sample(shape, seed=0, dtype=F64):
    """Non-centred, non-unit-scale input, so that centring and scaling are exercised."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=F64) * 3 + 1).to(dtype)


def options(name, g):
    return {"group_size": g} if name in N.GROUPED_NAMES else {}


def randomize_parameters(module, seed):
    """Random affine (and v, tau) so that they are exercised too."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=F64) + 0.5)


# ---------------------------------------------------------------- torch conformance

TORCH_CASES = [(F64, 1e-10), (torch.float32, 1e-5)]


def assert_matches_torch(ours, theirs, reference, tol):
    """``ours`` equals torch.nn's output within ``tol``, or (float32 rounding in a group whose
    variance is near eps, where both drift from the exact value) is at least as close to the
    float64 ``reference`` as torch.nn's, up to a factor 2. A wrong definition (a biased against
    an unbiased variance, a missing centring) is off by far more than either rounding."""
    if torch.allclose(ours, theirs, atol=tol, rtol=0):
        return
    ours_err = float((ours.double() - reference).abs().max())
    their_err = float((theirs.double() - reference).abs().max())
    assert ours_err <= 2 * their_err + tol, (ours_err, their_err)


@FAST
@given(shapes(), st.integers(0, 10_000))
@pytest.mark.parametrize("dtype,tol", TORCH_CASES)
def test_batchnorm_matches_torch_in_training(dtype, tol, shape, seed):
    x = sample(shape, seed, dtype)
    bn = N.make("batchnorm", shape[1], dtype=dtype)
    assert torch.allclose(bn(x), F.batch_norm(x, None, None, training=True, eps=1e-5), atol=tol, rtol=0)


@FAST
@given(shapes(min_batch=1), st.integers(0, 10_000))
@pytest.mark.parametrize("dtype,tol", TORCH_CASES)
def test_layernorm_matches_torch(dtype, tol, shape, seed):
    x = sample(shape, seed, dtype)
    ln = N.make("layernorm", shape[1], dtype=dtype)
    assert torch.allclose(ln(x), F.layer_norm(x, x.shape[1:], eps=1e-5), atol=tol, rtol=0)


@FAST
@given(shapes(min_batch=1), st.integers(0, 10_000))
@pytest.mark.parametrize("dtype,tol", TORCH_CASES)
def test_instancenorm_matches_torch(dtype, tol, shape, seed):
    x = sample(shape, seed, dtype)
    if x.dim() == 2 or x.shape[2] * x.shape[3] == 1:  # torch refuses one entry per statistic;
        expected = torch.zeros_like(x)                 # the definition gives beta = 0 there
    else:
        expected = F.instance_norm(x, eps=1e-5)
    assert torch.allclose(N.make("instancenorm", shape[1], dtype=dtype)(x), expected, atol=tol, rtol=0)


@FAST
@given(shapes(min_batch=1), st.integers(0, 10_000))
@pytest.mark.parametrize("dtype,tol", TORCH_CASES)
def test_groupnorm_matches_torch_for_every_group_size(dtype, tol, shape, seed):
    x = sample(shape, seed, dtype)
    c = shape[1]
    spatial = int(np.prod(shape[2:]))
    for g in divisors(c):
        # torch refuses one entry per group; the definition gives beta = 0 there
        if g * spatial == 1:
            expected = reference = torch.zeros_like(x)
        else:
            expected = F.group_norm(x, c // g, eps=1e-5)
            reference = F.group_norm(x.double(), c // g, eps=1e-5)
        for kw in ({"group_size": g}, {"num_groups": c // g}):
            assert_matches_torch(N.make("groupnorm", c, dtype=dtype, **kw)(x), expected, reference, tol)


def test_groupnorm_default_is_32_groups():
    x = sample((3, 64, 2, 2))
    gn = N.make("groupnorm", 64, dtype=F64)
    assert (gn.num_groups, gn.group_size) == (32, 2)
    assert torch.allclose(gn(x), F.group_norm(x, 32, eps=1e-5), atol=1e-12, rtol=0)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(shapes(), st.integers(0, 10_000))
def test_batchnorm_running_statistics_and_eval_match_torch(shape, seed):
    c = shape[1]
    ours = N.make("batchnorm", c, dtype=F64)
    ref = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(c, dtype=F64)
    for step in range(4):
        x = sample(shape, seed + step)
        assert torch.allclose(ours(x), ref(x), atol=1e-10, rtol=0)
    assert torch.allclose(ours.running_mean, ref.running_mean, atol=1e-12, rtol=0)
    assert torch.allclose(ours.running_var, ref.running_var, atol=1e-12, rtol=0)
    ours.eval()
    ref.eval()
    x = sample((1,) + shape[1:], seed + 99)  # a batch of one is fine in eval mode
    assert torch.allclose(ours(x), ref(x), atol=1e-10, rtol=0)


# ---------------------------------------------------- definitions of docs/settings.md

def statistic_slices(name, shape, g):
    """numpy index tuples, one per statistic, into x viewed as (B, C, H·W)."""
    b, c = shape[:2]
    every = slice(None)
    if name in ("batchnorm", "variancenorm", "variancenorm_uncentred", "evonorm_b0"):
        return [(every, ch, every) for ch in range(c)]
    if name in ("instancenorm", "frn"):
        return [(i, ch, every) for i in range(b) for ch in range(c)]
    group = c if name == "layernorm" else g
    return [(i, slice(k, k + group), every) for i in range(b) for k in range(0, c, group)]


def reference(name, module, x, g):
    """The output of ``name`` computed entry by entry from its definition in docs/settings.md,
    with the module's parameters (gamma, beta, v, tau) and eps."""
    x = x.detach().numpy().reshape(x.shape[0], x.shape[1], -1)
    eps = module.eps
    per_channel = {k: p.detach().numpy()[None, :, None] for k, p in module.named_parameters()}
    y = np.empty_like(x)
    if name == "evonorm_b0":
        inst_var = x.var(axis=2, keepdims=True)
        batch_std = np.empty_like(x)
        for idx in statistic_slices(name, x.shape, g):
            batch_std[idx] = np.sqrt(x[idx].var() + eps)
        y = x / np.maximum(batch_std, per_channel["v"] * x + np.sqrt(inst_var + eps))
    else:
        for idx in statistic_slices(name, x.shape, g):
            v = x[idx]
            if name in ("variancenorm_uncentred", "frn"):
                y[idx] = v / np.sqrt((v ** 2).mean() + eps)
            elif name in ("variancenorm", "evonorm_s0"):  # centred variance, mean kept
                y[idx] = v / np.sqrt(v.var() + eps)
            else:
                y[idx] = (v - v.mean()) / np.sqrt(v.var() + eps)
        if name == "evonorm_s0":
            y = y / (1 + np.exp(-per_channel["v"] * x))
    y = per_channel["weight"] * y + per_channel["bias"]
    if name == "frn":
        y = np.maximum(y, per_channel["tau"])
    return y


@settings(max_examples=15, deadline=None, derandomize=True)
@given(shapes(), st.data())
@pytest.mark.parametrize("name", N.ACTIVATION_NAMES + N.VARIANT_NAMES)
def test_every_activation_normalizer_follows_its_definition(name, shape, data):
    g = data.draw(st.sampled_from(divisors(shape[1])), label="group_size")
    seed = data.draw(st.integers(0, 10_000), label="seed")
    module = N.make(name, shape[1], dtype=F64, **options(name, g))
    randomize_parameters(module, seed)
    x = sample(shape, seed)
    expected = reference(name, module, x, g)
    np.testing.assert_allclose(module(x).detach().numpy().reshape(expected.shape), expected, atol=1e-10, rtol=0)


# -------------------------------------------------------------------- properties

def per_statistic(y, module):
    """Rows of ``y`` grouped by the module's own ``stat_axes``: (number of statistics, n)."""
    b, c = y.shape[:2]
    gsize = module.channels_per_statistic
    y = y.reshape(b, c // gsize, gsize, -1)  # (B, group, channel in group, H·W)
    axes = module.stat_axes
    reduced = [0] * ("B" in axes) + [2] * ("C" in axes) + [3]
    kept = [d for d in range(4) if d not in reduced]
    return y.permute(*kept, *reduced).reshape(-1, int(np.prod([y.shape[d] for d in reduced])))


@FAST
@given(shapes(), st.data())
@pytest.mark.parametrize("name", ["batchnorm", "layernorm", "instancenorm", "groupnorm"])
def test_centred_outputs_have_mean_0_and_variance_1_per_statistic(name, shape, data):
    g = data.draw(st.sampled_from(divisors(shape[1])), label="group_size")
    module = N.make(name, shape[1], dtype=F64, **options(name, g))
    assert module.centered
    x = sample(shape, data.draw(st.integers(0, 10_000), label="seed"))
    rows_x, rows_y = per_statistic(x, module), per_statistic(module(x), module)
    assert rows_y.shape[1] == module.stat_count(shape)
    if module.stat_count(shape) == 1:  # one entry: (x - x) / sqrt(eps) = 0
        assert torch.all(rows_y == 0)
        return
    var_x = rows_x.var(dim=1, unbiased=False)
    assert torch.allclose(rows_y.mean(dim=1), torch.zeros((), dtype=F64), atol=1e-10)
    # variance 1 up to eps: var(x) / (var(x) + eps)
    assert torch.allclose(rows_y.var(dim=1, unbiased=False), var_x / (var_x + module.eps), atol=1e-10, rtol=0)


@FAST
@given(shapes(), st.integers(0, 10_000))
def test_variancenorm_output_has_variance_1_and_keeps_the_mean_per_statistic(shape, seed):
    """The paper's Variance Normalization: batch variance var/(var + eps), mean not removed."""
    module = N.make("variancenorm", shape[1], dtype=F64)
    assert not module.centered
    x = sample(shape, seed)  # a non-zero mean per channel
    rows_x, rows_y = per_statistic(x, module), per_statistic(module(x), module)
    assert rows_y.shape[1] == module.stat_count(shape)
    var_x = rows_x.var(dim=1, unbiased=False)
    assert torch.allclose(rows_y.var(dim=1, unbiased=False), var_x / (var_x + module.eps), atol=1e-10, rtol=0)
    assert torch.allclose(rows_y.mean(dim=1), rows_x.mean(dim=1) / torch.sqrt(var_x + module.eps),
                          atol=1e-10, rtol=0)


@FAST
@given(shapes(), st.integers(0, 10_000))
@pytest.mark.parametrize("name", ["variancenorm_uncentred", "frn"])
def test_uncentred_outputs_have_second_moment_1_per_statistic(name, shape, seed):
    module = N.make(name, shape[1], dtype=F64, **({"tlu": False} if name == "frn" else {}))
    assert not module.centered
    x = sample(shape, seed)
    rows_x, rows_y = per_statistic(x, module), per_statistic(module(x), module)
    assert rows_y.shape[1] == module.stat_count(shape)
    sq_x = rows_x.pow(2).mean(dim=1)
    assert torch.allclose(rows_y.pow(2).mean(dim=1), sq_x / (sq_x + module.eps), atol=1e-10, rtol=0)


@FAST
@given(shapes(), st.integers(0, 10_000))
def test_evonorm_s0_divides_swish_by_the_group_std(shape, seed):
    g = divisors(shape[1])[-1 if seed % 2 else 0]
    s0 = N.make("evonorm_s0", shape[1], group_size=g, dtype=F64)
    x = sample(shape, seed)
    std = per_statistic(x, s0).var(dim=1, unbiased=False).add(s0.eps).sqrt()
    swish_rows = per_statistic(x * torch.sigmoid(x), s0)
    assert torch.allclose(per_statistic(s0(x), s0) * std[:, None], swish_rows, atol=1e-10, rtol=0)


@FAST
@given(shapes(), st.data())
def test_groupnorm_with_one_group_is_layernorm_and_with_group_size_1_is_instancenorm(shape, data):
    c = shape[1]
    x = sample(shape, data.draw(st.integers(0, 10_000), label="seed"))
    assert torch.equal(N.make("groupnorm", c, num_groups=1, dtype=F64)(x), N.make("layernorm", c, dtype=F64)(x))
    assert torch.equal(N.make("groupnorm", c, group_size=1, dtype=F64)(x), N.make("instancenorm", c, dtype=F64)(x))
    assert N.make("groupnorm", c, num_groups=1).stat_count(shape) == N.make("layernorm", c).stat_count(shape)
    assert N.make("groupnorm", c, group_size=1).stat_axes == N.make("instancenorm", c).stat_axes


# EvoNorm-S0 is left out: its numerator x·sigmoid(v·x) is not scale invariant by design
# (see the next test). eps is made negligible so that invariance is exact up to rounding.
SCALE_INVARIANT = [n for n in N.ACTIVATION_NAMES if n != "evonorm_s0"]


@FAST
@given(shapes(), st.floats(1e-3, 1e3), st.integers(0, 10_000))
@pytest.mark.parametrize("name", SCALE_INVARIANT)
def test_activation_normalizers_are_scale_invariant(name, shape, scale, seed):
    g = divisors(shape[1])[seed % len(divisors(shape[1]))]
    module = N.make(name, shape[1], eps=1e-30, dtype=F64, **options(name, g))
    randomize_parameters(module, seed)
    x = sample(shape, seed)
    assert torch.allclose(module(scale * x), module(x), atol=1e-9, rtol=0)


@FAST
@given(shapes(), st.floats(1e-2, 1e2), st.integers(0, 10_000))
def test_evonorm_s0_is_scale_invariant_once_v_absorbs_the_scale(shape, scale, seed):
    s0, scaled = (N.make("evonorm_s0", shape[1], num_groups=1, eps=1e-30, dtype=F64) for _ in range(2))
    assume(s0.stat_count(shape) > 1)  # a one-entry group has zero variance: eps alone divides
    with torch.no_grad():
        scaled.v.div_(scale)
    x = sample(shape, seed)
    assert torch.allclose(scaled(scale * x), s0(x), atol=1e-9, rtol=0)
    assert not torch.allclose(s0(10 * x), s0(x), atol=1e-3)  # without adjusting v it is not invariant


# ----------------------------------------------------------- metadata, dtypes, modes

def test_stat_axes_and_counts_follow_the_settings_table():
    shape = (5, 12, 3, 2)
    expected = {"batchnorm": 5 * 6, "layernorm": 12 * 6, "instancenorm": 6, "groupnorm": 4 * 6,
                "frn": 6, "variancenorm": 5 * 6, "variancenorm_uncentred": 5 * 6, "evonorm_b0": 5 * 6,
                "evonorm_s0": 4 * 6}
    for name, n in expected.items():
        module = N.make(name, 12, **({"group_size": 4} if name in N.GROUPED_NAMES else {}))
        assert module.family == "activation" == N.family(name)
        assert module.stat_count(shape) == n, name
        assert module.stat_count(shape[:2]) == n // 6, name  # MLP form: H = W = 1
    assert N.make("batchnorm", 3).stat_axes == ("B", "H", "W")
    assert N.make("layernorm", 3).stat_axes == ("C", "H", "W")
    assert N.make("evonorm_b0", 3).instance_axes == ("H", "W")


@pytest.mark.parametrize("name", N.ACTIVATION_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_modules_are_dtype_agnostic(name, dtype):
    module = N.make(name, 4, dtype=dtype, **options(name, 2))
    assert all(p.dtype == dtype for p in module.parameters())
    assert all(b.dtype == dtype for b in module.buffers())
    for shape in [(3, 4), (3, 4, 2, 2)]:
        assert module(sample(shape, dtype=dtype)).dtype == dtype
    assert module.double()(sample((3, 4))).dtype == F64


@pytest.mark.parametrize("name", N.BATCH_NAMES + N.VARIANT_BATCH_NAMES)
def test_batch_statistics_normalizers_use_running_statistics_in_eval_mode(name):
    module = N.make(name, 3, dtype=F64)
    x = sample((64, 3, 4, 4), 7)
    for _ in range(300):  # momentum 0.1: the running estimates converge to the batch's
        train_out = module(x)
    n = module.stat_count(x.shape)
    var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
    expected = {"running_mean": mean, "running_var": var * n / (n - 1), "running_sq": x.pow(2).mean(dim=(0, 2, 3))}
    for buffer, value in module.named_buffers():
        assert torch.allclose(value, expected[buffer], rtol=1e-10, atol=0), buffer
    module.eval()
    full = module(x)
    assert torch.equal(module(x[:1]), full[:1])  # eval output does not depend on the batch
    assert not torch.equal(full, train_out) and torch.allclose(full, train_out, atol=1e-2)
