"""Memory estimates of the Monte Carlo runs: refusal before allocating, the limit's sources,
and the estimates against peaks measured in a fresh process."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch

from normtheory.montecarlo import simulate_mlp, simulate_net
from normtheory.montecarlo.memory import ENV, available_memory, mlp_peak_bytes, net_peak_bytes
from normtheory.nets import build
from normtheory.normalizers import GROUPED_NAMES, NAMES

GIB = 2**30


def test_a_width_of_ten_million_is_refused_at_once_naming_the_width():
    start = time.perf_counter()
    for engine in ("explicit", "gram", "torch"):
        with pytest.raises(ValueError, match=r"width=10000000.*GiB.*max_memory"):
            simulate_mlp("layernorm", width=10**7, depth=10, batch=8, trials=2, engine=engine)
    assert time.perf_counter() - start < 5


def test_depth_3000_at_width_4096_on_the_gram_engine_runs_only_if_its_estimate_fits():
    sizes = dict(width=4096, depth=3000, batch=64, trials=2)
    settings = dict(sizes, engine="gram", residual=False)
    estimate = mlp_peak_bytes(settings)
    assert estimate > 3000 * 2 * 64 * 4096 * 8  # at least one trial's stored activations, 12 GiB
    with pytest.raises(ValueError, match=r"depth=3000.*engine='gram'"):
        simulate_mlp("groupnorm", group_size=8, engine="gram", max_memory=estimate - 1, **sizes)
    if estimate > available_memory():  # it would not have fitted: refused by default too
        with pytest.raises(ValueError, match="depth=3000"):
            simulate_mlp("groupnorm", group_size=8, engine="gram", **sizes)


def test_the_limit_comes_from_max_memory_else_the_environment(monkeypatch):
    small = dict(width=32, depth=3, batch=4, trials=1, engine="explicit")
    monkeypatch.setenv(ENV, "1000")
    with pytest.raises(ValueError, match=ENV):
        simulate_mlp("layernorm", **small)
    assert simulate_mlp("layernorm", max_memory=GIB, **small).variance.shape == (1, 4)
    with pytest.raises(ValueError, match="max_memory"):
        simulate_mlp("layernorm", max_memory=10**4, **small)
    for bad in (0, -1, 1.5, "lots"):
        with pytest.raises(ValueError, match="max_memory"):
            simulate_mlp("layernorm", max_memory=bad, **small)
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(ValueError, match=ENV):
        simulate_mlp("layernorm", **small)


def test_simulate_net_is_refused_before_its_first_trial():
    with pytest.raises(ValueError, match=r"simulate_net\('uniform'.*batch=8"):
        simulate_net("uniform", "batchnorm", depth=4, trials=1, batch=8, image_size=8, device="cpu", max_memory=10**4)


PEAK_SCRIPT = """
import json, sys
import torch
from normtheory.montecarlo import simulate_mlp, simulate_net
from normtheory.montecarlo.memory import mlp_peak_bytes, net_peak_bytes
from normtheory.nets import build

def resident(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

def peak(run):
    before = resident("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak resident size VmHWM to the current one
    run()
    return resident("VmHWM:") - before

kw = json.loads(sys.argv[1])
if kw.pop("simulate") == "mlp":
    simulate_mlp(**dict(kw, depth=3))  # compiles, loads the thread pools
    sim = simulate_mlp(**dict(kw, depth=3))
    out = (peak(lambda: simulate_mlp(**kw)), mlp_peak_bytes(dict(sim.settings, depth=kw["depth"])))
else:
    simulate_net(**dict(kw, batch=2, image_size=8))
    build_net = lambda: build(kw["arch"], kw["norm"], in_channels=kw["in_channels"], depth=kw["depth"],
                              width=kw["width"], group_size=kw["group_size"])
    out = (peak(lambda: simulate_net(**kw)),
           net_peak_bytes(build_net, kw["batch"], kw["in_channels"], kw["image_size"], torch.float64))
print(json.dumps(out))
"""
CASES = {
    engine: dict(simulate="mlp", norm="groupnorm", group_size=8, nonlinearity="relu", width=512, depth=200, batch=16,
                 trials=1, engine=engine)
    for engine in ("explicit", "gram")
}
CASES["torch"] = dict(CASES["gram"], width=256, depth=100, engine="torch")
CASES["net"] = dict(simulate="net", arch="uniform", norm="groupnorm", depth=8, width=64, group_size=8, batch=8,
                    image_size=32, trials=1, device="cpu", in_channels=3)


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's resettable peak RSS")
@pytest.mark.parametrize("case", CASES)
def test_estimates_are_within_a_factor_2_of_the_measured_peak(case):
    """Peak resident memory of one run, after a warm-up run, against the estimate. Each case runs
    in a process of its own: memory that glibc kept from another engine's run was reused without
    raising the resident size (torch measured at 42% of its estimate after the explicit and Gram
    runs in one process). Measured here (2 cores): explicit 24.8 MiB of 31.6 estimated, Gram 25.1
    of 25.9, torch 100.2 of 100.0, the uniform CNN (simulate_net) 340 of 294."""
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, json.dumps(CASES[case])], capture_output=True,
                          text=True, timeout=300, check=True)
    measured, estimate = json.loads(done.stdout)
    assert 0.5 <= measured / estimate <= 2, (case, measured, estimate)


@pytest.mark.parametrize("norm", NAMES)
def test_the_net_estimate_runs_on_the_meta_device_for_every_arch_and_norm(norm):
    """In the dtype simulate_net casts to (a float32 bias against float64 input failed)."""
    group = {"group_size": 4} if norm in GROUPED_NAMES else {}
    archs = [("vgg10", {}), ("uniform", {"depth": 3}), ("resnet56_pre", {"skipinit": True}),
             ("mlp", {"width": 32, "depth": 3, "in_features": 3 * 8 * 8})]
    for arch, options in archs:
        net = lambda: build(arch, norm, in_channels=3, **group, **options)  # noqa: E731
        small, large = (net_peak_bytes(net, b, 3, 8, torch.float64) for b in (2, 4))
        assert 0 < small < large
