"""normtheory.bounds imports without torch, its torch-free name lists agree with the
normalizers', and bad arguments raise ValueError naming the parameter."""

import subprocess
import sys

import pytest

from normtheory import bounds
from normtheory.bounds import _validate


def test_bounds_import_does_not_pull_torch():
    code = "import sys, normtheory.bounds; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_names_and_families_agree_with_the_normalizers():
    normalizers = pytest.importorskip("normtheory.normalizers")
    assert set(_validate.NAMES) == set(normalizers.NAMES)
    assert set(_validate.GROUPED_NAMES) == set(normalizers.GROUPED_NAMES)
    assert set(_validate.VARIANT_NAMES) == set(normalizers.VARIANT_NAMES)
    for name in normalizers.NAMES + normalizers.VARIANT_NAMES:
        assert _validate.family(name) == normalizers.family(name)
    for spelled in ("EvoNorm-B0", " LayerNorm ", "variancenorm_centred", "VarianceNorm-Centered",
                    "variancenorm_uncentered"):
        assert _validate.check_name(spelled) == normalizers.check_name(spelled)
    with pytest.raises(ValueError, match="Did you mean 'layernorm'"):
        _validate.check_name("layernom")


@pytest.mark.parametrize("kwargs, name", [
    (dict(width=-3), "width"), (dict(width=0), "width"), (dict(width=2.5), "width"),
    (dict(width=16, spatial=0), "spatial"), (dict(width=16, batch=-1), "batch"),
    (dict(width=16, nonlinearity="tanh"), "nonlinearity"),
])
def test_gradient_growth_rejects_bad_arguments_for_every_family(kwargs, name):
    for norm in ("plain", "weightnorm", "layernorm"):
        with pytest.raises(ValueError, match=name):
            bounds.gradient_growth_per_layer(norm, **kwargs)
