"""The two training protocols: their learning rates, schedules, epochs and LR grids.

``linear`` (this package's default): initial LR ``init_lr · 0.1 · B / 256`` (linear scaling,
Goyal et al. 2017), divided by 10 at 50% and again at 75% of the epochs, 200 epochs on
CIFAR; an optional linear warm-up comes first and is counted in the epochs.

``paper`` (the authors' code, EkdeepSLubana/BeyondBatchNorm, ``main.py`` and ``config.py``):
initial LR ``init_lr · 0.1 · 256 / B`` -- the code scales *inversely* with the batch size,
although its comment says "linearly" -- so batch 16 starts at 1.6·init_lr; 60 epochs at
batch >= 32 and 10 below (the code's ``bsize < 32`` rule: 10 epochs at batch 16 are twice the
iterations of 60 at batch 256); one ×0.1 drop after 75% of the iterations that follow the
warm-up; an optional linear warm-up from 0 (the code uses it for FRN: 5 epochs, 1 below
batch 32), counted in the epochs. Inputs normalized with mean and std 0.5 and augmented by
random horizontal flips only (see :func:`normtheory.training.data.load_dataset`).
"""

from __future__ import annotations

PROTOCOLS = ("linear", "paper")

# init_lr multipliers searched for the largest stable LR, largest first. The authors' code
# exposes init_lr (default 1) but publishes no grid; this one spans 1 down to 0.01 in 1-2-5
# steps, so batch 256 covers LRs 0.1 .. 0.001 and batch 16 covers 1.6 .. 0.016.
PAPER_INIT_LR_GRID = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
# absolute LRs of the linear protocol's search (unchanged from earlier versions)
LINEAR_LR_GRID = tuple(0.0125 * 2 ** k for k in range(7, -1, -1))


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")


def base_lr(protocol: str, batch_size: int, init_lr: float = 1.0) -> float:
    """The initial LR before any override: ``init_lr · 0.1 · B/256`` (linear) or
    ``init_lr · 0.1 · 256/B`` (paper)."""
    check_protocol(protocol)
    scale = batch_size / 256 if protocol == "linear" else 256 / batch_size
    return init_lr * 0.1 * scale


def default_epochs(protocol: str, batch_size: int, dataset: str = "cifar100") -> int:
    """linear: 2 on the embedded digits, 200 on CIFAR; paper: 60, or 10 at batch < 32."""
    check_protocol(protocol)
    if protocol == "paper":
        return 10 if batch_size < 32 else 60
    return 2 if dataset == "digits" else 200


def paper_warmup_epochs(batch_size: int) -> float:
    """The authors' warm-up length when it is on (FRN): 5 epochs, 1 at batch < 32."""
    return 1.0 if batch_size < 32 else 5.0


def lr_at(config, epoch_float: float) -> float:
    """LR at fractional epoch ``epoch_float`` of a run with ``config`` (a ``TrainConfig``)."""
    base = config.initial_lr()
    warm = config.warmup_epochs
    if warm > 0 and epoch_float < warm:
        return base * (epoch_float + 1e-12) / warm
    if getattr(config, "protocol", "linear") == "paper":
        return base * (0.1 if epoch_float >= warm + 0.75 * (config.epochs - warm) else 1.0)
    factor = 1.0
    if epoch_float >= 0.5 * config.epochs:
        factor *= 0.1
    if epoch_float >= 0.75 * config.epochs:
        factor *= 0.1
    return base * factor
