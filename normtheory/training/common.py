"""What the single-seed loop (:mod:`~normtheory.training.loop`) and the stacked-seed loop
(:mod:`~normtheory.training.stacked`) share: the configuration, its checks, the network,
augmentation, devices, probes, checkpoint loading and the non-finite-loss window.

Both import these; their shared epoch loop is :class:`normtheory.training.epochs.EpochLoop`
(the single-seed run hands ``seeds > 1`` to the stacked one, which imports nothing of it).

No host-device synchronisation per step: a step's loss stays on the device, the losses of
``check_every`` steps are kept in a :class:`LossWindow`, and one copy to the host every
``check_every`` steps (and at the end of each epoch) finds the first non-finite one.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from normtheory.montecarlo.networks import resolve_device
from normtheory.nets import build, layout_version
from normtheory.probes import Overflow, probe
from normtheory.training import schedule
from normtheory.training.data import ImageData


@dataclass
class TrainConfig:
    arch: str = "vgg10"
    norm: str = "batchnorm"
    group_size: int | None = None
    num_groups: int | None = None
    skipinit: bool = False
    epochs: int = 4
    batch_size: int = 64
    lr: float | None = None
    warmup_epochs: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0
    seeds: int = 1
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    flip: bool = True
    crop: bool = False
    probe_every: int = 0
    max_steps: int | None = None
    mlp: dict = field(default_factory=dict)
    protocol: str = "linear"
    init_lr: float = 1.0
    check_every: int = 20

    def initial_lr(self) -> float:
        """``lr`` if given, else the protocol's ``init_lr``-scaled base LR (:mod:`.schedule`)."""
        return self.lr if self.lr is not None else schedule.base_lr(self.protocol, self.batch_size, self.init_lr)


def defaults() -> dict:
    """Every field's default value (a saved configuration lacking a newer field had it), and
    ``net_layout`` 1: a run saved before the layout was recorded was built with layout 1."""
    return {**asdict(TrainConfig()), "net_layout": 1}


def saved_config(config: TrainConfig) -> dict:
    """What a run folder's ``config.json`` holds: the configuration and the layout version of
    its network (:func:`normtheory.nets.layout_version`), so that ``--resume`` refuses a
    checkpoint of a network whose function has changed since it was written."""
    return {**asdict(config), "net_layout": layout_version(config.arch, config.norm)}


def check_numbers(config: TrainConfig) -> None:
    """``ValueError`` naming the first setting out of its range."""
    def need(ok: bool, name: str, rule: str) -> None:
        if not ok:
            raise ValueError(f"{name} must be {rule}, got {getattr(config, name)!r}")

    schedule.check_protocol(config.protocol)
    for name in ("epochs", "batch_size", "seeds", "check_every"):
        need(isinstance(getattr(config, name), int) and getattr(config, name) >= 1, name, "an integer >= 1")
    for name in ("group_size", "num_groups", "max_steps"):
        value = getattr(config, name)
        need(value is None or (isinstance(value, int) and value >= 1), name, "an integer >= 1")
    need(isinstance(config.seed, int) and config.seed >= 0, "seed", "an integer >= 0")
    need(isinstance(config.probe_every, int) and config.probe_every >= 0, "probe_every", "an integer >= 0")
    need(config.lr is None or (math.isfinite(config.lr) and config.lr > 0), "lr", "a finite number > 0")
    need(math.isfinite(config.init_lr) and config.init_lr > 0, "init_lr", "a finite number > 0")
    need(math.isfinite(config.warmup_epochs) and config.warmup_epochs >= 0, "warmup_epochs", "a finite number >= 0")
    need(config.warmup_epochs < config.epochs or config.warmup_epochs == 0, "warmup_epochs",
         f"shorter than the {config.epochs} epochs")
    need(math.isfinite(config.momentum) and 0 <= config.momentum < 1, "momentum", "a number in [0, 1)")
    need(math.isfinite(config.weight_decay) and config.weight_decay >= 0, "weight_decay", "a finite number >= 0")


def check_config(config: TrainConfig, data: ImageData) -> None:
    """``ValueError`` naming the setting for configurations that cannot run on ``data``."""
    check_numbers(config)
    if config.arch == "mlp" and not {"width", "depth"} <= set(config.mlp):
        raise ValueError(f"arch 'mlp' needs mlp=dict(width=..., depth=...), got mlp={config.mlp!r}")
    if config.batch_size > data.x_train.shape[0]:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {data.x_train.shape[0]} training images")


def build_model(config: TrainConfig, data: ImageData):
    kwargs = dict(group_size=config.group_size, num_groups=config.num_groups, num_classes=data.num_classes,
                  skipinit=config.skipinit)
    if config.arch == "mlp":
        kwargs.update(in_features=data.in_channels * data.image_size ** 2, **config.mlp)
    else:
        kwargs["in_channels"] = data.in_channels
    return build(config.arch, config.norm, **kwargs)


def augment(x: torch.Tensor, gen: torch.Generator, flip: bool, crop: bool) -> torch.Tensor:
    """Random horizontal flips and 4-pixel-padded random crops, on the data's device (the
    random numbers come from the CPU generator ``gen``; nothing is read back from the device)."""
    if flip:
        mask = torch.rand(x.shape[0], generator=gen, device="cpu").to(x.device, non_blocking=True) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if crop:
        pad = 4
        padded = F.pad(x, (pad, pad, pad, pad))
        dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
        x = padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return x


def flips(config: TrainConfig, data: ImageData) -> bool:
    """Whether the run flips its images: always under the paper's protocol (as its code does),
    else only images of at least 16 pixels (not the embedded 8x8 digits)."""
    return config.flip and (config.protocol == "paper" or data.image_size >= 16)


def probe_summary(model, x, y) -> dict:
    """Probe statistics of ``model`` on ``(x, y)``. The probe runs on a copy, so that its
    forward pass (in training mode) leaves the running statistics of the trained model alone."""
    try:
        recs = probe(copy.deepcopy(model), x, loss=lambda out: F.cross_entropy(out.float(), y))
    except (Overflow, ValueError) as exc:
        return {"probe_error": str(exc)}
    return {"probe_last_cosine": recs[-1]["cosine"], "probe_last_stable_rank": recs[-1]["stable_rank"],
            "probe_first_grad_sq": recs[0]["grad_input_sq"], "probe_last_grad_sq": recs[-1]["grad_input_sq"]}


def device_and_autocast(config: TrainConfig):
    """The training device and a context factory: bf16 autocast on CUDA (unless ``amp`` is off)."""
    dev = resolve_device(config.device)
    if dev.type == "cuda" and config.amp:
        return dev, lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return dev, lambda: torch.autocast("cpu", enabled=False)


def device_tensors(data: ImageData, dev, *, channels_last: bool = False):
    """``x_train, y_train, x_test, y_test`` held on ``dev`` for the whole run."""
    x_train = torch.as_tensor(data.x_train, device=dev)
    if channels_last:
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    return (x_train, torch.as_tensor(data.y_train, device=dev), torch.as_tensor(data.x_test, device=dev),
            torch.as_tensor(data.y_test, device=dev))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


class LossWindow:
    """The device-side losses of the steps since the last check, with each step's number and
    LR; :meth:`flush` copies them to the host once and returns them with a finiteness mask."""

    def __init__(self):
        self.losses: list[torch.Tensor] = []
        self.steps: list[tuple[int, float]] = []

    def add(self, loss: torch.Tensor, step: int, lr: float) -> None:
        self.losses.append(loss.detach())
        self.steps.append((step, lr))

    def __len__(self) -> int:
        return len(self.losses)

    def flush(self):
        """``(values, finite, steps)``: the losses ``(n, ...)`` as float64 on the CPU, their
        finiteness, and ``(step, lr)`` per row; ``None`` if no step was added."""
        if not self.losses:
            return None
        values = torch.stack(self.losses).double().cpu()  # the one host-device sync
        steps = self.steps
        self.losses, self.steps = [], []
        return values, torch.isfinite(values), steps

