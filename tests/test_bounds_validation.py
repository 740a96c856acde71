"""normtheory.bounds imports without torch, it and the normalizers read their names from the
one torch-free module normtheory.names, and bad arguments raise ValueError naming the parameter."""

import subprocess
import sys

import pytest

from normtheory import bounds, names
from normtheory.bounds import validate


def test_bounds_import_does_not_pull_torch():
    code = "import sys, normtheory.bounds; print('torch' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_names_imports_nothing_outside_the_standard_library():
    code = ("import sys; before = set(sys.modules); import normtheory.names; "
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
            "('numpy', 'torch', 'numba', 'sympy', 'scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_name_tables():
    assert names.NAMES == names.ACTIVATION_NAMES + names.PARAMETRIC_NAMES + ("plain",)
    assert len(names.NAMES) == 11 and len(set(names.NAMES)) == 11
    assert names.KNOWN_NAMES == names.NAMES + names.VARIANT_NAMES
    assert set(names.GROUPED_NAMES) <= set(names.ACTIVATION_NAMES)
    assert set(names.EVONORM_NAMES) <= set(names.ACTIVATION_NAMES)
    assert set(names.BATCH_NAMES) <= set(names.ACTIVATION_NAMES)
    assert set(names.VARIANT_BATCH_NAMES) <= set(names.VARIANT_NAMES)
    assert set(names.EXTRA_BATCH_NAMES) <= set(names.EXTRA_NAMES)
    assert not set(names.EXTRA_NAMES) & set(names.KNOWN_NAMES)
    for alias, name in {**names.ALIASES, **names.EXTRA_ALIASES}.items():
        assert names.canonical(alias) == name
    assert names.canonical("mean_centering", extras=False) == "mean_centering"


def test_bounds_and_normalizers_read_the_names_module():
    normalizers = pytest.importorskip("normtheory.normalizers")
    for attr in ("NAMES", "ACTIVATION_NAMES", "PARAMETRIC_NAMES", "GROUPED_NAMES", "VARIANT_NAMES",
                 "BATCH_NAMES", "VARIANT_BATCH_NAMES", "EXTRA_NAMES", "EXTRA_BATCH_NAMES"):
        assert getattr(normalizers, attr) is getattr(names, attr)
    for attr in ("NAMES", "ACTIVATION_NAMES", "PARAMETRIC_NAMES", "GROUPED_NAMES", "VARIANT_NAMES"):
        assert getattr(validate, attr) is getattr(names, attr)
    assert normalizers.check_name is names.check_name and normalizers.family is names.family
    for name in names.ACTIVATION_NAMES + names.VARIANT_NAMES + names.EXTRA_NAMES:  # a module for each
        module = normalizers.make(name, 8, **names.group_options(name, 4))
        assert not isinstance(module, normalizers.Passthrough) and module.family == "activation"
    for name in names.PARAMETRIC_NAMES + ("plain",):
        assert isinstance(normalizers.make(name, 8), normalizers.Passthrough)


def test_families_and_spellings():
    for name in names.ACTIVATION_NAMES + names.VARIANT_NAMES + names.EXTRA_NAMES:
        assert names.family(name) == "activation"
    for name in names.PARAMETRIC_NAMES:
        assert names.family(name) == "parametric"
    assert names.family("plain") == "none"
    for name in names.KNOWN_NAMES:
        assert validate.family(name) == names.family(name)
    for spelled in ("EvoNorm-B0", " LayerNorm ", "variancenorm_centred", "VarianceNorm-Centered",
                    "variancenorm_uncentered"):
        assert validate.check_name(spelled) == names.check_name(spelled)
    assert names.any_name("Mean-Centering") == "meancentering"
    assert names.group_options("groupnorm", 4) == {"group_size": 4} == names.group_options("evonorm_s0", 4)
    assert names.group_options("layernorm", 4) == {} and not names.takes_group("batchnorm")


def test_the_two_messages():
    """The closed forms name the parameter ``norm`` and know nothing of the extra names; the
    normalizers say where an extra name is built."""
    with pytest.raises(ValueError, match="unknown normalizer norm='layernom'. Did you mean 'layernorm'"):
        validate.check_name("layernom")
    with pytest.raises(ValueError, match="unknown normalizer 'layernom'. Did you mean 'layernorm'"):
        names.check_name("layernom")
    with pytest.raises(ValueError, match="unknown normalizer norm='meancentering'"):
        validate.family("meancentering")
    with pytest.raises(ValueError, match="is one of normalizers.EXTRA_NAMES"):
        names.check_name("mean_centering")
    with pytest.raises(ValueError, match="Did you mean 'meancentering'"):
        names.any_name("meancenterin")
    with pytest.raises(ValueError, match="norm must be a name"):
        names.check_name(3, extras=False)


@pytest.mark.parametrize("kwargs, name", [
    (dict(width=-3), "width"), (dict(width=0), "width"), (dict(width=2.5), "width"),
    (dict(width=16, spatial=0), "spatial"), (dict(width=16, batch=-1), "batch"),
    (dict(width=16, nonlinearity="tanh"), "nonlinearity"),
])
def test_gradient_growth_rejects_bad_arguments_for_every_family(kwargs, name):
    for norm in ("plain", "weightnorm", "layernorm"):
        with pytest.raises(ValueError, match=name):
            bounds.gradient_growth_per_layer(norm, **kwargs)
