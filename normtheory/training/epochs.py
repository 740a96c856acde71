"""The epoch loop that one seed (:mod:`~normtheory.training.loop`) and stacked seeds
(:mod:`~normtheory.training.stacked`) share: the LR of each step, the non-finite-loss checks
every ``check_every`` steps and at the end of each epoch
(:class:`~normtheory.training.common.LossWindow`), the probes every ``probe_every`` steps,
the running loss and accuracy, the epoch's time and the stop at ``max_steps``.

What differs -- how the data order is drawn, what one SGD step is, what a non-finite loss
stops and what a finished epoch writes -- are the hooks of :class:`EpochLoop`, which the two
runs implement.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import torch
from tqdm.auto import tqdm

from normtheory.training.common import LossWindow, TrainConfig, set_lr
from normtheory.training.schedule import lr_at


class EpochLoop(ABC):
    """A training run's epochs; :meth:`run` calls the hooks below.

    A subclass sets ``config``, ``opt`` (the optimizer whose LR follows the schedule),
    ``device``, ``start_epoch`` (the epoch after a resumed checkpoint's), ``steps_per_epoch``,
    ``shape`` (of a step's losses: ``()`` for one seed, ``(S,)`` for ``S`` stacked seeds) and
    ``bar_note`` (after the epoch in the progress bar).
    """

    config: TrainConfig
    opt: torch.optim.Optimizer
    device: torch.device
    start_epoch: int = 0
    steps_per_epoch: int
    shape: tuple = ()
    bar_note: str = ""

    @abstractmethod
    def training(self) -> bool:
        """Whether some seed has not diverged."""

    @abstractmethod
    def shuffle(self) -> None:
        """Draw the epoch's data order (before its first step)."""

    @abstractmethod
    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the epoch's ``i``-th batch: the losses and correct counts (``shape``),
        on the device."""

    @abstractmethod
    def check(self, values: torch.Tensor, finite: torch.Tensor, steps: list, epoch: int) -> torch.Tensor:
        """Record the seeds whose loss in a flushed window (:meth:`LossWindow.flush`) is not
        finite as diverged; returns the window's loss sum to count (``shape``, on the CPU)."""

    @abstractmethod
    def probe(self) -> dict:
        """The probe statistics of the current network(s)."""

    @abstractmethod
    def end_epoch(self, epoch: int, *, step: int, lr: float, seen: int, elapsed: float, loss: torch.Tensor,
                  correct: torch.Tensor, probes: dict) -> None:
        """Evaluate, log and checkpoint a finished epoch: ``seen`` images per seed, their summed
        ``loss`` (CPU) and ``correct`` count (device), the last ``probes``."""

    def run(self, *, progress: bool) -> None:
        """Train from ``start_epoch`` until the last epoch, ``max_steps``, or every seed has diverged."""
        config, B, per_epoch = self.config, self.config.batch_size, self.steps_per_epoch
        step = self.start_epoch * per_epoch
        window = LossWindow()
        for epoch in range(self.start_epoch, config.epochs):
            if not self.training():
                break
            t0 = time.perf_counter()
            self.shuffle()
            tot_loss = torch.zeros(self.shape, dtype=torch.float64)
            tot_correct = torch.zeros(self.shape, dtype=torch.int64, device=self.device)
            seen, probes = 0, {}
            bar = tqdm(range(per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}{self.bar_note}",
                       disable=not progress, leave=False)
            for i in bar:
                lr = lr_at(config, epoch + i / per_epoch)
                set_lr(self.opt, lr)
                loss, correct = self.step(i)
                window.add(loss, step, lr)
                step += 1
                tot_correct += correct
                seen += B
                last = i == per_epoch - 1 or (config.max_steps is not None and step >= config.max_steps)
                if len(window) >= config.check_every or last:
                    tot_loss += self.check(*window.flush(), epoch) * B
                    if not self.training():
                        break
                if config.probe_every and step % config.probe_every == 0:
                    probes = self.probe()
                if last:
                    break
            elapsed = time.perf_counter() - t0
            if not self.training():
                break
            self.end_epoch(epoch, step=step, lr=lr, seen=seen, elapsed=elapsed, loss=tot_loss, correct=tot_correct,
                           probes=probes)
            if config.max_steps is not None and step >= config.max_steps:
                break
