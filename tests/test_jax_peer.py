"""The JAX peer of the theory-MLP Monte Carlo engine (bench/peers/jax_mc.py): equal to
normtheory's explicit engine on shared weights, equal in distribution on its own draws, and a
check that fails when it should. Skipped without jax (``pip install 'normtheory[bench]'``)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

PEER_PATH = Path(__file__).resolve().parents[1] / "bench" / "peers" / "jax_mc.py"
_spec = importlib.util.spec_from_file_location("jax_mc", PEER_PATH)
jax_mc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(jax_mc)

TINY = dict(width=16, depth=5, batch=8, trials=2)


def _group(norm):
    return 4 if norm == "groupnorm" else None


@pytest.mark.parametrize("nonlinearity", ["linear", "relu"])
@pytest.mark.parametrize("norm", ["groupnorm", "batchnorm"])
def test_equal_to_the_explicit_engine_on_shared_weights(norm, nonlinearity):
    ok, report = jax_mc.check_equal(norm, nonlinearity, group_size=_group(norm), verbose=False, **TINY)
    assert ok, report
    for probe, r in report.items():  # at this size within the fixed tolerances, without the rounding floor
        assert r["max_rel"] <= (jax_mc.RTOL_GRAD if probe == "grad_sq" else jax_mc.RTOL_FORWARD), (probe, r)


def test_time_run_then_store_and_remat_draw_the_same_networks():
    """time_run compiles both modes (simulate then reuses the programs); both give the same
    numbers, with a stable rank at the last layer only by default."""
    r = jax_mc.time_run("groupnorm", "relu", 8, 64, 5, 2, repeat=1)
    assert set(r) == {"compile_s", "store_compile_s", "remat_compile_s", "store_s", "remat_s", "best_s", "best_mode"}
    assert r["best_mode"] in jax_mc.MODES and r["best_s"] == min(r["store_s"], r["remat_s"]) > 0
    kw = dict(width=64, depth=5, batch=8, trials=2, nonlinearity="relu")
    store = jax_mc.simulate("groupnorm", mode="store", **kw)
    remat = jax_mc.simulate("groupnorm", mode="remat", **kw)
    for probe in jax_mc.PROBES:
        assert store[probe].shape == (2, 6)
        np.testing.assert_allclose(store[probe], remat[probe], rtol=1e-12, err_msg=probe)
    srank = store["stable_rank"]
    assert np.isfinite(srank[:, -1]).all() and np.isnan(srank[:, :-1]).all()
    for probe in ("variance", "cosine", "grad_sq"):
        assert np.isfinite(store[probe]).all()


def test_equal_in_distribution_on_its_own_draws():
    ok, report = jax_mc.check_distribution("groupnorm", "relu", width=32, depth=8, batch=8, trials=48,
                                           group_size=4, verbose=False)
    assert ok, report
    assert report["comparisons"] == 3 * 9 + 1  # the stable rank at the last layer only, by default


def _bump_one_weight(x0, ws, g):
    ws[0, 2, 3, 5] *= 1 + 1e-6
    return x0, ws, g


def _nan_input(x0, ws, g):
    x0[1, 0, 0] = np.nan
    return x0, ws, g


@pytest.mark.parametrize("tamper, overrides", [(_bump_one_weight, None), (None, {"eps": 2e-5}),
                                               (None, {"group_size": 8}), (_nan_input, None)],
                         ids=["one weight by 1e-6", "eps", "group size", "a NaN input"])
def test_the_equality_check_fails_when_the_peer_differs(tamper, overrides):
    ok, report = jax_mc.check_equal("groupnorm", "linear", group_size=4, tamper=tamper, peer_overrides=overrides,
                                    verbose=False, **TINY)
    assert not ok, report


def test_the_distribution_check_fails_on_a_wrong_group_size():
    ok, report = jax_mc.check_distribution("groupnorm", "relu", width=32, depth=8, batch=8, trials=48, group_size=4,
                                           peer_overrides={"group_size": 16}, verbose=False)
    assert not ok and report["max_z"] > report["bound"], report


def test_without_jax_it_says_so():
    code = ("import sys; sys.modules['jax'] = None; import importlib.util as u; "
            f"s = u.spec_from_file_location('m', {str(PEER_PATH)!r}); m = u.module_from_spec(s); "
            "s.loader.exec_module(m); assert not m.available(); sys.exit(m.main(['--check']))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "pip install 'normtheory[bench]'" in out.stdout, out
