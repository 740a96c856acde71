"""Claim T1 / the paper's Figure 1 in one command: train the grid, then draw it.

Grid: normalizers × {vgg10, vgg20, resnet56, resnet56 with SkipInit} × batch {256, 16} ×
seeds, under the authors' protocol (:mod:`normtheory.training.schedule`, ``paper``), each
(normalizer, network, batch) at its largest stable initial LR: ``init_lr`` searched on the
grid 1, 0.5, 0.2, ..., 0.01 with short runs of seed 0 (:func:`~normtheory.training.find_max_lr`;
FRN's runs include its warm-up, 5 epochs at batch 256 and 1 at batch 16, scaled with
``epochs`` when that is shrunk). If no grid value is stable the smallest is used, so that the
figure shows the divergence.

Layout under ``out``: ``<panel>/<norm>/b<B>/lr_search/`` (the search, resumable; the figures
leave it out) and ``<panel>/<norm>/b<B>/seed_<s>/`` per run (``config.json``, ``log.jsonl``,
``checkpoint.pt`` as :func:`normtheory.training.train` writes them, then ``summary.json``
when it has finished or diverged, and the checkpoint is deleted: a full grid of VGG
checkpoints would not fit a 64 GB disk). Resumable: a run with ``summary.json`` is never
retrained, a run cut short continues from its checkpoint, a search from its record.
``normtheory figures --only training_curves --runs OUT`` draws the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from normtheory import training
from normtheory.durable import atomic_write_json, read_json
from normtheory.normalizers import check_name
from normtheory.training import TrainConfig, find_max_lr, schedule
from normtheory.training.data import load_dataset, write_synthetic_cifar100

PANELS = {"vgg10": ("vgg10", False), "vgg20": ("vgg20", False), "resnet56": ("resnet56", False),
          "resnet56_skipinit": ("resnet56", True)}
NORMS = ("batchnorm", "layernorm", "instancenorm", "groupnorm", "frn", "variancenorm", "evonorm_b0",
         "evonorm_s0", "weightnorm", "sws")
WARMUP_NORMS = ("frn",)  # the authors' code warms up for Filter Response Normalization only
BATCHES = (256, 16)
SUMMARY = "summary.json"


@dataclass(frozen=True)
class Setting:
    norm: str
    panel: str
    batch: int

    def folder(self, out) -> Path:
        return Path(out) / self.panel / self.norm / f"b{self.batch}"


def base_config(setting: Setting, *, epochs=None, max_steps=None, device="auto"):
    """The paper-protocol :class:`~normtheory.training.TrainConfig` of a setting (seed 0, LR unset)."""
    arch, skipinit = PANELS[setting.panel]
    full = schedule.default_epochs("paper", setting.batch)
    epochs = epochs or full
    warmup = schedule.paper_warmup_epochs(setting.batch) * epochs / full if setting.norm in WARMUP_NORMS else 0.0
    return TrainConfig(arch=arch, norm=setting.norm, skipinit=skipinit, batch_size=setting.batch, epochs=epochs,
                       warmup_epochs=warmup, protocol="paper", max_steps=max_steps, probe_every=0, device=device)


def check_options(norms, panels, batches, seeds) -> None:
    for norm in norms:
        check_name(norm)
    bad = [p for p in panels if p not in PANELS]
    if bad:
        raise ValueError(f"--archs: unknown {', '.join(bad)}; choose from {', '.join(PANELS)}")
    if not norms or not panels or not batches:
        raise ValueError("--norms, --archs and --batches each need at least one value")
    if any(b < 1 for b in batches) or seeds < 1:
        raise ValueError(f"--batches must be >= 1 and --seeds >= 1, got {list(batches)} and {seeds}")


def search_lr(setting: Setting, config, data, out, *, grid, steps: int, progress: bool) -> dict:
    """The largest stable ``init_lr`` of ``setting`` (resumable, in ``<setting>/lr_search``)."""
    steps_per_epoch = data.x_train.shape[0] // setting.batch
    warm = int(round(config.warmup_epochs * steps_per_epoch))
    result = find_max_lr(config, data, setting.folder(out) / "lr_search", lrs=grid, steps=steps + warm)
    if result["init_lr"] is None:
        return {"init_lr": min(grid or schedule.PAPER_INIT_LR_GRID), "stable": False, "tried": result["tried"]}
    return {"init_lr": result["init_lr"], "stable": True, "tried": result["tried"]}


def run_grid(data, out, *, norms=NORMS, panels=tuple(PANELS), batches=BATCHES, seeds: int = 3, epochs=None,
             max_steps=None, search_steps: int = 60, grid=None, device: str = "auto", progress: bool = True,
             train_fn=None) -> list[dict]:
    """Train every run of the grid not finished yet; returns one row per run."""
    train_fn = train_fn or training.train  # looked up when called (the tests replace it)
    check_options(norms, panels, batches, seeds)
    settings = [Setting(n, p, b) for p in panels for n in norms for b in batches]
    runs = [(s, seed) for s in settings for seed in range(seeds)]
    done = sum((s.folder(out) / f"seed_{seed}" / SUMMARY).exists() for s, seed in runs)
    bar = tqdm(total=len(runs), initial=done, desc="figure1 runs", unit="run", disable=not progress)
    rows = []
    for setting in settings:
        config = base_config(setting, epochs=epochs, max_steps=max_steps, device=device)
        pending = [seed for seed in range(seeds) if not (setting.folder(out) / f"seed_{seed}" / SUMMARY).exists()]
        found = None
        if pending:
            bar.set_postfix_str(f"{setting.panel} {setting.norm} B={setting.batch}: LR search")
            found = search_lr(setting, config, data, out, grid=grid, steps=search_steps, progress=False)
        for seed in range(seeds):
            folder = setting.folder(out) / f"seed_{seed}"
            if seed in pending:
                bar.set_postfix_str(f"{setting.panel} {setting.norm} B={setting.batch} seed {seed}")
                cfg = replace(config, seed=seed, init_lr=found["init_lr"])
                result = train_fn(cfg, data, folder, resume=True, progress=False)
                atomic_write_json(folder / SUMMARY, {**result, "init_lr": found["init_lr"], "lr": cfg.initial_lr(),
                                                     "stable_lr_found": found["stable"]})
                (folder / "checkpoint.pt").unlink(missing_ok=True)  # never resumed again: free the disk
                bar.update(1)
            summary = read_json(folder / SUMMARY, hint=f"delete it to train {folder} again")
            rows.append({"panel": setting.panel, "norm": setting.norm, "batch": setting.batch, "seed": seed,
                         "init_lr": summary.get("init_lr"), "lr": summary.get("lr"), "status": summary.get("status"),
                         "epochs": summary.get("epoch", -1) + 1, "train_loss": summary.get("train_loss")})
    bar.close()
    return rows


def prepare_data(dataset: str, data_dir, *, synthetic: int | None = None):
    """The data of the grid, normalized as the paper's code does (mean and std 0.5); with
    ``synthetic`` (a number of training images) a stand-in in the CIFAR-100 pickle format is
    first written to ``data_dir`` (marked, so that real data there is never overwritten)."""
    if synthetic is not None:
        if dataset != "cifar100" or data_dir is None:
            raise ValueError("--synthetic writes CIFAR-100-format data: it needs --dataset cifar100 and --data-dir")
        folder = Path(data_dir) / "cifar-100-python"
        marker = Path(data_dir) / "SYNTHETIC"
        if folder.exists() and not marker.exists():
            raise ValueError(f"--synthetic: {folder} already holds data not written by --synthetic; "
                             f"use another --data-dir")
        if not marker.exists() or marker.read_text().strip() != str(synthetic):
            write_synthetic_cifar100(data_dir, n_train=synthetic, n_test=max(synthetic // 2, 1))
            marker.write_text(f"{synthetic}\n")
    return load_dataset(dataset, data_dir, normalize="half")
