"""Training loop: SGD with the paper's schedule, divergence detection, logs, checkpoints, resume.

SGD with momentum 0.9 and weight decay 1e-4; initial LR ``0.1 · B / 256`` (linear scaling,
Goyal et al. 2017) unless given; the step schedule divides the LR by 10 at 50% and 75% of
the epochs; optional linear warmup over the first epochs. Data lives on the training device
as one tensor; random flips (and, with ``crop``, 4-pixel-padded random crops) are applied
there per batch. On CUDA: bf16 autocast and channels_last, optionally ``torch.compile``.

``seeds > 1`` trains several seeds at once (:mod:`normtheory.training.stacked`).

Outputs in ``out_dir``: ``config.json``, ``log.jsonl`` (one JSON record per finished
epoch, appended as it goes), ``checkpoint.pt`` (model, optimizer, RNG states and the log
records, after every epoch). ``resume=True`` continues from the checkpoint without redoing
finished epochs; a folder holding another run is refused unless ``resume`` (same
configuration) or ``force`` (start over), see :mod:`normtheory.training.rundir`. A
non-finite loss stops the run, which is recorded as diverged.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from normtheory.durable import JsonlLog, atomic_save_torch
from normtheory.training import rundir
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

    def initial_lr(self) -> float:
        return self.lr if self.lr is not None else 0.1 * self.batch_size / 256


def lr_at(config: TrainConfig, epoch_float: float) -> float:
    """LR at fractional epoch ``epoch_float``: warmup, then /10 at 50% and 75% of the epochs."""
    base = config.initial_lr()
    if config.warmup_epochs > 0 and epoch_float < config.warmup_epochs:
        return base * (epoch_float + 1e-12) / config.warmup_epochs
    factor = 1.0
    if epoch_float >= 0.5 * config.epochs:
        factor *= 0.1
    if epoch_float >= 0.75 * config.epochs:
        factor *= 0.1
    return base * factor


def build_model(config: TrainConfig, data: ImageData):
    from normtheory.nets import build

    kwargs = dict(group_size=config.group_size, num_groups=config.num_groups, num_classes=data.num_classes,
                  skipinit=config.skipinit)
    if config.arch == "mlp":
        kwargs.update(in_features=data.in_channels * data.image_size ** 2, **config.mlp)
    else:
        kwargs["in_channels"] = data.in_channels
    return build(config.arch, config.norm, **kwargs)


def augment(x: torch.Tensor, gen: torch.Generator, flip: bool, crop: bool) -> torch.Tensor:
    """Random horizontal flips and 4-pixel-padded random crops, on the data's device."""
    if flip:
        mask = torch.rand(x.shape[0], generator=gen, device="cpu").to(x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if crop:
        pad = 4
        padded = F.pad(x, (pad, pad, pad, pad))
        dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
        x = padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    return x


def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int, autocast) -> tuple[float, float]:
    model.eval()
    total, correct, n = 0.0, 0, 0
    with torch.no_grad(), autocast():
        for i in range(0, x.shape[0], batch_size):
            out = model(x[i:i + batch_size]).float()
            total += float(F.cross_entropy(out, y[i:i + batch_size], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch_size]).sum())
            n += out.shape[0]
    model.train()
    return total / n, correct / n


def _probe_summary(model, x, y) -> dict:
    """Probe statistics of ``model`` on ``(x, y)``. The probe runs on a copy, so that its
    forward pass (in training mode) leaves the running statistics of the trained model alone."""
    import copy

    from normtheory.probes import Overflow, probe

    try:
        recs = probe(copy.deepcopy(model), x, loss=lambda out: F.cross_entropy(out.float(), y))
    except (Overflow, ValueError) as exc:
        return {"probe_error": str(exc)}
    return {"probe_last_cosine": recs[-1]["cosine"], "probe_last_stable_rank": recs[-1]["stable_rank"],
            "probe_first_grad_sq": recs[0]["grad_input_sq"], "probe_last_grad_sq": recs[-1]["grad_input_sq"]}


def check_numbers(config: TrainConfig) -> None:
    """``ValueError`` naming the first numeric setting out of its range."""
    def need(ok: bool, name: str, rule: str) -> None:
        if not ok:
            raise ValueError(f"{name} must be {rule}, got {getattr(config, name)!r}")

    for name in ("epochs", "batch_size", "seeds"):
        need(isinstance(getattr(config, name), int) and getattr(config, name) >= 1, name, "an integer >= 1")
    for name in ("group_size", "num_groups", "max_steps"):
        value = getattr(config, name)
        need(value is None or (isinstance(value, int) and value >= 1), name, "an integer >= 1")
    need(isinstance(config.seed, int) and config.seed >= 0, "seed", "an integer >= 0")
    need(isinstance(config.probe_every, int) and config.probe_every >= 0, "probe_every", "an integer >= 0")
    need(config.lr is None or (math.isfinite(config.lr) and config.lr > 0), "lr", "a finite number > 0")
    need(math.isfinite(config.warmup_epochs) and config.warmup_epochs >= 0, "warmup_epochs", "a finite number >= 0")
    need(math.isfinite(config.momentum) and 0 <= config.momentum < 1, "momentum", "a number in [0, 1)")
    need(math.isfinite(config.weight_decay) and config.weight_decay >= 0, "weight_decay", "a finite number >= 0")


def check_config(config: TrainConfig, data: ImageData) -> None:
    """``ValueError`` naming the setting for configurations that cannot run on ``data``."""
    check_numbers(config)
    if config.arch == "mlp" and not {"width", "depth"} <= set(config.mlp):
        raise ValueError(f"arch 'mlp' needs mlp=dict(width=..., depth=...), got mlp={config.mlp!r}")
    if config.batch_size > data.x_train.shape[0]:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {data.x_train.shape[0]} training images")


def device_and_autocast(config: TrainConfig):
    """The training device and a context factory: bf16 autocast on CUDA (unless ``amp`` is off)."""
    from normtheory.montecarlo.networks import resolve_device

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


def train(config: TrainConfig, data: ImageData, out_dir, *, resume: bool = False, force: bool = False,
          progress: bool = True) -> dict:
    """Train ``config`` on ``data``; returns a summary (also the last line of the log).

    With ``config.seeds > 1`` the seeds ``seed .. seed + seeds − 1`` are trained at once
    (:func:`normtheory.training.stacked.train_stacked`), which returns one summary per seed.
    """
    from tqdm.auto import tqdm

    if config.seeds != 1:
        from normtheory.training.stacked import train_stacked

        return train_stacked(config, data, out_dir, resume=resume, force=force, progress=progress)

    from normtheory.normalizers import set_input_checks

    out = Path(out_dir)
    check_config(config, data)
    dev, autocast = device_and_autocast(config)
    cuda = dev.type == "cuda"
    torch.manual_seed(config.seed)
    model = build_model(config, data).to(device=dev, dtype=torch.float32)
    state = rundir.prepare(out, asdict(config), resume=resume, force=force, map_location=dev)
    ckpt_path, log = out / rundir.CHECKPOINT, JsonlLog(out / rundir.LOG)
    set_input_checks(False)  # the loop checks the loss for non-finite values instead
    if config.channels_last and cuda:
        model = model.to(memory_format=torch.channels_last)
    params_decay = [p for p in model.parameters()]
    opt = torch.optim.SGD(params_decay, lr=config.initial_lr(), momentum=config.momentum,
                          weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    start_epoch = 0
    records = rundir.restore_log(log, state)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = state["epoch"] + 1
    fwd = torch.compile(model) if config.compile else model
    x_train, y_train, x_test, y_test = device_tensors(data, dev, channels_last=config.channels_last and cuda)
    n = x_train.shape[0]
    steps_per_epoch = n // config.batch_size
    probe_x, probe_y = x_train[: min(64, n)], y_train[: min(64, n)]
    summary = {"status": "finished", **(records[-1] if records else {})}
    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen).to(dev)
        tot_loss, tot_correct, seen = 0.0, 0, 0
        probes = {}
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False)
        diverged = False
        for i in bar:
            lr = lr_at(config, epoch + i / steps_per_epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = perm[i * config.batch_size:(i + 1) * config.batch_size]
            xb = augment(x_train[idx], gen, config.flip and data.image_size >= 16, config.crop)
            with autocast():
                out_b = fwd(xb)
                loss = F.cross_entropy(out_b.float(), y_train[idx])
            if not math.isfinite(float(loss.detach())):
                diverged = True
                summary = {"status": "diverged", "epoch": epoch, "step": step}
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tot_loss += float(loss.detach()) * idx.numel()
            tot_correct += int((out_b.argmax(1) == y_train[idx]).sum())
            seen += idx.numel()
            if config.probe_every and step % config.probe_every == 0:
                probes = _probe_summary(model, probe_x, probe_y)
            if config.max_steps is not None and step >= config.max_steps:
                break
        elapsed = time.perf_counter() - t0
        if diverged:
            log.append({"epoch": epoch, "diverged": True, "step": step, "lr": lr})
            break
        test_loss, test_acc = evaluate(model, x_test, y_test, 512, autocast)
        record = {"epoch": epoch, "step": step, "lr": lr, "train_loss": tot_loss / max(seen, 1),
                  "train_acc": tot_correct / max(seen, 1), "test_loss": test_loss, "test_acc": test_acc,
                  "time_s": elapsed, "images_per_s": seen / elapsed if elapsed > 0 else float("nan"), **probes}
        log.append(record)
        records.append(record)
        atomic_save_torch(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                      "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                                      "epoch": epoch, "log": records})
        summary = {"status": "finished", **record}
        if config.max_steps is not None and step >= config.max_steps:
            break
    set_input_checks(True)
    return summary


def read_log(path) -> list[dict]:
    """The records of a ``log.jsonl`` (read only: a run may be appending to it)."""
    return JsonlLog(path).records(repair=False)


def find_max_lr(config: TrainConfig, data: ImageData, out_dir, *, lrs=None, steps: int = 60,
                force: bool = False, progress: bool = False) -> dict:
    """Largest initial LR (from a geometric grid) whose short run neither diverges nor ends
    with a training loss above the loss at init; the runs go to ``out_dir/lr_<lr>`` (which
    ``force`` overwrites)."""
    if config.seeds != 1:
        raise ValueError("find_max_lr runs one seed per LR: use seeds=1")
    lrs = sorted(lrs or [0.0125 * 2 ** k for k in range(8)], reverse=True)
    results = []
    for lr in lrs:
        cfg = TrainConfig(**{**asdict(config), "lr": lr, "epochs": 1, "max_steps": steps, "probe_every": 0})
        s = train(cfg, data, Path(out_dir) / f"lr_{lr:g}", force=force, progress=progress)
        init_loss = math.log(data.num_classes)
        stable = s["status"] == "finished" and s["train_loss"] < init_loss
        results.append({"lr": lr, "status": s["status"], "train_loss": s.get("train_loss"), "stable": stable})
        if stable:
            return {"max_stable_lr": lr, "tried": results}
    return {"max_stable_lr": None, "tried": results}


