"""Peak memory of the Monte Carlo runs, estimated and checked before anything is allocated.

Without the check, ``simulate_mlp(width=10**7, ...)`` (a weight of 800 TB) or depth 3000 at
width 4096 on the Gram engine (12 GiB per trial at batch 64) runs until an allocation fails, minutes
in. :func:`check_memory` refuses such a run at once with a ``ValueError`` that names the
sizes and the estimate. The limit is the ``max_memory`` argument (bytes), else the
environment variable ``NORMTHEORY_MAX_MEMORY`` (bytes), else the memory available now
(``MemAvailable`` of /proc/meminfo, else the physical memory; on a CUDA device, its free
memory).

The estimates count the arrays each engine holds at its peak, in float64 (8 bytes), per
trial running at once (numba's thread count for the numba engines, one for torch):

- explicit (:mod:`normtheory.montecarlo.explicit`): every layer's input and pre-norm
  activation, ``(depth + 1)·B·d + depth·B·d``, the weight with its unscaled draw and the
  previous layer's, ``3·d²``, and ``8·B·d`` of per-layer temporaries;
- Gram (:mod:`normtheory.montecarlo.gram`): per layer the stored input and pre-norm
  activation ``2·B·d`` (``3·B·d`` residual: the weight's input too) and the Cholesky factor ``B²``,
  plus ``8·B·d`` of temporaries. A layer whose input is rank-deficient or ill-conditioned
  (collapsing linear nets) takes the QR route and also stores ``Q`` and ``Z``,
  ``2·min(B, d)·d``: up to twice the estimate if every layer did;
- torch (:mod:`normtheory.montecarlo.reference`): per layer the weight ``d²``, which
  autograd keeps, and ``16·B·d`` of saved activations;
- all: the probe arrays, ``5·trials·(depth + 1)``.

Measured peaks (resident memory, one trial, tests/test_memory.py): 0.91 of the estimate on
the explicit engine, 0.97 on Gram and on torch, 1.03 for a uniform CNN in ``simulate_net``.
"""

from __future__ import annotations

import os

import numba

from normtheory._args import positive_int

FLOAT = 8  # bytes of a float64
ENV = "NORMTHEORY_MAX_MEMORY"


def available_memory(device=None) -> int:
    """Bytes that can be allocated now: a CUDA device's free memory, else ``MemAvailable``
    of /proc/meminfo, else the physical memory."""
    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        import torch  # lazy: torch, which `import normtheory.montecarlo` does not load

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def memory_limit(max_memory=None, device=None) -> int:
    """``max_memory`` (bytes), else ``$NORMTHEORY_MAX_MEMORY``, else :func:`available_memory`."""
    if max_memory is not None:
        return positive_int(max_memory, "max_memory")
    value = os.environ.get(ENV)
    if value:
        try:
            limit = int(float(value))
        except (ValueError, OverflowError):
            limit = 0
        if limit <= 0:
            raise ValueError(f"{ENV} must be a positive number of bytes, got {value!r}")
        return limit
    return available_memory(device)


def mlp_peak_bytes(s: dict) -> int:
    """Estimated peak bytes of :func:`normtheory.montecarlo.simulate_mlp` with the settings
    ``s`` (as it builds them, ``engine`` resolved); see the module docstring."""
    b, d, depth, trials = s["batch"], s["width"], s["depth"], s["trials"]
    probes = 5 * trials * (depth + 1)
    if s["engine"] == "torch":
        return FLOAT * (depth * (d * d + 16 * b * d) + probes)
    running = min(trials, numba.get_num_threads())
    if s["engine"] == "explicit":
        per_trial = (2 * depth + 1) * b * d + 3 * d * d + 8 * b * d
    else:
        per_trial = depth * ((3 if s["residual"] else 2) * b * d + b * b) + 8 * b * d
    return FLOAT * (running * per_trial + probes)


def net_peak_bytes(build_net, batch: int, in_channels: int, image_size: int, dtype) -> int:
    """Rough peak bytes of one trial of :func:`normtheory.montecarlo.simulate_net`: three
    copies of the parameters (weights, gradients, the float64 copy of the probes) and of
    every module's output (autograd's saved tensors, retained gradients, temporaries),
    found by running ``build_net()`` on torch's ``meta`` device (shapes, no data)."""
    import torch  # lazy: torch, which `import normtheory.montecarlo` does not load

    from normtheory.normalizers import input_checks  # lazy: imports torch

    with torch.device("meta"):
        model = build_net().to(dtype)
    outputs = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel()))
             for m in model.modules() if not list(m.children())]
    try:
        with input_checks(False):  # the finiteness check reads values, which meta tensors lack
            model(torch.empty(batch, in_channels, image_size, image_size, device="meta", dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
    params = sum(p.numel() for p in model.parameters())
    return 3 * (params + sum(outputs)) * torch.empty((), dtype=dtype).element_size()


def check_memory(estimate: int, limit: int, what: str) -> None:
    """``ValueError`` naming ``what`` (the sizes) and the estimate when it exceeds ``limit``."""
    if estimate > limit:
        raise ValueError(
            f"{what} needs about {estimate / 2**30:.3g} GiB at its peak ({estimate} bytes), more than the "
            f"{limit / 2**30:.3g} GiB available ({limit} bytes); use smaller sizes, or raise the limit with "
            f"max_memory= (bytes) or the environment variable {ENV}")
