"""Fuzzing :func:`normtheory.normalizers.make` and the module it returns (hypothesis).

Over names, channel counts, group options, eps, extra options, module and input dtypes,
batch sizes (1 included), spatial sizes, input scales and train / eval mode, every call
either raises ``ValueError`` (or ``TypeError``) naming one of the parameters that are
wrong, or returns an output of the input's shape and dtype, finite for finite input.
Where the statistics cannot overflow (``x²`` within the range of the dtype they are
computed in) the output also matches the same module run in float64, within four units
in the last place of the output dtype at the largest output magnitude.

Derandomized: the same examples on every run.
"""

import copy
import math

import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from normtheory import normalizers as N
from normtheory.normalizers.base import stat_dtype

FUZZ = settings(max_examples=100, deadline=None, derandomize=True)
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
CHANNELS = [1, 2, 3, 4, 6, 8, 12, 32, 64]
BAD_CHANNELS = [0, -3, 2.5, True, "8"]
EPS = [1e-5, 1e-3, 1.0]


@st.composite
def calls(draw):
    """``(make arguments, input, train, parameters the error may name; empty: no error)``.

    At most one argument of ``make`` is wrong (in 4 examples of 10), so that most
    examples reach the forward pass."""
    name = draw(st.sampled_from(N.NAMES))
    wrong = draw(st.sampled_from([None] * 6 + ["num_channels", "group", "eps", "option"]))
    c = draw(st.sampled_from(BAD_CHANNELS if wrong == "num_channels" else CHANNELS))
    kwargs, bad = {"dtype": draw(st.sampled_from(DTYPES))}, set()
    if wrong == "num_channels":
        bad.add("num_channels")
    if wrong == "group":
        options = draw(st.sampled_from([{"group_size": 5}, {"num_groups": 5}, {"group_size": 0}, {"num_groups": -1},
                                        {"group_size": 1, "num_groups": c}, {}]))
        kwargs.update(options)
        bad.update(group_errors(name, c, options))
    elif name in N.GROUPED_NAMES and wrong != "num_channels":
        g = draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
        kwargs.update(draw(st.sampled_from([{"group_size": g}, {"num_groups": c // g}])))
    kwargs["eps"] = draw(st.sampled_from([0, -1, math.nan, math.inf, "small"] if wrong == "eps" else EPS))
    if wrong == "eps":
        bad.add("eps")
    if wrong == "option":
        key, value = draw(st.sampled_from([("bogus", 1), ("momentum", -0.1), ("momentum", 1.5), ("tlu", True),
                                           ("momentum", 0.5)]))
        kwargs[key] = value
        valid = (key == "momentum" and name in N.BATCH_NAMES and 0 <= value <= 1) or (key == "tlu" and name == "frn")
        if not valid:
            bad.add("momentum" if key == "momentum" and name in N.BATCH_NAMES else "options")
    elif name in N.BATCH_NAMES:
        kwargs["momentum"] = draw(st.sampled_from([0.0, 0.1, 1.0]))
    elif name == "frn":
        kwargs["tlu"] = draw(st.booleans())

    dtype = draw(st.sampled_from(DTYPES))
    b = draw(st.integers(1, 4))
    channels = c if not isinstance(c, bool) and c in CHANNELS else 4
    if draw(st.integers(0, 9)) == 0:
        channels += 1  # a mismatched input
    spatial = draw(st.sampled_from([(), (1, 1), (2, 3), (4, 4)]))
    top = int(math.log10(torch.finfo(dtype).max)) - 1  # 10^top · N(0, 1) stays finite
    exponent = draw(st.integers(-top, top))
    z = torch.randn(b, channels, *spatial, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))),
                    dtype=torch.float64)
    x = (z * 10.0 ** exponent).to(dtype)
    assume(torch.isfinite(x).all())
    train = draw(st.booleans())
    return name, c, kwargs, x, train, bad


def group_errors(name, c, options):
    """The parameters a call with group ``options`` must name (empty: the options are right)."""
    if name not in N.GROUPED_NAMES:
        return {"group_size", "num_groups"} if options else set()
    if len(options) == 2:
        return set(options)
    key, value = next(iter(options.items())) if options else ("num_groups", 32)
    return {key} if value <= 0 or c % value else set()


def input_error(module, name, x, train):
    """The parameter the forward pass must name, or ``""`` for none (after ``make`` succeeded)."""
    if N.family(name) != "activation":
        return ""  # a Passthrough: the identity on anything
    if x.shape[1] != module.num_channels:
        return "num_channels"
    if train and name in N.BATCH_NAMES and x.shape[0] < 2:
        return "batch"
    return ""


def overflows(x, module):
    """Whether ``x²`` (or a parameter's product with it) may leave the range of the dtype the
    statistics are computed in; then only finiteness is required."""
    dtype = stat_dtype(x.dtype)
    params = [float(p.detach().double().abs().max()) for p in module.parameters()]
    big = max(1e-300, float(x.double().abs().max())) * max([1.0] + params)
    return 2 * math.log10(big) + math.log10(x.numel()) > math.log10(torch.finfo(dtype).max) - 2


@FUZZ
@given(calls())
def test_make_and_forward_raise_naming_a_wrong_parameter_or_return_a_finite_output(call):
    name, c, kwargs, x, train, bad = call
    try:
        module = N.make(name, c, **kwargs)
    except (ValueError, TypeError) as err:
        assert bad, f"valid arguments refused: {err}"
        assert any(param in str(err) for param in bad), (str(err), bad)
        event("make refused")
        return
    assert not bad, f"make accepted {sorted(bad)}"
    module.train(train)
    reference = copy.deepcopy(module).double()
    expected = input_error(module, name, x, train)
    try:
        out = module(x)
    except (ValueError, TypeError) as err:
        assert expected and expected in str(err), (str(err), expected)
        event("forward refused")
        return
    assert not expected, f"forward accepted a bad input ({expected})"
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    event(f"finite output ({x.dtype})")
    if not overflows(x, module):
        event("compared with float64")
        with torch.no_grad():
            ref = reference(x.double())
        tol = 4 * torch.finfo(x.dtype).eps * max(1.0, float(ref.abs().max()))
        assert float((out.detach().double() - ref).abs().max()) <= tol


@pytest.mark.parametrize("name", N.NAMES)
def test_eps_is_checked_for_every_name(name):
    """Also where it is unused (the parametric names and plain): a bad value is a mistake."""
    with pytest.raises(ValueError, match="eps"):
        N.make(name, 8, eps=-1)
