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
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from normtheory.durable import JsonlLog, atomic_save_torch, atomic_write_json, read_json
from normtheory.training import rundir, schedule
from normtheory.training.common import (LossWindow, TrainConfig, augment, build_model, check_config, check_numbers,
                                        defaults, device_and_autocast, device_tensors, flips, probe_summary,
                                        saved_config, set_lr)
from normtheory.training.data import ImageData
from normtheory.training.schedule import lr_at

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
        from normtheory.training.stacked import train_stacked

        return train_stacked(config, data, out_dir, resume=resume, force=force, progress=progress)

    from normtheory.normalizers import input_checks

    with input_checks(False):  # the loop checks the loss for non-finite values instead
        return _train_single(config, data, Path(out_dir), resume=resume, force=force, progress=progress)


def _train_single(config: TrainConfig, data: ImageData, out: Path, *, resume: bool, force: bool,
                  progress: bool) -> dict:
    from tqdm.auto import tqdm

    check_config(config, data)
    dev, autocast = device_and_autocast(config)
    cuda = dev.type == "cuda"
    torch.manual_seed(config.seed)
    model = build_model(config, data).to(device=dev, dtype=torch.float32)
    state = rundir.prepare(out, saved_config(config), resume=resume, force=force, defaults=defaults())
    ckpt_path, log = out / rundir.CHECKPOINT, JsonlLog(out / rundir.LOG)
    if config.channels_last and cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=config.initial_lr(), momentum=config.momentum,
                          weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    start_epoch = 0
    records = rundir.restore_log(log, state)
    if state is not None:  # loaded on the CPU; the model and optimizer states move to dev here
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = state["epoch"] + 1
    fwd = torch.compile(model) if config.compile else model
    x_train, y_train, x_test, y_test = device_tensors(data, dev, channels_last=config.channels_last and cuda)
    n, B = x_train.shape[0], config.batch_size
    steps_per_epoch = n // B
    flip = flips(config, data)
    probe_x, probe_y = x_train[: min(64, n)], y_train[: min(64, n)]
    summary = {"status": "finished", **(records[-1] if records else {})}
    step = start_epoch * steps_per_epoch
    window = LossWindow()
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen).to(dev)
        tot_loss = torch.zeros((), dtype=torch.float64)
        tot_correct = torch.zeros((), dtype=torch.int64, device=dev)
        seen, probes, bad = 0, {}, None
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False)
        for i in bar:
            lr = lr_at(config, epoch + i / steps_per_epoch)
            set_lr(opt, lr)
            idx = perm[i * B:(i + 1) * B]
            loss, correct = sgd_step(fwd, opt, augment(x_train[idx], gen, flip, config.crop), y_train[idx],
                                     autocast)
            window.add(loss, step, lr)
            step += 1
            tot_correct += correct
            seen += B
            last = i == steps_per_epoch - 1 or (config.max_steps is not None and step >= config.max_steps)
            if len(window) >= config.check_every or last:
                values, finite, steps = window.flush()
                if not bool(finite.all()):
                    bad = steps[int((~finite).nonzero()[0, 0])]
                    break
                tot_loss += values.sum() * B
            if config.probe_every and step % config.probe_every == 0:
                probes = probe_summary(model, probe_x, probe_y)
            if last:
                break
        elapsed = time.perf_counter() - t0
        if bad is not None:
            bad_step, bad_lr = bad
            summary = {"status": "diverged", "epoch": epoch, "step": bad_step}
            log.append({"epoch": epoch, "diverged": True, "step": bad_step, "lr": bad_lr})
            break
        test_loss, test_acc = evaluate(model, x_test, y_test, 512, autocast)
        record = {"epoch": epoch, "step": step, "lr": lr, "train_loss": float(tot_loss) / max(seen, 1),
                  "train_acc": int(tot_correct) / max(seen, 1), "test_loss": test_loss, "test_acc": test_acc,
                  "time_s": elapsed, "images_per_s": seen / elapsed if elapsed > 0 else float("nan"), **probes}
        log.append(record)
        records.append(record)
        atomic_save_torch(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                      "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                                      "epoch": epoch, "log": records})
        summary = {"status": "finished", **record}
        if config.max_steps is not None and step >= config.max_steps:
            break
    return summary


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
