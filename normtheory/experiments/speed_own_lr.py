"""Claim R5 with stability taken out of the comparison: each setting trained at its own
largest stable LR, and the rank correlation reported with its uncertainty.

At one shared LR some settings (GN with g = 2 and 4 in the default MLP) do not train at
all, so their "loss after K steps" measures stability, not speed. Here each setting's LR is
the largest on ``grid`` whose K-step run of seed 0 stays finite and ends below the loss at
init, ``log(classes)``; the seeds are then measured at that LR
(:func:`normtheory.experiments.predict_speed.run_experiment`). Spearman's rho over all
(setting, seed) rows comes with two 95% intervals: a bootstrap over seeds (each setting's
seeds resampled with replacement, 2000 replicates, percentiles) and Fisher's z with the
Fieller-Hartley-Pearson variance 1.06 / (n − 3).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from normtheory.experiments.predict_speed import (DEFAULT_SETTINGS, TaskRunner, dataset_ref, make_task, measure,
                                                  run_experiment)
from normtheory.normalizers import input_checks
from normtheory.training import TrainConfig, load_digits

GRID = (0.8, 0.4, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625)


def max_stable_lr(setting, *, data, base_config, steps: int, grid=GRID) -> float | None:
    for lr in sorted(grid, reverse=True):
        with input_checks(False):  # a diverging run ends at its first non-finite loss instead
            row = measure(setting, seed=0, data=data, base_config=replace(base_config, lr=lr), steps=steps)
        if math.isfinite(row["loss_after_k"]) and row["loss_after_k"] < math.log(data.num_classes):
            return lr
    return None


def spearman_intervals(rows, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Spearman's rho of (similarity at init, loss after K) with a bootstrap-over-seeds and a
    Fisher-z 95% interval."""
    x = np.array([r["similarity_init"] for r in rows])
    y = np.array([r["loss_after_k"] for r in rows])
    rho = float(spearmanr(x, y).statistic)
    groups = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["norm"], r["group_size"]), []).append(i)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(members, size=len(members)) for members in groups.values()])
        value = spearmanr(x[idx], y[idx]).statistic
        if np.isfinite(value):
            boots.append(value)
    n = len(rows)
    se = math.sqrt(1.06 / (n - 3)) if n > 3 else math.inf
    z = math.atanh(max(min(rho, 0.999999), -0.999999))
    return {"spearman_rho": rho, "n": n, "bootstrap_95": [float(np.percentile(boots, 2.5)),
                                                         float(np.percentile(boots, 97.5))],
            "fisher_z_95": [math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)]}


def stable_lrs(settings, *, data, base_config, steps: int, grid=GRID, runner=None, progress=False) -> dict:
    """:func:`max_stable_lr` of every setting at once: each setting's next LR on ``grid`` is
    submitted to ``runner`` (a :class:`normtheory.experiments.predict_speed.TaskRunner`;
    None: serially here) when its previous one turns out unstable; stored runs are reused."""
    runner = runner or TaskRunner()
    ref, limit = dataset_ref(data), math.log(data.num_classes)
    lrs = sorted(grid, reverse=True)
    found: dict = {}
    bar = tqdm(desc="LR search", disable=not progress)

    def advance(s, i):
        """Try ``lrs[i:]`` of setting ``s`` from the store until one must be run (submitted)."""
        while i < len(lrs):
            task = make_task(s, seed=0, lr=lrs[i], steps=steps, base_config=base_config, data_ref=ref, checks=False)
            row = runner.stored(task)
            if row is None:
                runner.submit((s, i), task)
                return
            if math.isfinite(row["loss_after_k"]) and row["loss_after_k"] < limit:
                found[s] = lrs[i]
                return
            i += 1
        found[s] = None

    for s in settings:
        advance(s, 0)
    for (s, i), row in runner.results():
        bar.update(1)
        if math.isfinite(row["loss_after_k"]) and row["loss_after_k"] < limit:
            found[s] = lrs[i]
        else:
            advance(s, i + 1)
    bar.close()
    return {s: found[s] for s in settings}


def run_own_lr(*, settings=None, seeds=(0, 1, 2, 3, 4), steps=100, base_config=None, data=None, out=None,
               grid=GRID, progress=True, executor=None, store=None) -> dict:
    """Search each setting's largest stable LR, measure every seed there, and correlate.
    Settings with no stable LR on the grid are left out (and listed). The runs go to
    ``executor`` (None: serially here) unless ``store`` holds them (see :func:`run_experiment`)."""
    data = data or load_digits()
    base_config = base_config or TrainConfig(arch="mlp", batch_size=64, lr=0.05,
                                             mlp=dict(width=64, depth=10, nonlinearity="relu"))
    settings = [tuple(s) for s in (settings or DEFAULT_SETTINGS)]
    lrs = stable_lrs(settings, data=data, base_config=base_config, steps=steps, grid=grid,
                     runner=TaskRunner(executor, store), progress=progress)
    usable = [s for s in settings if lrs[s] is not None]
    res = run_experiment(settings=usable, seeds=seeds, steps=steps, base_config=base_config, data=data, out=out,
                         progress=progress, lrs=lrs, executor=executor, store=store)
    return {**res, **spearman_intervals(res["rows"]), "lrs": {f"{n}|{g}": lr for (n, g), lr in lrs.items()},
            "unstable": [f"{n}|{g}" for (n, g) in settings if lrs[(n, g)] is None]}
