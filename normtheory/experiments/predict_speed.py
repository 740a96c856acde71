"""Claim R5: does lower similarity at init predict faster optimization?

For each setting (normalizer, group size) and seed: build the network, measure the mean
cosine similarity between samples at its last probed layer on a training batch at init
(:func:`normtheory.probes.mean_cosine_similarity`), train ``steps`` SGD steps at a fixed
LR, and record the mean training loss over the last 10 steps. The claim predicts a
positive rank correlation between similarity at init and the loss after ``steps`` steps;
:func:`spearman` reports Spearman's rho with its p-value (scipy).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from normtheory.figures.table import read_csv, write_csv

DEFAULT_SETTINGS = [("batchnorm", None), ("layernorm", None), ("plain", None)] + \
    [("groupnorm", g) for g in (2, 4, 8, 16, 32)]


def measure(setting, *, seed, data, base_config, steps, lr=None) -> dict:
    from normtheory.probes import mean_cosine_similarity
    from normtheory.training.loop import build_model, lr_at  # noqa: F401
    import torch.nn.functional as F

    norm, g = setting
    cfg = replace(base_config, norm=norm, group_size=g, seed=seed, lr=lr or base_config.lr)
    torch.manual_seed(seed)
    model = build_model(cfg, data).float()
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(data.x_train)
    y = torch.as_tensor(data.y_train)
    idx0 = torch.randperm(x.shape[0], generator=gen)[:cfg.batch_size]
    feats = {}
    last = model.probe_points()[-1][1]
    h = last.register_forward_hook(lambda m, i, o: feats.__setitem__("x", o.detach()))
    with torch.no_grad():
        model(x[idx0])
    h.remove()
    similarity = mean_cosine_similarity(feats["x"])
    opt = torch.optim.SGD(model.parameters(), lr=cfg.initial_lr(), momentum=0.9, weight_decay=1e-4)
    losses = []
    for _ in range(steps):
        idx = torch.randperm(x.shape[0], generator=gen)[:cfg.batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        if not torch.isfinite(loss):
            losses.append(float("inf"))
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return {"norm": norm, "group_size": g, "seed": seed, "similarity_init": similarity,
            "loss_after_k": float(np.mean(losses[-10:])), "steps": steps, "lr": cfg.initial_lr()}


def read_rows(path: Path) -> list[dict]:
    """The rows of a results CSV; ``ValueError`` naming the file and line if it is damaged."""
    rows = read_csv(path)
    for number, r in enumerate(rows, start=2):
        ok = (isinstance(r.get("norm"), str) and isinstance(r.get("seed"), int) and isinstance(r.get("steps"), int)
              and (r.get("group_size") is None or isinstance(r["group_size"], int))
              and all(isinstance(r.get(k), (int, float)) for k in ("similarity_init", "loss_after_k")))
        if not ok:
            raise ValueError(f"{path}, line {number}: not a predict-speed result row; delete the file to "
                             f"start over")
        r["similarity_init"], r["loss_after_k"] = float(r["similarity_init"]), float(r["loss_after_k"])
    return rows


def spearman(rows) -> tuple[float, float]:
    from scipy.stats import spearmanr

    res = spearmanr([r["similarity_init"] for r in rows], [r["loss_after_k"] for r in rows])
    return float(res.statistic), float(res.pvalue)


def run_experiment(*, settings=None, seeds=(0, 1), steps=100, base_config=None, data=None, out=None,
                   progress=True, lrs=None) -> dict:
    """Rows of (setting, seed, similarity, loss) and Spearman's rho; the CSV ``out`` is rewritten
    (atomically) after every run and its rows of the same ``steps`` are reused on a rerun."""
    from tqdm.auto import tqdm

    from normtheory.training import TrainConfig, load_digits

    data = data or load_digits()
    base_config = base_config or TrainConfig(arch="mlp", batch_size=64, lr=0.05,
                                             mlp=dict(width=64, depth=10, nonlinearity="relu"))
    settings = settings or DEFAULT_SETTINGS
    path = Path(out) if out else None
    lr_of = {tuple(s): (lrs or {}).get(tuple(s)) or base_config.initial_lr() for s in settings}
    rows = [r for r in read_rows(path) if r["steps"] == steps and r.get("lr") == lr_of.get((r["norm"], r["group_size"]))
            ] if path and path.exists() else []
    done = {(r["norm"], r["group_size"], r["seed"]) for r in rows}
    jobs = [(s, seed) for s in settings for seed in seeds if (s[0], s[1], seed) not in done]
    for s, seed in tqdm(jobs, desc="predict-speed", disable=not progress):
        rows.append(measure(s, seed=seed, data=data, base_config=base_config, steps=steps, lr=lr_of[tuple(s)]))
        if path:
            write_csv(path, rows)
    rho, p = spearman(rows)
    return {"rows": rows, "spearman_rho": rho, "p_value": p}
