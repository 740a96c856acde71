"""Training loop: SGD under one of two protocols, divergence detection, logs, checkpoints, resume.

SGD with momentum 0.9 and weight decay 1e-4 under the ``linear`` protocol (initial LR
``init_lr · 0.1 · B / 256``, ÷10 at 50% and 75% of the epochs) or the authors' ``paper``
protocol (``init_lr · 0.1 · 256 / B``, one ÷10 at 75% of the iterations after the warm-up),
see :mod:`normtheory.training.schedule`. Data lives on the training device as one tensor;
random flips (and, with ``crop``, 4-pixel-padded random crops) are applied there per batch.
On CUDA: bf16 autocast and channels_last, optionally ``torch.compile``. A step reads nothing
back from the device: the losses are checked for non-finite values every ``check_every``
steps and at the end of each epoch (:class:`~normtheory.training.common.LossWindow`), and
the step of the first non-finite loss is recorded.

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
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from normtheory.durable import JsonlLog, atomic_save_torch, atomic_write_json, read_json
from normtheory.normalizers import input_checks
from normtheory.training import rundir, schedule
from normtheory.training.common import (TrainConfig, augment, build_model, check_config, check_numbers, defaults,
                                        device_and_autocast, device_tensors, flips, probe_summary, saved_config)
from normtheory.training.data import ImageData
from normtheory.training.epochs import EpochLoop
from normtheory.training.schedule import lr_at
from normtheory.training.stacked import train_stacked

__all__ = ["TrainConfig", "build_model", "check_numbers", "evaluate", "find_max_lr", "lr_at", "read_log",
           "sgd_step", "train"]


def sgd_step(fwd, opt, xb: torch.Tensor, yb: torch.Tensor, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on ``(xb, yb)``; returns the loss and the number of correct predictions
    as device tensors (nothing is copied to the host)."""
    with autocast():
        out = fwd(xb)
        loss = F.cross_entropy(out.float(), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), (out.detach().argmax(1) == yb).sum()


def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int, autocast) -> tuple[float, float]:
    """Mean test loss and accuracy (summed on the device, read back once)."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    with torch.no_grad(), autocast():
        for i in range(0, x.shape[0], batch_size):
            out = model(x[i:i + batch_size]).float()
            total += F.cross_entropy(out, y[i:i + batch_size], reduction="sum").double()
            correct += (out.argmax(1) == y[i:i + batch_size]).sum()
    model.train()
    n = x.shape[0]
    return float(total) / n, int(correct) / n


def train(config: TrainConfig, data: ImageData, out_dir, *, resume: bool = False, force: bool = False,
          progress: bool = True) -> dict:
    """Train ``config`` on ``data``; returns a summary (also the last line of the log).

    With ``config.seeds > 1`` the seeds ``seed .. seed + seeds − 1`` are trained at once
    (:func:`normtheory.training.stacked.train_stacked`), which returns one summary per seed.
    """
    if config.seeds != 1:
        return train_stacked(config, data, out_dir, resume=resume, force=force, progress=progress)
    with input_checks(False):  # the loop checks the loss for non-finite values instead
        trainer = OneSeed(config, data, Path(out_dir), resume=resume, force=force)
        trainer.run(progress=progress)
    return trainer.summary


class OneSeed(EpochLoop):
    """One seed's run in ``out``: its network, optimizer, data order, log and checkpoint
    (resumed from the checkpoint under the rules of :mod:`normtheory.training.rundir`)."""

    def __init__(self, config: TrainConfig, data: ImageData, out: Path, *, resume: bool, force: bool):
        check_config(config, data)
        self.config = config
        dev, self.autocast = device_and_autocast(config)
        cuda = dev.type == "cuda"
        torch.manual_seed(config.seed)
        model = build_model(config, data).to(device=dev, dtype=torch.float32)
        state = rundir.prepare(out, saved_config(config), resume=resume, force=force, defaults=defaults())
        self.ckpt_path, self.log = out / rundir.CHECKPOINT, JsonlLog(out / rundir.LOG)
        if config.channels_last and cuda:
            model = model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(model.parameters(), lr=config.initial_lr(), momentum=config.momentum,
                                   weight_decay=config.weight_decay)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.start_epoch = 0
        self.records = rundir.restore_log(self.log, state)
        if state is not None:  # loaded on the CPU; the model and optimizer states move to dev here
            model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.gen.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            self.start_epoch = state["epoch"] + 1
        self.model, self.device = model, dev
        self.fwd = torch.compile(model) if config.compile else model
        self.x_train, self.y_train, self.x_test, self.y_test = device_tensors(
            data, dev, channels_last=config.channels_last and cuda)
        n = self.x_train.shape[0]
        self.steps_per_epoch = n // config.batch_size
        self.flip = flips(config, data)
        self.probe_x, self.probe_y = self.x_train[: min(64, n)], self.y_train[: min(64, n)]
        self.summary = {"status": "finished", **(self.records[-1] if self.records else {})}
        self.diverged = False

    def training(self) -> bool:
        return not self.diverged

    def shuffle(self) -> None:
        self.perm = torch.randperm(self.x_train.shape[0], generator=self.gen).to(self.device)

    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        B = self.config.batch_size
        idx = self.perm[i * B:(i + 1) * B]
        return sgd_step(self.fwd, self.opt, augment(self.x_train[idx], self.gen, self.flip, self.config.crop),
                        self.y_train[idx], self.autocast)

    def check(self, values: torch.Tensor, finite: torch.Tensor, steps: list, epoch: int) -> torch.Tensor:
        if not bool(finite.all()):  # the run stops, recorded as diverged at its first non-finite loss
            bad_step, bad_lr = steps[int((~finite).nonzero()[0, 0])]
            self.diverged = True
            self.summary = {"status": "diverged", "epoch": epoch, "step": bad_step}
            self.log.append({"epoch": epoch, "diverged": True, "step": bad_step, "lr": bad_lr})
        return values.sum()

    def probe(self) -> dict:
        return probe_summary(self.model, self.probe_x, self.probe_y)

    def end_epoch(self, epoch: int, *, step: int, lr: float, seen: int, elapsed: float, loss: torch.Tensor,
                  correct: torch.Tensor, probes: dict) -> None:
        test_loss, test_acc = evaluate(self.model, self.x_test, self.y_test, 512, self.autocast)
        record = {"epoch": epoch, "step": step, "lr": lr, "train_loss": float(loss) / max(seen, 1),
                  "train_acc": int(correct) / max(seen, 1), "test_loss": test_loss, "test_acc": test_acc,
                  "time_s": elapsed, "images_per_s": seen / elapsed if elapsed > 0 else float("nan"), **probes}
        self.log.append(record)
        self.records.append(record)
        atomic_save_torch(self.ckpt_path, {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                                           "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                                           "epoch": epoch, "log": self.records})
        self.summary = {"status": "finished", **record}


def read_log(path) -> list[dict]:
    """The records of a ``log.jsonl`` (read only: a run may be appending to it)."""
    return JsonlLog(path).records(repair=False)


SEARCH = "find_max_lr.json"  # marks a folder of LR-search runs (the figures leave them out)


def search_grid(config: TrainConfig) -> tuple[str, tuple[float, ...]]:
    """The field the LR search varies and its default grid, largest first: ``init_lr`` on
    :data:`~normtheory.training.schedule.PAPER_INIT_LR_GRID` under the paper's protocol,
    the absolute ``lr`` on :data:`~normtheory.training.schedule.LINEAR_LR_GRID` otherwise."""
    if config.protocol == "paper":
        return "init_lr", schedule.PAPER_INIT_LR_GRID
    return "lr", schedule.LINEAR_LR_GRID


def find_max_lr(config: TrainConfig, data: ImageData, out_dir, *, lrs=None, steps: int = 60,
                force: bool = False, progress: bool = False) -> dict:
    """Largest initial LR on the grid whose first ``steps`` steps (under the run's own
    schedule, warm-up included) neither diverge nor end with a mean training loss (of the
    last epoch begun) above the loss at init, ``log(classes)``.

    The grid (``lrs``, default :func:`search_grid`) holds ``init_lr`` multipliers under the
    paper's protocol and absolute LRs otherwise. Each run goes to ``out_dir/<field>_<value>``
    (its log and config; the checkpoint is deleted once judged) and each verdict into
    ``out_dir/find_max_lr.json``, so a search cut short continues where
    it stopped (a run without a verdict is started over); a record of another configuration
    is refused unless ``force``. Returns ``{"max_stable_lr", "<field>", "tried"}``.
    """
    if config.seeds != 1:
        raise ValueError("find_max_lr runs one seed per LR: use seeds=1")
    key, grid = search_grid(config)
    values = sorted(lrs or grid, reverse=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    probe = replace(config, lr=None, init_lr=1.0, max_steps=steps, probe_every=0)
    ident = {**asdict(probe), "steps": steps}
    record_path = out / SEARCH
    tried = {}
    if record_path.exists() and not force:
        saved = read_json(record_path, hint="delete it or pass --force to search again")
        if not isinstance(saved, dict) or saved.get("search") != ident:
            changes = rundir.config_changes(saved.get("search", {}) if isinstance(saved, dict) else {}, ident)
            raise ValueError(f"{out} holds an LR search of another configuration ({'; '.join(changes)}); "
                             f"use another folder, or force to search again")
        tried = {float(t[key]): t for t in saved["tried"]}
    results = []
    best = None
    for value in values:
        if value not in tried:
            cfg = replace(probe, **{key: value})
            s = train(cfg, data, out / f"{key}_{value:g}", force=True, progress=progress)
            (out / f"{key}_{value:g}" / rundir.CHECKPOINT).unlink(missing_ok=True)  # only the verdict is kept
            stable = s["status"] == "finished" and s["train_loss"] < math.log(data.num_classes)
            tried[value] = {key: value, "lr": cfg.initial_lr(), "status": s["status"],
                            "train_loss": s.get("train_loss"), "stable": stable}
            atomic_write_json(record_path, {"search": ident, "tried": list(tried.values())})
        results.append(tried[value])
        if tried[value]["stable"]:
            best = tried[value]
            break
    return {"max_stable_lr": best["lr"] if best else None, key: best[key] if best else None, "tried": results}
