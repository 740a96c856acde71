"""One API for normtheory.bounds (its docstring states it): ``norm`` first, every other
argument keyword-only under one set of names; vectorized over width, group size, batch and
depth (float for scalars, ndarray for arrays); the aliases ``bn``, ``ln``, ``in``, ``gn``;
refusals naming the argument as passed; every public function in docs/bounds.md."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from normtheory import bounds

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = {name: getattr(bounds, name) for name in bounds.__all__
          if inspect.isfunction(inspect.unwrap(getattr(bounds, name)))}
#: the argument names of the bounds: one name per quantity (no ``layers``, ``d``, ``B``, ``g``)
VOCABULARY = {"norm", "width", "group_size", "group_sizes", "batch", "depth", "spatial", "nonlinearity",
              "position", "alpha", "var0", "input_corr", "input_var", "form", "tlu", "decay", "max_growth",
              "gram", "centered", "weight_step", "order", "activation", "c", "c0", "n", "m", "v", "s"}


def test_the_public_functions_are_found():
    assert {"resnet_variance", "gradient_growth_per_layer", "rank_collapse_rate", "recommend_group_size",
            "top_growth_given_gram", "interior_growth_expr"} <= set(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_norm_first_and_every_other_argument_keyword_only(name):
    params = list(inspect.signature(PUBLIC[name]).parameters.values())
    kinds = [p.kind for p in params]
    assert inspect.Parameter.VAR_POSITIONAL not in kinds and inspect.Parameter.VAR_KEYWORD not in kinds, name
    assert all(p.kind == p.KEYWORD_ONLY for p in params[1:]), (name, [str(p) for p in params])
    names = [p.name for p in params]
    if "norm" in names:
        assert names[0] == "norm", name
    assert set(names) <= VOCABULARY, (name, set(names) - VOCABULARY)


def test_the_gradient_form_takes_the_keywords_of_the_growth():
    growth = inspect.signature(bounds.gradient_growth_per_layer).parameters
    assert list(inspect.signature(bounds.gradient_growth_form).parameters) == list(growth)
    kw = dict(width=64, group_size=8, batch=None, spatial=1, nonlinearity="relu", position="interior")
    assert bounds.gradient_growth_form("groupnorm", **kw) == "infinite-width limit"
    assert bounds.gradient_growth_per_layer("groupnorm", **kw) == pytest.approx(6 / 5)


# (function, norm, fixed keywords, {vectorized argument: values})
VECTORIZED = [
    (bounds.gradient_growth_per_layer, "groupnorm", dict(width=64), {"group_size": [4, 8, 16]}),
    (bounds.gradient_growth_per_layer, "layernorm", dict(position="top"), {"width": [8, 16, 64]}),
    (bounds.gradient_growth_per_layer, "batchnorm", dict(width=64), {"batch": [8, 32, 128]}),
    (bounds.gradient_growth_total, "groupnorm", dict(width=64, depth=10), {"group_size": [4, 8]}),
    (bounds.gradient_growth_total, "layernorm", dict(depth=[1, 5]), {"width": [[8], [16]]}),
    (bounds.rank_lower_bound, "groupnorm", dict(width=64), {"group_size": [1, 4, 16]}),
    (bounds.rank_lower_bound, "batchnorm", {}, {"width": [16, 64, 256]}),
    (bounds.rank_collapse_rate, "layernorm", {}, {"width": [8, 63, 64, 1000]}),
    (bounds.top_growth_isotropic, "batchnorm", dict(width=64), {"batch": [8, 16]}),
    (bounds.resnet_variance, "groupnorm", dict(depth=5, nonlinearity="relu"), {"group_size": [2, 4, 8]}),
    (bounds.resnet_variance, "layernorm", dict(depth=[3, 7]), {"batch": [[4], [32]]}),
    (bounds.resnet_variance_nf, "batchnorm", dict(depth=4), {"batch": [4, 16]}),
    (bounds.resnet_variance_skipinit, "plain", dict(depth=4), {"batch": [4, 16]}),
    (bounds.expected_std, "groupnorm", dict(depth=3, nonlinearity="relu"), {"group_size": [2, 8]}),
    (bounds.variancenorm_interior_growth, None, dict(depth=6), {"batch": [8, 16]}),
    (bounds.top_growth_per_sample, None, dict(n=8), {"width": [8, 16]}),
]


def _call(fn, norm, **kw):
    return fn(**kw) if norm is None else fn(norm, **kw)


@pytest.mark.parametrize("fn, norm, fixed, varied", VECTORIZED, ids=lambda v: getattr(v, "__name__", None))
def test_arrays_broadcast_to_the_scalar_values(fn, norm, fixed, varied):
    (key, values), = varied.items()
    out = _call(fn, norm, **fixed, **varied)
    shape = np.broadcast_shapes(*(np.shape(v) for v in {**fixed, **varied}.values()))
    assert isinstance(out, np.ndarray) and out.shape == shape
    grid = np.broadcast_arrays(*(np.asarray(v) for v in {**fixed, **varied}.values()))
    names = list({**fixed, **varied})
    for index in np.ndindex(shape):
        scalar = _call(fn, norm, **{k: g[index].item() for k, g in zip(names, grid)})
        assert type(scalar) is float
        assert out[index] == scalar, (index, out[index], scalar)


def test_two_arrays_broadcast_against_each_other():
    out = bounds.gradient_growth_per_layer("batchnorm", width=[64, 128], batch=[[8], [16], [32]], position="top")
    assert out.shape == (3, 2)
    assert out[2, 1] == bounds.gradient_growth_per_layer("batchnorm", width=128, batch=32, position="top")


def test_arrays_that_do_not_broadcast_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"width of shape \(2,\), batch of shape \(3,\) do not broadcast"):
        bounds.gradient_growth_per_layer("batchnorm", width=[64, 128], batch=[8, 16, 32])


SCALARS = [
    lambda: bounds.resnet_variance("layernorm", depth=10),
    lambda: bounds.resnet_variance_nf("layernorm", depth=10),
    lambda: bounds.resnet_variance_skipinit("layernorm", depth=10),
    lambda: bounds.expected_std("layernorm", depth=10),
    lambda: bounds.growth_rate("plain"),
    lambda: bounds.norm_second_moment("evonorm_b0"),
    lambda: bounds.gradient_growth_per_layer("weightnorm", width=8, nonlinearity="relu"),
    lambda: bounds.gradient_growth_total("layernorm", width=16, depth=3),
    lambda: bounds.gradient_growth_from_n(8),
    lambda: bounds.batchnorm_relu_growth(),
    lambda: bounds.variancenorm_interior_growth(batch=8, depth=6),
    lambda: bounds.top_growth_given_gram("batchnorm", gram=np.eye(6), width=8),
    lambda: bounds.top_growth_isotropic("batchnorm", batch=8, width=16),
    lambda: bounds.top_growth_per_sample(8, width=16),
    lambda: bounds.rank_lower_bound("batchnorm", width=64),
    lambda: bounds.rank_collapse_rate("plain", width=64),
    lambda: bounds.relu_correlation_map(0.5),
    lambda: bounds.relu_similarity_gap_asymptotic(depth=10),
]


@pytest.mark.parametrize("call", SCALARS, ids=range(len(SCALARS)))
def test_scalar_arguments_give_a_float(call):
    assert type(call()) is float


@pytest.mark.parametrize("alias, name", [("bn", "batchnorm"), ("BN", "batchnorm"), ("ln", "layernorm"),
                                         ("in", "instancenorm"), ("gn", "groupnorm"), ("GN", "groupnorm"),
                                         ("BatchNorm", "batchnorm"), ("Group-Norm", "groupnorm"),
                                         ("instance_norm", "instancenorm")])
def test_aliases_are_accepted_everywhere(alias, name):
    kw = {"batchnorm": dict(batch=32), "groupnorm": dict(group_size=8), "instancenorm": dict(spatial=16),
          "layernorm": {}}[name]
    assert bounds.gradient_growth_per_layer(alias, width=64, **kw) == bounds.gradient_growth_per_layer(name, width=64,
                                                                                                       **kw)
    assert bounds.gradient_growth_form(alias, **kw) == bounds.gradient_growth_form(name, **kw)
    assert bounds.stat_count(alias, width=64, **kw) == bounds.stat_count(name, width=64, **kw)
    forward = {k: v for k, v in kw.items() if k != "spatial"}
    assert bounds.resnet_variance(alias, depth=5, nonlinearity="relu", **forward) == \
        bounds.resnet_variance(name, depth=5, nonlinearity="relu", **forward)
    assert bounds.norm_second_moment(alias) == bounds.norm_second_moment(name)
    if name in ("batchnorm", "groupnorm", "layernorm"):
        rank_kw = {k: v for k, v in kw.items() if k == "group_size"}
        assert bounds.rank_lower_bound(alias, width=64, **rank_kw) == bounds.rank_lower_bound(name, width=64, **rank_kw)
    if name == "layernorm":
        assert bounds.rank_collapse_rate(alias, width=16) == bounds.rank_collapse_rate(name, width=16)
    if name == "batchnorm":
        assert bounds.top_growth_isotropic(alias, batch=8, width=16) == bounds.top_growth_isotropic(name, batch=8,
                                                                                                    width=16)


REFUSED = [
    ("group_size=16", lambda: bounds.rank_lower_bound("layernorm", width=256, group_size=16)),
    ("group_size=16", lambda: bounds.rank_lower_bound("batchnorm", width=256, group_size=16)),
    ("group_size=16", lambda: bounds.gradient_growth_per_layer("layernorm", width=256, group_size=16)),
    ("group_size=16", lambda: bounds.gradient_growth_per_layer("weightnorm", width=256, group_size=16)),
    ("group_size=16", lambda: bounds.gradient_growth_form("batchnorm", group_size=16)),
    ("group_size=16", lambda: bounds.stat_count("instancenorm", width=256, group_size=16)),
    ("group_size=16", lambda: bounds.resnet_variance("layernorm", depth=3, group_size=16)),
    ("group_size=16", lambda: bounds.expected_std("batchnorm", depth=3, group_size=16)),
    ("group_size=16", lambda: bounds.branch_moments("frn", nonlinearity="linear", v=1.0, s=0.0, group_size=16)),
    ("group_size=3", lambda: bounds.gradient_growth_per_layer("groupnorm", width=64, group_size=3)),
    ("group_size=3", lambda: bounds.rank_lower_bound("groupnorm", width=64, group_size=3)),
    ("tlu=True", lambda: bounds.norm_second_moment("layernorm", tlu=True)),
    # an infinite expectation names the arguments that set the count, not an internal n
    ("group_size=2", lambda: bounds.gradient_growth_per_layer("groupnorm", width=64, group_size=2)),
    ("group_size=2", lambda: bounds.gradient_growth_total("groupnorm", width=64, group_size=2, depth=3)),
    ("batch=3", lambda: bounds.gradient_growth_per_layer("batchnorm", width=64, batch=3)),
    ("width=3", lambda: bounds.gradient_growth_per_layer("layernorm", width=3)),
    ("spatial=2", lambda: bounds.gradient_growth_per_layer("instancenorm", width=8, spatial=2)),
    ("batch=2", lambda: bounds.gradient_growth_per_layer("batchnorm", width=64, batch=[8, 2])),
    ("width=1", lambda: bounds.rank_collapse_rate("layernorm", width=1)),
    ("batch=3", lambda: bounds.top_growth_isotropic("batchnorm", batch=3, width=8)),
    ("depth=0", lambda: bounds.relu_similarity_gap_asymptotic(depth=0)),
]


@pytest.mark.parametrize("named, call", REFUSED, ids=[f"{i}-{n}" for i, (n, _) in enumerate(REFUSED)])
def test_a_refusal_names_the_argument_as_passed(named, call):
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert named in message, message
    assert not re.search(r"\bn=", message), message


def test_recommend_group_size_raises_when_no_group_size_meets_max_growth():
    with pytest.raises(ValueError, match=r"group_size=8, grows 1\.52e\+79") as err:
        bounds.recommend_group_size(width=8, depth=1000)
    assert "max_growth=10" in str(err.value)
    with pytest.raises(ValueError, match="group_size=1, grows inf"):  # no group size of 2 has a finite growth
        bounds.recommend_group_size(width=2, depth=3)
    with pytest.raises(ValueError, match="grows inf"):  # an overflowing total is inf, not an OverflowError
        bounds.recommend_group_size(width=8, depth=10 ** 5)
    assert bounds.recommend_group_size(width=8, depth=1000, max_growth=1e80) == 8
    assert bounds.recommend_group_size(width=64, depth=20) == 16


def test_every_public_function_is_in_docs_bounds_md():
    text = (ROOT / "docs" / "bounds.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.MULTILINE))
    assert sorted(set(PUBLIC) - rows) == []
    assert sorted(rows - set(PUBLIC)) == []
