"""Claim R5: does lower similarity at init predict faster optimization?

For each setting (normalizer, group size) and seed: build the network, measure the mean
cosine similarity between samples at its last probed layer on a training batch at init
(:func:`normtheory.probes.mean_cosine_similarity`), train ``steps`` SGD steps at a fixed
LR, and record the mean training loss over the last 10 steps. The claim predicts a
positive rank correlation between similarity at init and the loss after ``steps`` steps;
:func:`spearman` reports Spearman's rho with its p-value (scipy).

Each (setting, seed, LR) training run is a task of plain data (:func:`train_run`, imported
by name on a worker of :mod:`normtheory.executors`): the setting, seed, LR, step count,
training configuration and the data set's name and fingerprint. With a
:class:`normtheory.store.ResultStore` every finished run is stored under that spec (kind
:data:`STORE_KIND`, with the normtheory and torch versions) as it arrives and never run again.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from normtheory import __version__
from normtheory.runs.executors import SerialExecutor, versions
from normtheory.runs.table import read_csv, write_csv
from normtheory.normalizers import input_checks
from normtheory.probes import mean_cosine_similarity
from normtheory.training import TrainConfig, load_digits
from normtheory.training.common import build_model
from normtheory.training.data import load_dataset

DEFAULT_SETTINGS = [("batchnorm", None), ("layernorm", None), ("plain", None)] + \
    [("groupnorm", g) for g in (2, 4, 8, 16, 32)]
#: the result-store kind of one training run (:func:`train_run`)
STORE_KIND = "experiments.predict_speed"


def measure(setting, *, seed, data, base_config, steps, lr=None) -> dict:
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
    res = spearmanr([r["similarity_init"] for r in rows], [r["loss_after_k"] for r in rows])
    return float(res.statistic), float(res.pvalue)


# --- tasks: one training run as plain data ----------------------------------------------------

#: data sets by (name, fingerprint): those given in this process, and those loaded by name on a worker
_DATA: dict = {}


def fingerprint(data) -> str:
    """SHA-256 of a data set's training arrays and class count (what a run depends on)."""
    h = hashlib.sha256()
    for a in (data.x_train, data.y_train):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    h.update(str(data.num_classes).encode())
    return h.hexdigest()


def dataset_ref(data) -> dict:
    """The plain-data name of ``data`` in a task; ``data`` is remembered in this process."""
    ref = {"name": data.name, "sha256": fingerprint(data)}
    _DATA[(ref["name"], ref["sha256"])] = data
    return ref


def _dataset(ref: dict):
    key = (ref["name"], ref["sha256"])
    if key not in _DATA:
        data = load_dataset(ref["name"])
        if fingerprint(data) != ref["sha256"]:
            raise ValueError(f"data set {ref['name']!r} loaded on this worker differs from the client's "
                             f"(fingerprint {fingerprint(data)[:12]} vs {ref['sha256'][:12]})")
        _DATA[key] = data
    return _DATA[key]


def make_task(setting, *, seed: int, lr, steps: int, base_config, data_ref: dict, checks: bool = True) -> dict:
    """One training run as plain data (what :func:`train_run` takes and the store's spec holds)."""
    norm, g = setting
    return {"setting": [norm, g], "seed": int(seed), "lr": lr, "steps": int(steps),
            "config": asdict(base_config), "dataset": dict(data_ref), "checks": bool(checks)}


def train_run(task: dict) -> dict:
    """Run the task of :func:`make_task` (:func:`measure`; input checks off where ``checks`` is false)."""
    data = _dataset(task["dataset"])
    kwargs = dict(seed=task["seed"], data=data, base_config=TrainConfig(**task["config"]), steps=task["steps"],
                  lr=task["lr"])
    if task["checks"]:
        return measure(tuple(task["setting"]), **kwargs)
    with input_checks(False):
        return measure(tuple(task["setting"]), **kwargs)


def store_spec(task: dict) -> dict:
    return {"normtheory": __version__, "torch": versions()["torch"], **task}


class TaskRunner:
    """Training runs on ``executor`` (None: serially in this process), each looked up first in
    ``store`` (None: no store) and stored there as it arrives."""

    def __init__(self, executor=None, store=None):
        self.executor = executor if executor is not None else SerialExecutor()
        self.store = store
        self.pending: dict = {}

    def stored(self, task: dict):
        if self.store is None:
            return None
        return self.store.lookup(STORE_KIND, store_spec(task))

    def submit(self, tag, task: dict) -> None:
        self.pending[tag] = task
        self.executor.submit(tag, f"{__name__}:train_run", task, warm="torch")

    def results(self):
        """``(tag, row)`` of the submitted tasks in completion order, stored as each arrives."""
        for tag, row in self.executor.results():
            task = self.pending.pop(tag)
            if self.store is not None:
                self.store.put(STORE_KIND, store_spec(task), row)
            yield tag, row


def run_experiment(*, settings=None, seeds=(0, 1), steps=100, base_config=None, data=None, out=None,
                   progress=True, lrs=None, executor=None, store=None) -> dict:
    """Rows of (setting, seed, similarity, loss) and Spearman's rho; the CSV ``out`` is rewritten
    (atomically) after every run and its rows of the same ``steps`` are reused on a rerun.
    The runs go to ``executor`` (:mod:`normtheory.executors`; None: serially here) unless
    ``store`` (a :class:`normtheory.store.ResultStore`) holds them; rows are in the order of
    ``settings`` and ``seeds`` whatever order the runs finish in."""
    data = data or load_digits()
    base_config = base_config or TrainConfig(arch="mlp", batch_size=64, lr=0.05,
                                             mlp=dict(width=64, depth=10, nonlinearity="relu"))
    settings = [tuple(s) for s in (settings or DEFAULT_SETTINGS)]
    path = Path(out) if out else None
    lr_of = {s: (lrs or {}).get(s) or base_config.initial_lr() for s in settings}
    rows = [r for r in read_rows(path) if r["steps"] == steps and r.get("lr") == lr_of.get((r["norm"], r["group_size"]))
            ] if path and path.exists() else []
    order = {(s[0], s[1], seed): i for i, (s, seed) in enumerate((s, seed) for s in settings for seed in seeds)}

    def save():
        rows.sort(key=lambda r: order.get((r["norm"], r["group_size"], r["seed"]), len(order)))
        if path:
            write_csv(path, rows)

    done = {(r["norm"], r["group_size"], r["seed"]) for r in rows}
    runner = TaskRunner(executor, store)
    ref = dataset_ref(data)
    todo = 0
    for s in settings:
        for seed in seeds:
            if (s[0], s[1], seed) in done:
                continue
            task = make_task(s, seed=seed, lr=lr_of[s], steps=steps, base_config=base_config, data_ref=ref)
            row = runner.stored(task)
            if row is not None:
                rows.append(dict(row))
            else:
                runner.submit((s[0], s[1], seed), task)
                todo += 1
    if len(rows) > len(done):
        save()
    for _, row in tqdm(runner.results(), total=todo, desc="predict-speed", disable=not progress):
        rows.append(dict(row))
        save()
    rho, p = spearman(rows)
    return {"rows": rows, "spearman_rho": rho, "p_value": p}
