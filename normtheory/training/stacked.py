"""Several seeds of one configuration trained at once: the models stacked along a new first
axis and run with ``torch.func.vmap`` (one kernel launch per layer for all seeds), which fills a
GPU better than one small model does.

Seed ``s`` of a stacked run is the single run with ``seed=s``: the same initialization
(``torch.manual_seed(s)`` before the network is built), the same data order and augmentation
(a generator seeded with ``s`` per seed), the same SGD (momentum, weight decay and the LR
schedule act elementwise, so one optimizer over the stacked tensors is one per seed). Only
the summation order of the batched kernels differs, so the numbers agree to float rounding.

A seed whose loss turns non-finite is recorded as diverged and frozen (its gradient is
zeroed from then on); the others go on. The run stops when every seed has diverged.

Outputs in ``out_dir``: ``config.json`` (with ``seeds``), ``checkpoint.pt`` (the stacked
parameters, buffers, optimizer and RNG states and every seed's log records, after every
epoch), and per seed a folder
``seed_<s>/`` with its own ``config.json`` and ``log.jsonl`` in the format of a single run,
so every tool that reads single runs (``normtheory figures --only training_curves``) reads
these too. ``resume=True`` continues from the checkpoint, under the rules of
:mod:`normtheory.training.rundir`. channels_last is not used here
(the stacked weights are 5-D); bf16 autocast and ``torch.compile`` are.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from normtheory.durable import JsonlLog, atomic_save_torch, atomic_write_json
from normtheory.normalizers import input_checks
from normtheory.training import rundir
from normtheory.training.common import (TrainConfig, augment, build_model, check_config, defaults, device_and_autocast,
                                        device_tensors, flips, probe_summary, saved_config)
from normtheory.training.data import ImageData
from normtheory.training.epochs import EpochLoop


def seed_list(config: TrainConfig) -> list[int]:
    """The seeds a run with ``config.seeds`` trains: ``seed, seed + 1, ...``."""
    if not isinstance(config.seeds, int) or config.seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {config.seeds!r}")
    return [config.seed + k for k in range(config.seeds)]


def seed_dir(out_dir, seed: int) -> Path:
    """The folder of one seed's log and config inside a stacked run's ``out_dir``."""
    return Path(out_dir) / f"seed_{seed}"


class StackedModels:
    """``len(seeds)`` networks of one configuration as stacked parameter and buffer tensors
    (leading axis: the seed) and a parameter-free template that ``vmap`` calls."""

    def __init__(self, config: TrainConfig, data: ImageData, seeds, device):
        models = []
        for s in seeds:
            torch.manual_seed(s)
            models.append(build_model(config, data).to(device=device, dtype=torch.float32))
        self.params, self.buffers = stack_module_state(models)
        self.template = copy.deepcopy(models[0]).to("meta")
        self._scratch = models[0]  # a real module, reloaded with one seed's tensors

    def _call(self, params, buffers, x):
        return functional_call(self.template, (params, buffers), (x,))

    def forward(self, x: torch.Tensor, *, shared: bool) -> torch.Tensor:
        """Logits ``(S, B, K)``; ``x`` is ``(S, B, ...)`` (one batch per seed) or, with
        ``shared``, one batch ``(B, ...)`` seen by every seed."""
        return vmap(self._call, in_dims=(0, 0, None if shared else 0), randomness="different")(
            self.params, self.buffers, x)

    def train(self, mode: bool = True) -> None:
        self.template.train(mode)

    def seed_model(self, k: int) -> torch.nn.Module:
        """Seed ``k``'s network as an ordinary module (a copy of its current tensors)."""
        state = {name: t[k].detach() for name, t in {**self.params, **self.buffers}.items()}
        self._scratch.load_state_dict(state)
        return self._scratch

    def state(self) -> dict:
        return {"params": {k: v.detach() for k, v in self.params.items()}, "buffers": dict(self.buffers)}

    def load(self, state: dict) -> None:
        with torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v)
            for k, v in state["buffers"].items():
                self.buffers[k].copy_(v)


def evaluate_stacked(models: StackedModels, x, y, batch_size: int, autocast) -> tuple[list, list]:
    """Per seed, the mean test loss and accuracy (every seed sees the same test batches)."""
    models.train(False)
    loss = torch.zeros(len(next(iter(models.params.values()))), dtype=torch.float64, device=x.device)
    correct = torch.zeros_like(loss)
    with torch.no_grad(), autocast():
        for i in range(0, x.shape[0], batch_size):
            out = models.forward(x[i:i + batch_size], shared=True).float()
            yb = y[i:i + batch_size].expand(out.shape[0], -1)
            loss += F.cross_entropy(out.flatten(0, 1), yb.flatten(), reduction="none").view(yb.shape).sum(1).double()
            correct += (out.argmax(-1) == yb).sum(1)
    models.train(True)
    n = x.shape[0]
    return (loss / n).cpu().tolist(), (correct / n).cpu().tolist()


def stacked_step(fwd, opt, params, xb, yb, alive, autocast):
    """One SGD step of every seed on its batch ``xb[k]``; a seed whose loss is not finite, or
    that is not ``alive`` (a device mask), gets a zero gradient. Returns the per-seed losses,
    correct counts and the updated mask, all on the device (nothing is read back)."""
    S, B = yb.shape
    with autocast():
        logits = fwd(xb, shared=False).float()
        losses = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(S, B).mean(1)
    alive = alive & torch.isfinite(losses.detach())
    opt.zero_grad(set_to_none=True)
    torch.where(alive, losses, 0.0).sum().backward()
    with torch.no_grad():
        for p in params:  # a diverged seed's NaN gradient must not move its tensors
            p.grad.copy_(torch.where(alive.view(-1, *([1] * (p.dim() - 1))), p.grad, 0.0))
    opt.step()
    return losses.detach(), (logits.detach().argmax(-1) == yb).sum(1), alive


def train_stacked(config: TrainConfig, data: ImageData, out_dir, *, resume: bool = False, force: bool = False,
                  progress: bool = True) -> dict:
    """Train seeds ``config.seed .. config.seed + config.seeds − 1`` at once; returns
    ``{"status", "seeds": {seed: summary}}`` (status "finished" if any seed finished)."""
    with input_checks(False):  # the loop checks the losses for non-finite values instead
        trainer = StackedSeeds(config, data, Path(out_dir), resume=resume, force=force)
        trainer.run(progress=progress)
    status = "finished" if any(v["status"] == "finished" for v in trainer.summaries.values()) else "diverged"
    return {"status": status, "seeds": trainer.summaries}


class StackedSeeds(EpochLoop):
    """The seeds of ``config`` trained at once in ``out``: the stacked networks, one optimizer,
    a data order per seed, a log per seed and one checkpoint (resumed from it under the rules
    of :mod:`normtheory.training.rundir`)."""

    def __init__(self, config: TrainConfig, data: ImageData, out: Path, *, resume: bool, force: bool):
        self.seeds = seeds = seed_list(config)
        check_config(config, data)
        self.config = config
        dev, self.autocast = device_and_autocast(config)
        self.models = models = StackedModels(config, data, seeds, dev)
        state = rundir.prepare(out, saved_config(config), resume=resume, force=force, defaults=defaults())
        self.ckpt_path = out / rundir.CHECKPOINT
        self.params = list(models.params.values())
        self.opt = torch.optim.SGD(self.params, lr=config.initial_lr(), momentum=config.momentum,
                                   weight_decay=config.weight_decay)
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.active = torch.ones(len(seeds), dtype=torch.bool)  # on the CPU, for the bookkeeping
        self.summaries = {s: {"status": "finished"} for s in seeds}
        self.logs = {s: JsonlLog(seed_dir(out, s) / rundir.LOG) for s in seeds}
        for s in seeds:
            atomic_write_json(seed_dir(out, s) / rundir.CONFIG, saved_config(replace(config, seed=s, seeds=1)))
        self.records = {s: rundir.restore_log(self.logs[s], state, s) for s in seeds}
        self.start_epoch = 0
        if state is not None:  # loaded on the CPU (RNG states must be CPU byte tensors)
            models.load(state["models"])
            self.opt.load_state_dict(state["optimizer"])
            for g, g_state in zip(self.gens, state["generators"]):
                g.set_state(g_state)
            torch.set_rng_state(state["torch_rng"])
            self.active = state["active"].to("cpu", torch.bool).clone()
            self.summaries = {int(k): v for k, v in state["summaries"].items()}
            self.start_epoch = state["epoch"] + 1
        self.device = dev
        self.fwd = torch.compile(models.forward) if config.compile else models.forward
        self.x_train, self.y_train, self.x_test, self.y_test = device_tensors(data, dev)
        n = self.x_train.shape[0]
        self.steps_per_epoch = n // config.batch_size
        self.flip = flips(config, data)
        self.probe_x, self.probe_y = self.x_train[: min(64, n)], self.y_train[: min(64, n)]
        self.shape, self.bar_note = (len(seeds),), f" ({len(seeds)} seeds)"

    def training(self) -> bool:
        return bool(self.active.any())

    def shuffle(self) -> None:
        self.alive = self.active.to(self.device)
        self.perms = [torch.randperm(self.x_train.shape[0], generator=g).to(self.device) for g in self.gens]

    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        B = self.config.batch_size
        idx = [p[i * B:(i + 1) * B] for p in self.perms]
        xb = torch.stack([augment(self.x_train[j], g, self.flip, self.config.crop) for j, g in zip(idx, self.gens)])
        yb = torch.stack([self.y_train[j] for j in idx])
        losses, correct, self.alive = stacked_step(self.fwd, self.opt, self.params, xb, yb, self.alive,
                                                   self.autocast)
        return losses, correct

    def check(self, values: torch.Tensor, finite: torch.Tensor, steps: list, epoch: int) -> torch.Tensor:
        """Seeds with a non-finite loss are recorded as diverged (at their first such step)
        and leave ``active``; the others go on."""
        for k in torch.nonzero(self.active & ~finite.all(0)).flatten().tolist():
            bad_step, bad_lr = steps[int((~finite[:, k]).nonzero()[0, 0])]
            self.summaries[self.seeds[k]] = {"status": "diverged", "epoch": epoch, "step": bad_step}
            record = {"epoch": epoch, "diverged": True, "step": bad_step, "lr": bad_lr}
            self.logs[self.seeds[k]].append(record)
            self.records[self.seeds[k]].append(record)
        self.active.logical_and_(finite.all(0))
        return torch.where(finite, values, 0.0).sum(0)

    def probe(self) -> dict:
        return {k: probe_summary(self.models.seed_model(k), self.probe_x, self.probe_y)
                for k in torch.nonzero(self.active).flatten().tolist()}

    def end_epoch(self, epoch: int, *, step: int, lr: float, seen: int, elapsed: float, loss: torch.Tensor,
                  correct: torch.Tensor, probes: dict) -> None:
        S = len(self.seeds)
        test_loss, test_acc = evaluate_stacked(self.models, self.x_test, self.y_test, 512, self.autocast)
        correct_host = correct.cpu()
        for k in torch.nonzero(self.active).flatten().tolist():
            record = {"epoch": epoch, "step": step, "lr": lr, "train_loss": float(loss[k]) / max(seen, 1),
                      "train_acc": int(correct_host[k]) / max(seen, 1), "test_loss": test_loss[k],
                      "test_acc": test_acc[k], "time_s": elapsed,
                      "images_per_s": S * seen / elapsed if elapsed > 0 else float("nan"),
                      "stacked_seeds": S, **probes.get(k, {})}
            self.logs[self.seeds[k]].append(record)
            self.records[self.seeds[k]].append(record)
            self.summaries[self.seeds[k]] = {"status": "finished", **record}
        atomic_save_torch(self.ckpt_path, {"models": self.models.state(), "optimizer": self.opt.state_dict(),
                                           "generators": [g.get_state() for g in self.gens],
                                           "torch_rng": torch.get_rng_state(), "active": self.active.clone(),
                                           "summaries": self.summaries, "epoch": epoch, "log": self.records})
